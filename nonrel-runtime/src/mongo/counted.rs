//! Writes through a collection that keeps counters (`collection_counters` not empty), each
//! one session transaction that writes the records and their counters together (see
//! [`counter`](super::counter)): the documents a write replaces or deletes are read first
//! (one `find` by `_id` per batch, only the counted fields; an insert reads nothing), then
//! the records are written, then every group a record moved into or out of is changed by one
//! `update` of upserting `$inc`s, then the transaction commits. A conflict with a concurrent
//! transaction starts the whole write again, after a random pause.
//!
//! A save of one record is thus four commands (read, write, `$inc`, commit) where a save
//! through a collection without counters is one; an insert is three; an update by query that
//! cannot change a counted field two (the native update, commit). The same steps run in
//! the session of a `db.transaction`, committed with it.

use super::counter::Tally;
use super::session::{finish, reply_conflict, tx_error, ATTEMPTS, PAUSE_CEILING};
use super::{convert, write, Mongo};
use crate::backend::capability::Transactions;
use crate::backend::retry::backoff;
use crate::backend::{SwapItem, Swapped, UpdateOp, WriteMode};
use crate::core::codec::{begin_document, end_document, Elements};
use crate::error::{ErrorKind, Result};
use crate::plan::Plan;
use crate::schema::counter::{collection_counters, CounterDesc};
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;
use bson::Document;
use mongodb::ClientSession;
use std::collections::HashMap;

/// Most records read or deleted by one command.
const BATCH: usize = 1000;

/// The counters a write through `m` keeps, or `None` when it keeps none (then the write
/// takes the backend's plain path, one command per batch).
pub(super) fn counters_of(m: &'static ModelDesc) -> Option<Vec<&'static CounterDesc>> {
    let list = collection_counters(m);
    (!list.is_empty()).then_some(list)
}

/// Runs `$body` (using the session `$s`) in a transaction, committed when it succeeds and
/// started again on a conflict.
macro_rules! in_transaction {
    ($mongo:expr, |$s:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            let mut $s = $mongo.begin().await?;
            let outcome = $body;
            match finish($mongo, $s, outcome).await {
                Ok(value) => break Ok(value),
                Err(e) if e.kind() == ErrorKind::Conflict && attempt < ATTEMPTS => {
                    attempt += 1;
                    backoff(attempt, PAUSE_CEILING, std::time::Duration::ZERO).await;
                }
                Err(e) => break Err(e),
            }
        }
    }};
}

/// A counted `put`.
pub(super) async fn put(
    mongo: &Mongo,
    m: &'static ModelDesc,
    counters: Vec<&'static CounterDesc>,
    items: Vec<(KeyValue, Vec<u8>)>,
    mode: WriteMode,
) -> Result<Vec<KeyValue>> {
    in_transaction!(mongo, |s| put_in(mongo, &mut s.session, m, &counters, &items, mode).await)?;
    Ok(items.into_iter().map(|(k, _)| k).collect())
}

/// A counted `delete`; how many records existed.
pub(super) async fn delete(
    mongo: &Mongo,
    m: &'static ModelDesc,
    counters: Vec<&'static CounterDesc>,
    keys: Vec<KeyValue>,
) -> Result<u64> {
    in_transaction!(mongo, |s| delete_in(mongo, &mut s.session, m, &counters, &keys).await)
}

/// A counted compare-and-set: the records are read in the transaction and compared there,
/// so a concurrent change is either in what was read or a conflict.
pub(super) async fn swap(
    mongo: &Mongo,
    m: &'static ModelDesc,
    counters: Vec<&'static CounterDesc>,
    items: Vec<SwapItem>,
) -> Result<Vec<Swapped>> {
    in_transaction!(mongo, |s| swap_in(mongo, &mut s.session, m, &counters, &items).await)
}

/// A counted update by query: the matched records' counted fields are read before and after
/// the native update, all in the transaction. An update that cannot change a counted field is
/// the native update alone, still in a transaction: a multi-document write outside one beside
/// the transactions of the other writes is what a server must order against them, and some
/// MongoDB-compatible servers wait on both sides instead of failing one with a write conflict.
pub(super) async fn update(
    mongo: &Mongo,
    m: &'static ModelDesc,
    counters: Vec<&'static CounterDesc>,
    plan: &Plan,
    ops: &[UpdateOp],
) -> Result<(u64, u64)> {
    in_transaction!(mongo, |s| update_in(mongo, &mut s.session, m, &counters, plan, ops).await)
}

