//! Batched writes as raw `update` and `insert` commands, and their errors.

use super::{convert, driver, pipeline, Mongo};
use crate::backend::{UpdateKind, UpdateOp, WriteMode};
use crate::core::codec::{self, begin_document, end_document, header, Encode, IndexName};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;
use bson::{Document, RawDocumentBuf};

/// Most statements in one command, and most bytes of documents (under the 48 MB message).
const BATCH_ITEMS: usize = 1000;
const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Splits items into batches that fit one command.
pub(super) fn batches(items: &[(KeyValue, Vec<u8>)]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (_, doc)) in items.iter().enumerate() {
        if i > start && (i - start >= BATCH_ITEMS || bytes + doc.len() > BATCH_BYTES) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += doc.len();
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

pub(super) async fn put(
    mongo: &Mongo,
    model: &'static ModelDesc,
    items: Vec<(KeyValue, Vec<u8>)>,
    mode: WriteMode,
) -> Result<Vec<KeyValue>> {
    for range in batches(&items) {
        let command = write_command(model, &items[range.clone()], mode)?;
        let reply = mongo.db.run_raw_command(command).await.map_err(|e| driver(e, "writing records"))?;
        check_reply(&reply, model, &items, range.start)?;
    }
    Ok(items.into_iter().map(|(k, _)| k).collect())
}

/// The command writing `items` as `mode` says, ready for the driver.
pub(super) fn write_command(
    model: &ModelDesc,
    items: &[(KeyValue, Vec<u8>)],
    mode: WriteMode,
) -> Result<RawDocumentBuf> {
    raw(match mode {
        WriteMode::Upsert => upsert_command(model, items, false)?,
        WriteMode::Replace => upsert_command(model, items, true)?,
        WriteMode::Insert => insert_command(model, items)?,
    })
}

/// Command bytes as the driver's raw document.
pub(super) fn raw(command: Vec<u8>) -> Result<RawDocumentBuf> {
    RawDocumentBuf::from_bytes(command)
        .map_err(|e| Error::new(ErrorKind::Encode, format!("command rejected by the driver: {e}")))
}

/// `{update: coll, updates: [{q: {_id}, u, upsert: true}], ordered: true}`; `u` replaces the
/// document when the model keeps unknown fields itself, else `$set`s its fields; a document
/// holding embedded models is a pipeline merging them with the stored ones.
fn upsert_command(model: &ModelDesc, items: &[(KeyValue, Vec<u8>)], replace: bool) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(items.iter().map(|(_, d)| d.len() + 64).sum::<usize>() + 64);
    let start = begin_document(&mut out);
    model.collection.encode(b"update\0", &mut out)?;
    header(&mut out, codec::ARRAY, b"updates\0");
    let list = begin_document(&mut out);
    for (i, (key, doc)) in items.iter().enumerate() {
        header(&mut out, codec::DOCUMENT, IndexName::new(i).as_bytes());
        let statement = begin_document(&mut out);
        header(&mut out, codec::DOCUMENT, b"q\0");
        let q = begin_document(&mut out);
        key.encode(b"_id\0", &mut out)?;
        end_document(&mut out, q)?;
        if !replace && pipeline::needs_merge(model.fields, doc)? {
            let fields = Value::fields_of(&convert::with_id(doc.clone(), key)?)?;
            pipeline::save(model.fields, model.has_extra, fields).encode(b"u\0", &mut out)?;
            true.encode(b"upsert\0", &mut out)?;
            end_document(&mut out, statement)?;
            continue;
        }
        replacement_or_set(&mut out, doc, model.has_extra || replace)?;
        true.encode(b"upsert\0", &mut out)?;
        end_document(&mut out, statement)?;
    }
    end_document(&mut out, list)?;
    true.encode(b"ordered\0", &mut out)?;
    end_document(&mut out, start)?;
    Ok(out)
}

/// A statement's `u`: the document itself (a replacement) when `replace` or when it has no
/// fields, else `{$set: doc}`, so fields other programs wrote survive.
pub(super) fn replacement_or_set(out: &mut Vec<u8>, doc: &[u8], replace: bool) -> Result<()> {
    header(out, codec::DOCUMENT, b"u\0");
    if replace || !convert::has_fields(doc) {
        out.extend_from_slice(doc);
    } else {
        let u = begin_document(out);
        header(out, codec::DOCUMENT, b"$set\0");
        out.extend_from_slice(doc);
        end_document(out, u)?;
    }
    Ok(())
}

