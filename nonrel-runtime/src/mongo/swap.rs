//! Compare-and-set writes ([`Backend::swap`](crate::backend::Backend::swap)) for maintenance beside
//! live writes: the filter of each write holds the whole document as it was read
//! (`$expr: {$eq: ["$$ROOT", {$literal: ...}]}`), so a record a concurrent write changed
//! matches nothing and is left alone. One `update` (or `delete`) command per batch; only when
//! it matched fewer records than it carried are the records read again to say which changed.

use super::write::{check_reply, raw};
use super::{driver, Mongo};
use crate::backend::{SwapItem, Swapped};
use crate::core::codec::{self, begin_document, end_document, header, Encode, IndexName};
use crate::error::Result;
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;

/// Most statements in one command.
const BATCH: usize = 500;

/// `{_id: key, $expr: {$eq: ["$$ROOT", {$literal: <the document as read, _id first>}]}}`.
fn filter(out: &mut Vec<u8>, name: &[u8], key: &KeyValue, expected: &[u8]) -> Result<()> {
    header(out, codec::DOCUMENT, name);
    let q = begin_document(out);
    key.encode(b"_id\0", out)?;
    header(out, codec::DOCUMENT, b"$expr\0");
    let expr = begin_document(out);
    header(out, codec::ARRAY, b"$eq\0");
    let args = begin_document(out);
    "$$ROOT".encode(b"0\0", out)?;
    header(out, codec::DOCUMENT, b"1\0");
    let literal = begin_document(out);
    header(out, codec::DOCUMENT, b"$literal\0");
    let root = begin_document(out);
    key.encode(b"_id\0", out)?;
    // The document's elements, as stored after the `_id`.
    out.extend_from_slice(&expected[4..expected.len() - 1]);
    end_document(out, root)?;
    end_document(out, literal)?;
    end_document(out, args)?;
    end_document(out, expr)?;
    end_document(out, q)
}

/// The `update` command writing each item whose record still holds its expected document;
/// `u` `$set`s the fields (unknown fields survive) or replaces the document when the
/// model keeps unknown fields itself.
fn update_command(model: &ModelDesc, items: &[(&SwapItem, &[u8])]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(items.iter().map(|(i, d)| i.expected.len() + d.len() + 96).sum::<usize>());
    let start = begin_document(&mut out);
    model.collection.encode(b"update\0", &mut out)?;
    header(&mut out, codec::ARRAY, b"updates\0");
    let list = begin_document(&mut out);
    for (i, (item, doc)) in items.iter().enumerate() {
        header(&mut out, codec::DOCUMENT, IndexName::new(i).as_bytes());
        let statement = begin_document(&mut out);
        filter(&mut out, b"q\0", &item.key, &item.expected)?;
        super::write::replacement_or_set(&mut out, doc, model.has_extra)?;
        false.encode(b"upsert\0", &mut out)?;
        end_document(&mut out, statement)?;
    }
    end_document(&mut out, list)?;
    false.encode(b"ordered\0", &mut out)?;
    end_document(&mut out, start)?;
    Ok(out)
}

/// The `delete` command removing each item whose record still holds its expected document.
fn delete_command(model: &ModelDesc, items: &[&SwapItem]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(items.iter().map(|i| i.expected.len() + 96).sum::<usize>());
    let start = begin_document(&mut out);
    model.collection.encode(b"delete\0", &mut out)?;
    header(&mut out, codec::ARRAY, b"deletes\0");
    let list = begin_document(&mut out);
    for (i, item) in items.iter().enumerate() {
        header(&mut out, codec::DOCUMENT, IndexName::new(i).as_bytes());
        let statement = begin_document(&mut out);
        filter(&mut out, b"q\0", &item.key, &item.expected)?;
        1i32.encode(b"limit\0", &mut out)?;
        end_document(&mut out, statement)?;
    }
    end_document(&mut out, list)?;
    false.encode(b"ordered\0", &mut out)?;
    end_document(&mut out, start)?;
    Ok(out)
}

/// Runs one command; returns how many records it matched (`n`).
async fn run(mongo: &Mongo, model: &'static ModelDesc, command: Vec<u8>) -> Result<usize> {
    let reply = mongo.db.run_raw_command(raw(command)?).await.map_err(|e| driver(e, "writing records"))?;
    check_reply(&reply, model, &[], 0).map_err(crate::error::Error::without_item)?;
    let n = reply.get("n").and_then(|v| v.as_i32().map(i64::from).or_else(|| v.as_i64())).unwrap_or(0);
    Ok(n as usize)
}

/// Compare-and-set writes of `items`, in batches.
pub(super) async fn swap(mongo: &Mongo, model: &'static ModelDesc, items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(BATCH) {
        let writes: Vec<(&SwapItem, &[u8])> = chunk.iter().filter_map(|i| i.doc.as_deref().map(|d| (i, d))).collect();
        let deletes: Vec<&SwapItem> = chunk.iter().filter(|i| i.doc.is_none()).collect();
        let mut matched = 0;
        if !writes.is_empty() {
            matched += run(mongo, model, update_command(model, &writes)?).await?;
        }
        if !deletes.is_empty() {
            matched += run(mongo, model, delete_command(model, &deletes)?).await?;
        }
        if matched == chunk.len() {
            out.extend(chunk.iter().map(|_| Swapped::Written));
            continue;
        }
        // Some records had changed: which ones is not in the reply, so read them. A record
        // that now differs from what was read is reported changed (even when this write made
        // the difference: the caller recomputes from it, and writing it again is harmless).
        let keys: Vec<KeyValue> = chunk.iter().map(|i| i.key.clone()).collect();
        let now = mongo.find_keys(model, keys, None).await?;
        for (item, now) in chunk.iter().zip(now) {
            out.push(match now {
                None if item.doc.is_none() => Swapped::Written,
                None => Swapped::Missing,
                Some(doc) => Swapped::Changed(doc),
            });
        }
    }
    Ok(out)
}
