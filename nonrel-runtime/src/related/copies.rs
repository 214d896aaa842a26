//! Denormalized copies (F15): written at save, kept current when the related record
//! changes, checked by `integrity_check` and refreshed by `rebuild_indexes`.
//!
//! A copy lives in the holder's stored document under a reserved name
//! (`_dn_<reference>_<field>`), with an index, so a lookup across the `Ref` is one indexed
//! query on the holder. The generated encoder knows nothing of copies: they are added to
//! the encoded document here, from one batched read of the related records per save.

use super::{copies_held_by, copies_of, CopyDesc};
use crate::backend::{Backend, IntegrityProblem, PutItem, UpdateKind, UpdateOp, WriteMode};
use crate::codec::{begin_document, cname, end_document, Elements, Encode};
use crate::error::{Error, Result};
use crate::key::KeyValue;
use crate::model::ModelDesc;
use crate::query::eval::values_at;
use crate::query::{to_value, Filter, Op, Plan, Projection};
use crate::value::Value;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Records read per batch when a whole collection is checked or refreshed.
const BATCH: usize = 1000;

/// The key a stored `Ref` holds at `path`, if any.
pub(super) fn ref_key(doc: &[u8], path: &str) -> Result<Option<KeyValue>> {
    Ok(match values_at(doc, path)?.into_iter().next() {
        Some(Value::Int32(n)) => Some(KeyValue::Int(n.into())),
        Some(Value::Int64(n)) => Some(KeyValue::Int(n)),
        Some(Value::String(s)) => Some(KeyValue::Str(s)),
        Some(Value::ObjectId(o)) => Some(KeyValue::ObjectId(o)),
        _ => None,
    })
}

/// The value a copy of `field` holds for a related document (null when it has none).
fn copied_value(related: Option<&Vec<u8>>, field: &str) -> Result<Value> {
    let Some(doc) = related else { return Ok(Value::Null) };
    Ok(values_at(doc, field)?.into_iter().next().unwrap_or(Value::Null))
}

/// Reads the related records the documents refer to through `reference`, in one batch.
async fn related_docs<B: Backend>(
    backend: &B,
    related: &'static ModelDesc,
    keys: impl Iterator<Item = KeyValue>,
) -> Result<HashMap<KeyValue, Vec<u8>>> {
    let mut seen = HashSet::new();
    let keys: Vec<KeyValue> = keys.filter(|k| seen.insert(k.clone())).collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let docs = backend.get_many(related, keys.clone()).await?;
    Ok(keys.into_iter().zip(docs).filter_map(|(k, d)| d.map(|d| (k, d))).collect())
}