/// Whether an update operation may change a counted field: it writes the field, a field
/// inside it, or a document holding it.
fn touches(counters: &[&'static CounterDesc], ops: &[UpdateOp]) -> bool {
    let overlaps = |a: &str, b: &str| {
        a == b
            || a.strip_prefix(b).is_some_and(|rest| rest.starts_with('.'))
            || b.strip_prefix(a).is_some_and(|rest| rest.starts_with('.'))
    };
    ops.iter().any(|op| counters.iter().any(|c| c.fields.iter().any(|f| overlaps(f, &op.path))))
}

/// The stored documents (their counted fields only, with `projection`) of `keys`, read in `s`.
async fn stored(
    mongo: &Mongo,
    s: &mut ClientSession,
    m: &'static ModelDesc,
    filter: Document,
    projection: Option<Document>,
) -> Result<HashMap<KeyValue, Vec<u8>>> {
    let coll = mongo.raw_collection(m);
    let mut find = coll.find(filter);
    if let Some(p) = projection {
        find = find.projection(p);
    }
    let reading = "reading the records a write replaces";
    let mut cursor = find.session(&mut *s).await.map_err(|e| tx_error(e, m, reading))?;
    let mut out = HashMap::new();
    while cursor.advance(&mut *s).await.map_err(|e| tx_error(e, m, reading))? {
        let row = convert::row(cursor.current().as_bytes())?;
        out.insert(row.key.expect("a row has a key"), row.doc);
    }
    Ok(out)
}

/// The document a save leaves stored over `old`: `new` replacing it (the model keeps unknown
/// fields itself, or the mode says so), else `new` `$set` over it, with embedded models merged.
fn stored_after(m: &ModelDesc, old: &[u8], new: &[u8], mode: WriteMode) -> Result<Vec<u8>> {
    if mode == WriteMode::Replace || m.has_extra {
        return Ok(new.to_vec());
    }
    let merged = crate::plan::eval::keep_unknown(m, old, new)?;
    // `$set` also keeps a known field the new document leaves out.
    let mut names = Vec::new();
    for el in Elements::new(&merged)? {
        names.push(el?.name.to_vec());
    }
    let kept: Vec<Vec<u8>> = Elements::new(old)?
        .filter_map(|el| el.ok())
        .filter(|el| !names.iter().any(|n| n.as_slice() == el.name))
        .map(|el| el.raw.to_vec())
        .collect();
    if kept.is_empty() {
        return Ok(merged);
    }
    let mut out = Vec::with_capacity(merged.len() + kept.iter().map(Vec::len).sum::<usize>());
    let start = begin_document(&mut out);
    out.extend_from_slice(&merged[4..merged.len() - 1]);
    kept.iter().for_each(|raw| out.extend_from_slice(raw));
    end_document(&mut out, start)?;
    Ok(out)
}

/// Runs a write command in `s`; a write conflict in its reply is a conflict.
async fn run(
    mongo: &Mongo,
    s: &mut ClientSession,
    m: &'static ModelDesc,
    command: bson::RawDocumentBuf,
    items: &[(KeyValue, Vec<u8>)],
    offset: usize,
) -> Result<Document> {
    let reply =
        mongo.db.run_raw_command(command).session(&mut *s).await.map_err(|e| tx_error(e, m, "writing records"))?;
    if let Some(conflict) = reply_conflict(&reply, m) {
        return Err(conflict);
    }
    write::check_reply(&reply, m, items, offset)?;
    Ok(reply)
}

/// The steps of a counted `put` in `s`, not committed.
pub(super) async fn put_in(
    mongo: &Mongo,
    s: &mut ClientSession,
    m: &'static ModelDesc,
    counters: &[&'static CounterDesc],
    items: &[(KeyValue, Vec<u8>)],
    mode: WriteMode,
) -> Result<()> {
    let mut tally = Tally::new(m, counters.to_vec());
    for range in write::batches(items) {
        let batch = &items[range.clone()];
        let mut current = if mode == WriteMode::Insert {
            HashMap::new()
        } else {
            let keys: Vec<KeyValue> = batch.iter().map(|(k, _)| k.clone()).collect();
            stored(mongo, s, m, convert::keys_filter(&keys)?, Some(tally.projection())).await?
        };
        run(mongo, s, m, write::write_command(m, batch, mode)?, items, range.start).await?;
        for (key, doc) in batch {
            let old = current.remove(key);
            let after = match &old {
                Some(old) => stored_after(m, old, doc, mode)?,
                None => doc.clone(),
            };
            tally.add(old.as_deref(), Some(&after))?;
            current.insert(key.clone(), after);
        }
    }
    tally.apply(mongo, s, m).await
}

/// The steps of a counted `delete` in `s`, not committed; how many records existed.
pub(super) async fn delete_in(
    mongo: &Mongo,
    s: &mut ClientSession,
    m: &'static ModelDesc,
    counters: &[&'static CounterDesc],
    keys: &[KeyValue],
) -> Result<u64> {
    let mut tally = Tally::new(m, counters.to_vec());
    let mut deleted = 0;
    for chunk in keys.chunks(BATCH) {
        let filter = convert::keys_filter(chunk)?;
        let current = stored(mongo, s, m, filter.clone(), Some(tally.projection())).await?;
        let done = mongo
            .raw_collection(m)
            .delete_many(filter)
            .session(&mut *s)
            .await
            .map_err(|e| tx_error(e, m, "deleting records"))?;
        deleted += done.deleted_count;
        for old in current.values() {
            tally.add(Some(old), None)?;
        }
    }
    tally.apply(mongo, s, m).await?;
    Ok(deleted)
}

/// The steps of a counted compare-and-set in `s`, not committed.
async fn swap_in(
    mongo: &Mongo,
    s: &mut ClientSession,
    m: &'static ModelDesc,
    counters: &[&'static CounterDesc],
    items: &[SwapItem],
) -> Result<Vec<Swapped>> {
    let mut tally = Tally::new(m, counters.to_vec());
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(BATCH) {
        let keys: Vec<KeyValue> = chunk.iter().map(|i| i.key.clone()).collect();
        let mut current = stored(mongo, s, m, convert::keys_filter(&keys)?, None).await?;
        let (mut puts, mut deletes) = (Vec::new(), Vec::new());
        for item in chunk {
            let outcome = match (current.get(&item.key), &item.doc) {
                (None, None) => Swapped::Written,
                (None, Some(_)) => Swapped::Missing,
                (Some(now), _) if *now != item.expected => Swapped::Changed(now.clone()),
                (Some(now), Some(doc)) => {
                    let after = stored_after(m, now, doc, WriteMode::Upsert)?;
                    tally.add(Some(now), Some(&after))?;
                    current.insert(item.key.clone(), after);
                    puts.push((item.key.clone(), doc.clone()));
                    Swapped::Written
                }
                (Some(now), None) => {
                    tally.add(Some(now), None)?;
                    current.remove(&item.key);
                    deletes.push(item.key.clone());
                    Swapped::Written
                }
            };
            out.push(outcome);
        }
        if !puts.is_empty() {
            run(mongo, s, m, write::write_command(m, &puts, WriteMode::Upsert)?, &puts, 0).await?;
        }
        if !deletes.is_empty() {
            let filter = convert::keys_filter(&deletes)?;
            let coll = mongo.raw_collection(m);
            coll.delete_many(filter).session(&mut *s).await.map_err(|e| tx_error(e, m, "deleting records"))?;
        }
    }
    tally.apply(mongo, s, m).await?;
    Ok(out)
}

/// The steps of a counted update by query in `s`, not committed.
async fn update_in(
    mongo: &Mongo,
    s: &mut ClientSession,
    m: &'static ModelDesc,
    counters: &[&'static CounterDesc],
    plan: &Plan,
    ops: &[UpdateOp],
) -> Result<(u64, u64)> {
    if !touches(counters, ops) {
        return write::update_in(mongo, Some(&mut *s), m, plan, ops).await;
    }
    let mut tally = Tally::new(m, counters.to_vec());
    let before = stored(mongo, s, m, convert::filter(&plan.filters)?, Some(tally.projection())).await?;
    let counts = write::update_in(mongo, Some(&mut *s), m, plan, ops).await?;
    let keys: Vec<KeyValue> = before.keys().cloned().collect();
    for chunk in keys.chunks(BATCH) {
        let after = stored(mongo, s, m, convert::keys_filter(chunk)?, Some(tally.projection())).await?;
        for key in chunk {
            tally.add(before.get(key).map(Vec::as_slice), after.get(key).map(Vec::as_slice))?;
        }
    }
    tally.apply(mongo, s, m).await?;
    Ok(counts)
}
