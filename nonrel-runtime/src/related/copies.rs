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

/// What one pass over the copies a `Ref` field holds found.
struct Scan {
    /// The `Ref` field.
    reference: &'static str,
    /// The model it refers to.
    related: &'static ModelDesc,
    /// Copies compared with their related record.
    checked: u64,
    /// Stale copies, with their declaration.
    stale: Vec<(&'static CopyDesc, Stale)>,
    /// Holders whose `Ref` names a record that does not exist: (holder key, related key).
    dangling: Vec<(KeyValue, KeyValue)>,
}

/// Compares every copy held through one `Ref` field with the related records, reading the
/// holders' references and copies in one projected query and the related records in
/// batches of [`BATCH`] keys.
///
/// A holder whose related record was deleted keeps its copies as the last known values
/// (nothing cascades, F16): they are not stale, since nothing says what they should be, but
/// the reference is reported as dangling.
async fn scan_reference<B: Backend>(
    backend: &B,
    holder: &'static ModelDesc,
    reference: &'static str,
    related: &'static ModelDesc,
    group: &[&'static CopyDesc],
) -> Result<Scan> {
    let mut names: Vec<String> = vec![reference.into()];
    names.extend(group.iter().map(|c| c.copy.to_owned()));
    let plan = Plan { projection: Some(Projection::Only(names)), ..Plan::default() };
    let rows = backend.query(holder, plan).await?;
    let mut scan = Scan { reference, related, checked: 0, stale: Vec::new(), dangling: Vec::new() };
    for chunk in rows.chunks(BATCH) {
        let keys: Vec<Option<KeyValue>> = chunk.iter().map(|r| ref_key(&r.doc, reference)).collect::<Result<_>>()?;
        let docs = related_docs(backend, related, keys.iter().flatten().cloned()).await?;
        for (row, key) in chunk.iter().zip(&keys) {
            let (Some(key), Some(holder_key)) = (key, &row.key) else { continue };
            let Some(doc) = docs.get(key) else {
                scan.dangling.push((holder_key.clone(), key.clone()));
                continue;
            };
            for c in group {
                scan.checked += 1;
                let expected = copied_value(Some(doc), c.field)?;
                let stored = values_at(&row.doc, c.copy)?.into_iter().next();
                if stored.as_ref() != Some(&expected)
                    || stored.as_ref().map(Value::bson_type) != Some(expected.bson_type())
                {
                    scan.stale.push((c, (holder_key.clone(), stored.unwrap_or(Value::Null), expected)));
                }
            }
        }
    }
    Ok(scan)
}

/// Scans every `Ref` field of `m` that holds copies.
async fn scan_model<B: Backend>(backend: &B, m: &'static ModelDesc) -> Result<Vec<Scan>> {
    let copies: Vec<&'static CopyDesc> = copies_held_by(m).collect();
    let mut out = Vec::new();
    for (reference, related, group) in by_reference(&copies) {
        out.push(scan_reference(backend, m, reference, related, &group).await?);
    }
    Ok(out)
}

/// Reports every stale copy of the models' declarations and every reference that holds
/// copies of a record that does not exist (F15, F21).
///
/// A dangling reference reads `Paper 12: author refers to Author 3, which does not exist`,
/// under the `Ref` field's name; its copies keep the last values they had.
pub(crate) async fn check_copies<B: Backend>(
    backend: &B,
    models: &[&'static ModelDesc],
) -> Result<(u64, Vec<IntegrityProblem>)> {
    let mut checked = 0;
    let mut problems = Vec::new();
    for m in models {
        for scan in scan_model(backend, m).await? {
            checked += scan.checked + scan.dangling.len() as u64;
            for (c, (key, stored, expected)) in scan.stale {
                let message = format!(
                    "stale denormalized copy of {}.{}: holds {stored}, the related {} record has {expected}",
                    c.reference, c.field, c.related.name
                );
                problems.push(IntegrityProblem { model: m.name, index: c.copy, key: Some(key), message });
            }
            for (key, related_key) in scan.dangling {
                let message = format!(
                    "{} {key}: {} refers to {} {related_key}, which does not exist",
                    m.name, scan.reference, scan.related.name
                );
                problems.push(IntegrityProblem { model: m.name, index: scan.reference, key: Some(key), message });
            }
        }
    }
    Ok((checked, problems))
}

/// Rewrites every stale copy of the models' declarations; returns how many were rewritten.
///
/// Copies held through a dangling reference are left as they are: there is no related
/// record to take a value from, and `integrity_check` keeps reporting the reference.
pub(crate) async fn refresh_copies<B: Backend>(backend: &B, models: &[&'static ModelDesc]) -> Result<u64> {
    let mut written = 0;
    for m in models {
        for scan in scan_model(backend, m).await? {
            // One rewrite per holder, with every stale copy it holds.
            let mut holders: Vec<(KeyValue, Vec<(&'static str, Value)>)> = Vec::new();
            for (c, (key, _, expected)) in scan.stale {
                match holders.last_mut() {
                    Some((k, copies)) if *k == key => copies.push((c.copy, expected)),
                    _ => holders.push((key, vec![(c.copy, expected)])),
                }
            }
            for chunk in holders.chunks(BATCH) {
                let keys: Vec<KeyValue> = chunk.iter().map(|(k, _)| k.clone()).collect();
                let docs = backend.get_many(m, keys).await?;
                let mut items = Vec::with_capacity(chunk.len());
                for ((key, copies), doc) in chunk.iter().zip(docs) {
                    let Some(doc) = doc else { continue };
                    items.push(PutItem { key: Some(key.clone()), doc: set_copies(&doc, copies)? });
                }
                written += items.len() as u64;
                backend.put(m, items, WriteMode::Upsert).await?;
            }
        }
    }
    Ok(written)
}