/// `{insert: coll, documents: [...], ordered: true}`.
fn insert_command(model: &ModelDesc, items: &[(KeyValue, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(items.iter().map(|(_, d)| d.len() + 32).sum::<usize>() + 64);
    let start = begin_document(&mut out);
    model.collection.encode(b"insert\0", &mut out)?;
    header(&mut out, codec::ARRAY, b"documents\0");
    let list = begin_document(&mut out);
    for (i, (key, doc)) in items.iter().enumerate() {
        header(&mut out, codec::DOCUMENT, IndexName::new(i).as_bytes());
        out.extend_from_slice(&convert::with_id(doc.clone(), key)?);
    }
    end_document(&mut out, list)?;
    true.encode(b"ordered\0", &mut out)?;
    end_document(&mut out, start)?;
    Ok(out)
}

/// Turns the first write error of a reply into an error naming the failed item.
pub(super) fn check_reply(
    reply: &Document,
    model: &'static ModelDesc,
    items: &[(KeyValue, Vec<u8>)],
    offset: usize,
) -> Result<()> {
    let Ok(errors) = reply.get_array("writeErrors") else { return Ok(()) };
    let Some(first) = errors.iter().find_map(|e| e.as_document()) else { return Ok(()) };
    let index = first.get_i32("index").map_or(0, |i| i as usize) + offset;
    let code = first.get_i32("code").unwrap_or(0);
    let message = first.get_str("errmsg").unwrap_or("write failed");
    let err = error_for_code(code, message, model);
    let err = match items.get(index) {
        Some((key, _)) => err.with_key(key),
        None => err,
    };
    Err(err.with_item(index))
}

/// A duplicate-key error as nonrel's, naming the unique field and value.
fn error_for_code(code: i32, message: &str, model: &'static ModelDesc) -> Error {
    if code != 11000 && code != 11001 {
        return Error::new(ErrorKind::Storage, format!("MongoDB rejected the write: {message}")).with_model(model.name);
    }
    let index = message.split("index: ").nth(1).and_then(|s| s.split_whitespace().next()).unwrap_or("");
    if index == "_id_" || index.is_empty() {
        return Error::new(ErrorKind::DuplicateKey, "a record with this key already exists").with_model(model.name);
    }
    let value = message.split("dup key: ").nth(1).map(|s| {
        let s = s.trim().trim_start_matches('{').trim_end_matches('}').trim();
        s.split_once(": ").map_or(s, |(_, v)| v).to_string()
    });
    let value = value.unwrap_or_else(|| "?".into());
    let msg = format!("value {value} of unique field `{index}` already belongs to another record");
    Error::new(ErrorKind::UniqueViolation, msg).with_model(model.name).with_field(index)
}

/// Runs update operations on every record a filter matches as one raw `update` command
/// (`multi: true`); returns the matched and modified counts. Updates with `inc` are a
/// pipeline (a stored null counts as 0, which `$inc` refuses); the others use update
/// operators.
pub(super) async fn update(
    mongo: &Mongo,
    model: &'static ModelDesc,
    plan: &crate::plan::Plan,
    ops: &[UpdateOp],
) -> Result<(u64, u64)> {
    update_in(mongo, None, model, plan, ops).await
}

/// [`update`], in a session's transaction when given one (a write conflict is then a
/// conflict).
pub(super) async fn update_in(
    mongo: &Mongo,
    session: Option<&mut mongodb::ClientSession>,
    model: &'static ModelDesc,
    plan: &crate::plan::Plan,
    ops: &[UpdateOp],
) -> Result<(u64, u64)> {
    let pipeline = pipeline::needs_pipeline(ops);
    let mut out = Vec::with_capacity(256);
    let start = begin_document(&mut out);
    model.collection.encode(b"update\0", &mut out)?;
    header(&mut out, codec::ARRAY, b"updates\0");
    let list = begin_document(&mut out);
    header(&mut out, codec::DOCUMENT, b"0\0");
    let statement = begin_document(&mut out);
    if !encode_equalities(&plan.filters, &mut out)? {
        convert::filter_value(&plan.filters).encode(b"q\0", &mut out)?;
    }
    if pipeline {
        pipeline::update(ops).encode(b"u\0", &mut out)?;
    } else {
        encode_update(ops, &mut out)?;
    }
    true.encode(b"multi\0", &mut out)?;
    end_document(&mut out, statement)?;
    end_document(&mut out, list)?;
    true.encode(b"ordered\0", &mut out)?;
    end_document(&mut out, start)?;
    let command = mongo.db.run_raw_command(raw(out)?);
    let reply = match session {
        None => command.await.map_err(|e| driver(e, "updating records")),
        Some(s) => match command.session(s).await {
            Ok(reply) => super::session::reply_conflict(&reply, model).map_or(Ok(reply), Err),
            Err(e) => Err(super::session::tx_error(e, model, "updating records")),
        },
    };
    let checked = reply.and_then(|r| check_reply(&r, model, &[], 0).map_err(Error::without_item).map(|_| r));
    let reply = match checked {
        Ok(reply) => reply,
        Err(e) if pipeline && e.kind() != ErrorKind::Conflict => {
            // Boxed: a rare path, kept out of every update's future.
            return Err(Box::pin(pipeline::inc_failure(mongo, model, plan, ops)).await?.unwrap_or(e));
        }
        Err(e) => return Err(e),
    };
    let count = |name| reply.get(name).and_then(|v| v.as_i32().map(i64::from).or_else(|| v.as_i64())).unwrap_or(0);
    Ok((count("n") as u64, count("nModified") as u64))
}

/// Writes the filter `q` of an update whose conditions are each an equality on a path of its
/// own (an update by a unique field, say) straight into the command: the bytes
/// [`convert::filter_value`] encodes to, `{<path>: {$eq: <value>}, ...}`, without building
/// and copying that value first. `false` (nothing written) for other filters.
fn encode_equalities(filters: &[crate::plan::Filter], out: &mut Vec<u8>) -> Result<bool> {
    use crate::plan::Op;
    let equality = |f: &crate::plan::Filter| matches!(f.op, Op::Eq(_) | Op::Has(_));
    let repeated = |i: usize| filters[..i].iter().any(|g| g.path == filters[i].path);
    if filters.is_empty() || !filters.iter().all(equality) || (0..filters.len()).any(repeated) {
        return Ok(false);
    }
    header(out, codec::DOCUMENT, b"q\0");
    let q = begin_document(out);
    for f in filters {
        let (Op::Eq(v) | Op::Has(v)) = &f.op else { unreachable!("only equalities pass") };
        let at = |e: Error| e.with_field(&f.path);
        header(out, codec::DOCUMENT, &codec::cname(&f.path).map_err(at)?);
        let condition = begin_document(out);
        v.encode(b"$eq\0", out).map_err(|e| at(e.with_field("$eq")))?;
        end_document(out, condition).map_err(at)?;
    }
    end_document(out, q)?;
    Ok(true)
}

/// Writes the update document `u` (update operators, no pipeline) straight into the command:
/// the bytes of [`update_value`] without building and copying that value first.
fn encode_update(ops: &[UpdateOp], out: &mut Vec<u8>) -> Result<()> {
    header(out, codec::DOCUMENT, b"u\0");
    let u = begin_document(out);
    let kinds = [UpdateKind::Set, UpdateKind::Inc, UpdateKind::Push, UpdateKind::Pull];
    // The groups in the order of their first operation, as `update_value` makes them.
    let mut order: Vec<UpdateKind> = Vec::with_capacity(kinds.len());
    for op in ops {
        if !order.contains(&op.kind) {
            order.push(op.kind);
        }
    }
    for kind in order {
        let name: &[u8] = match kind {
            UpdateKind::Set => b"$set\0",
            UpdateKind::Inc => b"$inc\0",
            UpdateKind::Push => b"$push\0",
            UpdateKind::Pull => b"$pull\0",
        };
        header(out, codec::DOCUMENT, name);
        let group = begin_document(out);
        let at = |e: Error| e.with_field(std::str::from_utf8(&name[..name.len() - 1]).unwrap_or_default());
        for op in ops.iter().filter(|op| op.kind == kind) {
            let field = |e: Error| at(e.with_field(&op.path));
            let path = codec::cname(&op.path).map_err(field)?;
            match kind {
                UpdateKind::Set | UpdateKind::Inc => op.value.encode(&path, out),
                _ => operand(kind, &op.value).encode(&path, out),
            }
            .map_err(field)?;
        }
        end_document(out, group).map_err(at)?;
    }
    end_document(out, u)
}

/// `{$set: {...}, $inc: {...}, $push: {...}, $pull: {...}}` from update operations (the
/// value [`encode_update`] writes directly).
#[cfg(test)]
fn update_value(ops: &[UpdateOp]) -> Value {
    let mut groups: Vec<(String, Vec<(String, Value)>)> = Vec::new();
    for op in ops {
        let name = match op.kind {
            UpdateKind::Set => "$set",
            UpdateKind::Inc => "$inc",
            UpdateKind::Push => "$push",
            UpdateKind::Pull => "$pull",
        };
        let field = (op.path.to_string(), operand(op.kind, &op.value));
        match groups.iter_mut().find(|(n, _)| n == name) {
            Some((_, fields)) => fields.push(field),
            None => groups.push((name.into(), vec![field])),
        }
    }
    Value::Document(groups.into_iter().map(|(n, f)| (n, Value::Document(f))).collect())
}

/// An update operation's value as its operator takes it literally: `$push` of `{$each: [v]}`
/// (a document of `$` keys would be read as modifiers), `$pull` of a document or regular
/// expression as `{$eq: v}` (bare, they would be a condition or a pattern).
fn operand(kind: UpdateKind, v: &Value) -> Value {
    let wrap = |name: &str, v: Value| Value::Document(vec![(name.into(), v)]);
    match kind {
        UpdateKind::Push => wrap("$each", Value::Array(vec![v.clone()])),
        UpdateKind::Pull if matches!(v, Value::Document(_) | Value::Raw(0x0B, _)) => wrap("$eq", v.clone()),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Filter, Op};

    fn filter(path: &'static str, op: Op) -> Filter {
        Filter { path: path.into(), op }
    }

    fn values() -> Vec<Value> {
        vec![
            Value::String("sku-1".into()),
            Value::Int64(-3),
            Value::Null,
            Value::Document(vec![("$ne".into(), Value::Int32(7))]),
            Value::Array(vec![Value::Bool(true), Value::Double(0.5)]),
            Value::Raw(0x0B, b"^a\0\0".to_vec()),
        ]
    }

    /// The directly written filter is byte for byte the encoded filter value, for every
    /// equality filter list; other filters are left to the value.
    #[test]
    fn equalities_are_written_as_the_filter_value_encodes() {
        let paths = ["sku", "a.b", "tags"];
        for (i, v) in values().into_iter().enumerate() {
            for n in 1..=paths.len() {
                let filters: Vec<Filter> = paths[..n]
                    .iter()
                    .enumerate()
                    .map(|(j, p)| filter(p, if (i + j) % 2 == 0 { Op::Eq(v.clone()) } else { Op::Has(v.clone()) }))
                    .collect();
                let (mut direct, mut oracle) = (Vec::new(), Vec::new());
                assert!(encode_equalities(&filters, &mut direct).unwrap());
                convert::filter_value(&filters).encode(b"q\0", &mut oracle).unwrap();
                assert_eq!(direct, oracle, "{filters:?}");
            }
        }
        let repeated = [filter("sku", Op::Eq(Value::Int32(1))), filter("sku", Op::Eq(Value::Int32(2)))];
        let ranged = [filter("sku", Op::Eq(Value::Int32(1))), filter("n", Op::Gt(Value::Int32(2)))];
        for other in [&repeated[..], &ranged[..], &[]] {
            let mut out = Vec::new();
            assert!(!encode_equalities(other, &mut out).unwrap());
            assert!(out.is_empty());
        }
    }

    /// The directly written update document is byte for byte the encoded update value, for
    /// every mix and order of operations.
    #[test]
    fn updates_are_written_as_the_update_value_encodes() {
        let kinds = [UpdateKind::Set, UpdateKind::Inc, UpdateKind::Push, UpdateKind::Pull];
        let values = values();
        for seed in 0..64usize {
            let ops: Vec<UpdateOp> = (0..1 + seed % 5)
                .map(|i| UpdateOp {
                    path: ["a", "b.c", "d", "e"][(seed + i) % 4].into(),
                    kind: kinds[(seed / 4 + i * 3) % 4],
                    value: values[(seed + 2 * i) % values.len()].clone(),
                })
                .collect();
            let (mut direct, mut oracle) = (Vec::new(), Vec::new());
            encode_update(&ops, &mut direct).unwrap();
            update_value(&ops).encode(b"u\0", &mut oracle).unwrap();
            assert_eq!(direct, oracle, "{ops:?}");
        }
    }
}