/// The document with `copies` set: earlier values of those names removed, then appended.
fn set_copies(doc: &[u8], copies: &[(&'static str, Value)]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(doc.len() + 32 * copies.len());
    let start = begin_document(&mut out);
    for el in Elements::new(doc)? {
        let el = el?;
        if !copies.iter().any(|(name, _)| name.as_bytes() == el.name) {
            out.extend_from_slice(el.raw);
        }
    }
    for (name, value) in copies {
        value.encode(&cname(name)?, &mut out)?;
    }
    end_document(&mut out, start)?;
    Ok(out)
}

/// Groups copies by the `Ref` they follow, so each related model is read once.
fn by_reference(copies: &[&'static CopyDesc]) -> Vec<(&'static str, &'static ModelDesc, Vec<&'static CopyDesc>)> {
    let mut groups: Vec<(&'static str, &'static ModelDesc, Vec<&'static CopyDesc>)> = Vec::new();
    for c in copies {
        match groups.iter_mut().find(|(r, _, _)| *r == c.reference) {
            Some((_, _, list)) => list.push(c),
            None => groups.push((c.reference, c.related, vec![c])),
        }
    }
    groups
}

/// Writes the declared copies into documents about to be saved: one batched read of the
/// related records per `Ref` for the whole batch.
pub(crate) async fn with_copies<B: Backend>(backend: &B, m: &'static ModelDesc, items: &mut [PutItem]) -> Result<()> {
    let copies: Vec<&'static CopyDesc> = copies_held_by(m).collect();
    if copies.is_empty() {
        return Ok(());
    }
    let mut values: Vec<Vec<(&'static str, Value)>> = vec![Vec::new(); items.len()];
    for (reference, related, group) in by_reference(&copies) {
        let keys: Vec<Option<KeyValue>> = items.iter().map(|i| ref_key(&i.doc, reference)).collect::<Result<_>>()?;
        let docs = related_docs(backend, related, keys.iter().flatten().cloned()).await?;
        for (i, key) in keys.iter().enumerate() {
            let doc = key.as_ref().and_then(|k| docs.get(k));
            for c in &group {
                values[i].push((c.copy, copied_value(doc, c.field)?));
            }
        }
    }
    for (item, copies) in items.iter_mut().zip(values) {
        item.doc = set_copies(&item.doc, &copies).map_err(|e| e.with_model(m.name))?;
    }
    Ok(())
}

/// What a write of related records must bring up to date once it is done.
pub(crate) struct Pending {
    copies: Vec<&'static CopyDesc>,
    docs: Vec<Vec<u8>>,
}

impl Pending {
    /// Keeps the documents being written when other models copy fields of `m`.
    pub(crate) fn new(m: &'static ModelDesc, items: &[PutItem]) -> Pending {
        let copies: Vec<&'static CopyDesc> = copies_of(m).collect();
        let docs = if copies.is_empty() { Vec::new() } else { items.iter().map(|i| i.doc.clone()).collect() };
        Pending { copies, docs }
    }

    /// Brings every copy of the written records up to date (`keys` as the write returned).
    pub(crate) async fn run<B: Backend>(self, backend: &B, keys: &[KeyValue]) -> Result<()> {
        for (key, doc) in keys.iter().zip(&self.docs) {
            for c in &self.copies {
                propagate(backend, c, key, copied_value(Some(doc), c.field)?).await?;
            }
        }
        Ok(())
    }
}

/// Sets the copy on every holder of `key` whose copy differs from `value` (one update).
async fn propagate<B: Backend>(backend: &B, c: &CopyDesc, key: &KeyValue, value: Value) -> Result<()> {
    let plan = Plan {
        filters: vec![
            Filter { path: Cow::Borrowed(c.reference), op: Op::Eq(to_value(key)?) },
            Filter { path: Cow::Borrowed(c.copy), op: Op::Ne(value.clone()) },
        ],
        ..Plan::default()
    };
    let op = UpdateOp { path: Cow::Borrowed(c.copy), kind: UpdateKind::Set, value };
    backend.update(c.holder, plan, vec![op]).await.map_err(|e| e.with_model(c.holder.name))?;
    Ok(())
}

/// An update's extra work for copies, decided before it runs.
pub(crate) struct UpdateCopies {
    /// Records of a related model whose copied fields the update changes.
    changed: Option<Vec<KeyValue>>,
    related: &'static ModelDesc,
}

/// Prepares an update: a `set` of a `Ref` with copies also sets the copies (one read of the
/// related record); an update of copied fields notes the records it will change, to
/// propagate afterwards.
pub(crate) async fn before_update<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    plan: &Plan,
    ops: &mut Vec<UpdateOp>,
) -> Result<UpdateCopies> {
    let mut extra = Vec::new();
    for op in ops.iter() {
        let copies: Vec<&CopyDesc> = copies_held_by(m).filter(|c| c.reference == op.path).collect();
        if copies.is_empty() {
            continue;
        }
        if op.kind != UpdateKind::Set {
            return Err(Error::new(
                crate::ErrorKind::Unsupported,
                "only `set` updates a `Ref` with denormalized copies",
            )
            .with_model(m.name)
            .with_field(&op.path));
        }
        let doc = match ref_key_of_value(&op.value) {
            Some(k) => backend.get(copies[0].related, k).await?,
            None => None,
        };
        for c in copies {
            extra.push(UpdateOp {
                path: Cow::Borrowed(c.copy),
                kind: UpdateKind::Set,
                value: copied_value(doc.as_ref(), c.field)?,
            });
        }
    }
    ops.extend(extra);
    let touched =
        copies_of(m).any(|c| ops.iter().any(|o| o.path == c.field || o.path.starts_with(&format!("{}.", c.field))));
    let changed = if touched {
        let mut keys_only = plan.clone();
        keys_only.projection = Some(Projection::Only(vec!["_id".into()]));
        Some(backend.query(m, keys_only).await?.into_iter().filter_map(|r| r.key).collect())
    } else {
        None
    };
    Ok(UpdateCopies { changed, related: m })
}

fn ref_key_of_value(v: &Value) -> Option<KeyValue> {
    match v {
        Value::Int32(n) => Some(KeyValue::Int((*n).into())),
        Value::Int64(n) => Some(KeyValue::Int(*n)),
        Value::String(s) => Some(KeyValue::Str(s.clone())),
        Value::ObjectId(o) => Some(KeyValue::ObjectId(*o)),
        _ => None,
    }
}

impl UpdateCopies {
    /// Propagates the new values of the changed related records to their copies.
    pub(crate) async fn after<B: Backend>(self, backend: &B) -> Result<()> {
        let Some(keys) = self.changed else { return Ok(()) };
        for chunk in keys.chunks(BATCH) {
            let docs = backend.get_many(self.related, chunk.to_vec()).await?;
            let items: Vec<PutItem> = chunk
                .iter()
                .zip(docs)
                .filter_map(|(k, d)| d.map(|doc| PutItem { key: Some(k.clone()), doc }))
                .collect();
            let keys: Vec<KeyValue> = items.iter().filter_map(|i| i.key.clone()).collect();
            Pending::new(self.related, &items).run(backend, &keys).await?;
        }
        Ok(())
    }
}

/// A copy that disagrees with its related record: (holder key, stored value, expected).
type Stale = (KeyValue, Value, Value);

/// Every stale copy of one declaration, read in batches.
async fn stale_copies<B: Backend>(backend: &B, c: &'static CopyDesc) -> Result<(u64, Vec<Stale>)> {
    let plan = Plan { projection: Some(Projection::Only(vec![c.reference.into(), c.copy.into()])), ..Plan::default() };
    let rows = backend.query(c.holder, plan).await?;
    let mut stale = Vec::new();
    for chunk in rows.chunks(BATCH) {
        let keys: Vec<Option<KeyValue>> = chunk.iter().map(|r| ref_key(&r.doc, c.reference)).collect::<Result<_>>()?;
        let related = related_docs(backend, c.related, keys.iter().flatten().cloned()).await?;
        for (row, key) in chunk.iter().zip(&keys) {
            let Some(key) = key else { continue };
            // A reference to a deleted record keeps its last copy (nothing cascades, F16).
            let Some(doc) = related.get(key) else { continue };
            let expected = copied_value(Some(doc), c.field)?;
            let stored = values_at(&row.doc, c.copy)?.into_iter().next();
            if stored.as_ref() != Some(&expected) || stored.as_ref().map(Value::bson_type) != Some(expected.bson_type())
            {
                if let Some(holder_key) = &row.key {
                    stale.push((holder_key.clone(), stored.unwrap_or(Value::Null), expected));
                }
            }
        }
    }
    Ok((rows.len() as u64, stale))
}

/// Reports every stale copy of the models' declarations (F15, F21).
pub(crate) async fn check_copies<B: Backend>(
    backend: &B,
    models: &[&'static ModelDesc],
) -> Result<(u64, Vec<IntegrityProblem>)> {
    let mut checked = 0;
    let mut problems = Vec::new();
    for m in models {
        for c in copies_held_by(m) {
            let (n, stale) = stale_copies(backend, c).await?;
            checked += n;
            for (key, stored, expected) in stale {
                let message = format!(
                    "stale denormalized copy of {}.{}: holds {stored}, the related {} record has {expected}",
                    c.reference, c.field, c.related.name
                );
                problems.push(IntegrityProblem { model: m.name, index: c.copy, key: Some(key), message });
            }
        }
    }
    Ok((checked, problems))
}

/// Rewrites every stale copy of the models' declarations; returns how many were rewritten.
pub(crate) async fn refresh_copies<B: Backend>(backend: &B, models: &[&'static ModelDesc]) -> Result<u64> {
    let mut written = 0;
    for m in models {
        for c in copies_held_by(m) {
            let (_, stale) = stale_copies(backend, c).await?;
            for chunk in stale.chunks(BATCH) {
                let keys: Vec<KeyValue> = chunk.iter().map(|(k, _, _)| k.clone()).collect();
                let docs = backend.get_many(c.holder, keys).await?;
                let mut items = Vec::with_capacity(chunk.len());
                for ((key, _, expected), doc) in chunk.iter().zip(docs) {
                    let Some(doc) = doc else { continue };
                    items.push(PutItem {
                        key: Some(key.clone()),
                        doc: set_copies(&doc, &[(c.copy, expected.clone())])?,
                    });
                }
                written += items.len() as u64;
                backend.put(c.holder, items, WriteMode::Upsert).await?;
            }
        }
    }
    Ok(written)
}
