//! Denormalized copies: written at save, kept current when the related record
//! changes, checked by `integrity_check` and refreshed by `rebuild_indexes`.
//!
//! A copy lives in the holder's stored document under a reserved name
//! (`_dn_<reference>_<field>`), with an index, so a lookup across the `Ref` is one indexed
//! query on the holder. The generated encoder knows nothing of copies: they are added to
//! the encoded document here, from one batched read of the related records per save.

use super::{copies_held_by, copies_of, CopyDesc};
pub(crate) use crate::backend::copies::{
    by_reference, copied_value, copied_values, ref_key, set_copies, sets_copied_ref, touches_copies,
};
use crate::backend::{Backend, IntegrityProblem, PutItem, SwapItem, Swapped, UpdateKind, UpdateOp};
use crate::core::value::Value;
use crate::error::{Error, Result};
use crate::plan::eval::values_at;
use crate::plan::{to_value, Filter, Op, Plan, Projection};
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::future::Future;

/// Records read per batch when a whole collection is checked or refreshed.
const BATCH: usize = 1000;

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

/// The copies of records about to be put: on a backend that writes them itself from the
/// related records read in the same atomic write ([`Backend::COPIES_IN_WRITE`]), nothing to
/// do here; elsewhere [`with_copies`], re-read by [`Copied::check`] once written.
pub(crate) async fn before_put<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    items: &mut [PutItem],
) -> Result<Copied> {
    if B::COPIES_IN_WRITE {
        return Ok(Copied { groups: Vec::new() });
    }
    with_copies(backend, m, items).await
}

/// Writes the declared copies into documents about to be saved: one batched read of the
/// related records per `Ref` for the whole batch. Returns what was copied, for
/// [`Copied::check`] once the documents are written.
pub(crate) async fn with_copies<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    items: &mut [PutItem],
) -> Result<Copied> {
    let copies: Vec<&'static CopyDesc> = copies_held_by(m).collect();
    let mut copied = Copied { groups: Vec::new() };
    if copies.is_empty() {
        return Ok(copied);
    }
    let mut values: Vec<Vec<(&'static str, Value)>> = vec![Vec::new(); items.len()];
    for (reference, related, group) in by_reference(&copies) {
        let keys: Vec<Option<KeyValue>> = items.iter().map(|i| ref_key(&i.doc, reference)).collect::<Result<_>>()?;
        let docs = related_docs(backend, related, keys.iter().flatten().cloned()).await?;
        let mut seen = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            let doc = key.as_ref().and_then(|k| docs.get(k));
            let row = copied_values(doc, &group)?;
            for (c, v) in group.iter().zip(&row) {
                values[i].push((c.copy, v.clone()));
            }
            if let Some(k) = key {
                seen.insert(k.clone(), row);
            }
        }
        copied.groups.push((related, group, seen));
    }
    for (item, copies) in items.iter_mut().zip(values) {
        item.doc = set_copies(&item.doc, &copies).map_err(|e| e.with_model(m.name))?;
    }
    Ok(copied)
}

/// Whether two lists of copied values are the same, type included.
fn same_values(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y && x.bson_type() == y.bson_type())
}

/// One related model's copies a save wrote: the values it read for each related key.
type CopiedGroup = (&'static ModelDesc, Vec<&'static CopyDesc>, HashMap<KeyValue, Vec<Value>>);

/// The copies a save wrote, by related model: the values it read for each related key.
pub(crate) struct Copied {
    groups: Vec<CopiedGroup>,
}

impl Copied {
    /// Once the holders are written: re-reads the related records, and where one changed
    /// since it was read (a concurrent write whose fan-out may have run before the holders
    /// were written), brings its copies to its current value. A holder never ends with a
    /// copy older than its related record.
    pub(crate) async fn check<B: Backend>(self, backend: &B) -> Result<()> {
        for (related, group, seen) in self.groups {
            let keys: Vec<KeyValue> = seen.keys().cloned().collect();
            let mut changed = Vec::new();
            for chunk in keys.chunks(BATCH) {
                let now = backend.get_many(related, chunk.to_vec()).await?;
                for (key, doc) in chunk.iter().zip(now) {
                    if !same_values(&copied_values(doc.as_ref(), &group)?, &seen[key]) {
                        changed.push(key.clone());
                    }
                }
            }
            settle(backend, related, changed).await?;
        }
        Ok(())
    }
}

/// How many times [`settle`] re-reads a record that keeps changing before it leaves the
/// rest to the outbox.
const SETTLE_ROUNDS: usize = 64;

/// Brings every copy of records `keys` of `related` to the record's current value: reads
/// them, sets the copies, and reads them again; a record whose copied fields changed
/// meanwhile (another write whose own fan-out may have finished first) is done again with
/// its newer value. Returns the keys still changing after [`SETTLE_ROUNDS`] rounds (their
/// outbox entries stay, for a later finish). A deleted record's copies are left as they
/// are (dangling, see `check_copies`).
pub(crate) async fn settle<B: Backend>(
    backend: &B,
    related: &'static ModelDesc,
    keys: Vec<KeyValue>,
) -> Result<Vec<KeyValue>> {
    settle_from(backend, related, keys, None).await
}

/// [`settle`] starting from the documents just written (`written`, in the order of `keys`)
/// rather than a read: the re-read that follows catches any newer value.
async fn settle_from<B: Backend>(
    backend: &B,
    related: &'static ModelDesc,
    keys: Vec<KeyValue>,
    written: Option<Vec<Option<Vec<u8>>>>,
) -> Result<Vec<KeyValue>> {
    let copies: Vec<&'static CopyDesc> = copies_of(related).collect();
    if copies.is_empty() || keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut keys = keys;
    let mut docs = match written {
        Some(docs) if docs.len() == keys.len() => docs,
        _ => backend.get_many(related, keys.clone()).await?,
    };
    for _ in 0..SETTLE_ROUNDS {
        for (key, doc) in keys.iter().zip(&docs) {
            let Some(doc) = doc else { continue };
            for c in &copies {
                propagate(backend, c, key, copied_value(Some(doc), c.field)?).await?;
            }
        }
        let again = backend.get_many(related, keys.clone()).await?;
        let (mut next_keys, mut next_docs) = (Vec::new(), Vec::new());
        for ((key, before), after) in keys.into_iter().zip(&docs).zip(again) {
            if !same_values(&copied_values(before.as_ref(), &copies)?, &copied_values(after.as_ref(), &copies)?) {
                next_keys.push(key);
                next_docs.push(after);
            }
        }
        if next_keys.is_empty() {
            return Ok(Vec::new());
        }
        (keys, docs) = (next_keys, next_docs);
    }
    Ok(keys)
}

/// The fan-out a write of related records owes their copies: noted in the outbox with the
/// write (or just before it), finished by [`run`](Self::run) after it.
pub(crate) struct Pending {
    model: &'static ModelDesc,
    active: bool,
    /// Entries the runtime wrote before the write (backends without the outbox in the write).
    noted: Vec<(KeyValue, Vec<u8>)>,
    /// The documents written, in order, when known.
    docs: Option<Vec<Option<Vec<u8>>>>,
}

impl Pending {
    /// The fan-out of a write of `m` inside a transaction (noted by the backend's commit
    /// where it writes the outbox itself).
    pub(crate) fn new(m: &'static ModelDesc, items: &[PutItem]) -> Pending {
        let active = copies_of(m).next().is_some();
        let docs = active.then(|| items.iter().map(|i| Some(i.doc.clone())).collect());
        Pending { model: m, active, noted: Vec::new(), docs }
    }

    /// Whether the write owes other models' copies a fan-out.
    pub(crate) fn owes_fan_out(&self) -> bool {
        self.active
    }

    /// The fan-out with the outbox entry a transaction wrote beside the record, to remove
    /// once finished.
    pub(crate) fn noted_in_transaction(mut self, entry: Option<(KeyValue, Vec<u8>)>) -> Pending {
        self.noted.extend(entry);
        self
    }

    /// The fan-out of a write of `items` of `m`, noted in the outbox before the write on a
    /// backend that does not note it in the write itself.
    /// The first such write through a handle finishes what a crash left pending first
    /// (`finish_pending_once`, made and run only when the write owes a fan-out).
    pub(crate) async fn noted<B: Backend, F: Future<Output = Result<()>>>(
        backend: &B,
        finish_pending_once: impl FnOnce() -> F,
        m: &'static ModelDesc,
        items: &[PutItem],
    ) -> Result<Pending> {
        let mut pending = Pending::new(m, items);
        if pending.active {
            finish_pending_once().await?;
            let keys = items.iter().filter_map(|i| i.key.as_ref());
            pending.noted = super::outbox::note(backend, m, keys).await?;
        }
        Ok(pending)
    }

    /// Brings every copy of the written records up to date (`keys` as the write returned),
    /// then removes their outbox entries.
    pub(crate) async fn run<B: Backend>(self, backend: &B, keys: &[KeyValue]) -> Result<()> {
        if !self.active {
            return Ok(());
        }
        let mut entries = self.noted;
        if B::OUTBOX_IN_WRITE {
            entries = super::outbox::written(backend, self.model, keys).await?;
        }
        let left = settle_from(backend, self.model, keys.to_vec(), self.docs).await?;
        if !left.is_empty() {
            let ids: HashSet<KeyValue> =
                left.iter().map(|k| super::outbox::entry(self.model, k)).filter_map(|e| e.ok()?.key).collect();
            entries.retain(|(id, _)| !ids.contains(id));
        }
        super::outbox::clear(backend, entries).await
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
    /// Outbox entries noted before the update.
    noted: Vec<(KeyValue, Vec<u8>)>,
    /// The related record a `set` of a `Ref` copied from, as read, checked once the update
    /// is done.
    set_ref: Option<(&'static ModelDesc, KeyValue, Option<Vec<u8>>)>,
}

/// Whether an update has work for copies ([`before_update`]): it sets a `Ref` whose
/// related fields `m` copies, or changes fields of `m` that other models copy.
pub(crate) fn update_has_copies(m: &ModelDesc, ops: &[UpdateOp]) -> bool {
    sets_copied_ref(m, ops) || touches_copies(m, ops)
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
    let mut set_ref = None;
    for op in ops.iter() {
        let copies: Vec<&CopyDesc> = copies_held_by(m).filter(|c| c.reference == op.path).collect();
        if copies.is_empty() {
            continue;
        }
        if op.kind != UpdateKind::Set {
            return Err(Error::new(
                crate::error::ErrorKind::Unsupported,
                "only `set` updates a `Ref` with denormalized copies",
            )
            .with_model(m.name)
            .with_field(&op.path));
        }
        let key = ref_key_of_value(&op.value);
        let doc = match &key {
            Some(k) => backend.get(copies[0].related, k.clone()).await?,
            None => None,
        };
        set_ref = key.map(|k| (copies[0].related, k, doc.clone()));
        for c in copies {
            extra.push(UpdateOp {
                path: Cow::Borrowed(c.copy),
                kind: UpdateKind::Set,
                value: copied_value(doc.as_ref(), c.field)?,
            });
        }
    }
    ops.extend(extra);
    let changed = if touches_copies(m, ops) {
        let mut keys_only = plan.clone();
        keys_only.projection = Some(Projection::Only(vec!["_id".into()]));
        let rows = crate::engine::keyed::query(backend, m, keys_only, B::MAX_IN_VALUES).await?;
        Some(rows.into_iter().filter_map(|r| r.key).collect())
    } else {
        None
    };
    Ok(UpdateCopies { changed, related: m, noted: Vec::new(), set_ref })
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
    /// Whether the update changes copied fields (then it owes a fan-out).
    pub(crate) fn is_active(&self) -> bool {
        self.changed.is_some()
    }

    /// Notes the changed related records in the outbox before the update, on a backend that
    /// does not note them in the update itself.
    pub(crate) async fn note<B: Backend>(&mut self, backend: &B) -> Result<()> {
        if let Some(keys) = &self.changed {
            for chunk in keys.chunks(BATCH) {
                self.noted.extend(super::outbox::note(backend, self.related, chunk.iter()).await?);
            }
        }
        Ok(())
    }

    /// Propagates the new values of the changed related records to their copies, and
    /// brings a `Ref` set by the update to its related record's current value.
    pub(crate) async fn after<B: Backend>(self, backend: &B) -> Result<()> {
        // A backend that writes copies from reads inside the update took the current values.
        if let Some((related, key, read)) = self.set_ref.filter(|_| !B::COPIES_IN_WRITE) {
            let copies: Vec<&'static CopyDesc> = copies_of(related).collect();
            let now = backend.get(related, key.clone()).await?;
            if !same_values(&copied_values(read.as_ref(), &copies)?, &copied_values(now.as_ref(), &copies)?) {
                settle(backend, related, vec![key]).await?;
            }
        }
        let Some(keys) = self.changed else { return Ok(()) };
        let mut noted = self.noted;
        for chunk in keys.chunks(BATCH) {
            let pending = Pending { model: self.related, active: true, noted: std::mem::take(&mut noted), docs: None };
            pending.run(backend, chunk).await?;
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
/// (nothing cascades): they are not stale, since nothing says what they should be, but
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
/// copies of a record that does not exist.
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

/// Rewrites every stale copy of the models' declarations; returns how many holders were
/// rewritten.
///
/// Copies held through a dangling reference are left as they are: there is no related
/// record to take a value from, and `integrity_check` keeps reporting the reference. Each
/// holder is rewritten compare-and-set ([`Backend::swap`]): a holder a concurrent write
/// changed is read again and its copies recomputed from its current reference, a deleted one
/// is not recreated, so the refresh never undoes a write.
pub(crate) async fn refresh_copies<B: Backend>(backend: &B, models: &[&'static ModelDesc]) -> Result<u64> {
    let mut written = 0;
    for m in models {
        let copies: Vec<&'static CopyDesc> = copies_held_by(m).collect();
        for scan in scan_model(backend, m).await? {
            let mut stale: Vec<KeyValue> = scan.stale.iter().map(|(_, (k, _, _))| k.clone()).collect();
            stale.dedup();
            for chunk in stale.chunks(BATCH) {
                let docs = backend.get_many(m, chunk.to_vec()).await?;
                let read = chunk.iter().cloned().zip(docs).filter_map(|(k, d)| Some((k, d?))).collect();
                written += refresh_holders(backend, m, &copies, read).await?;
            }
        }
    }
    Ok(written)
}

/// How many times a maintenance rewrite retries a record that keeps changing under it
/// before it leaves the record to the writes that change it.
pub(crate) const REWRITE_ROUNDS: usize = 64;

/// Sets the copies of holders `read` (key and document as read) to their related records'
/// values, compare-and-set, again from the current document where a write came between.
async fn refresh_holders<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    copies: &[&'static CopyDesc],
    mut read: Vec<(KeyValue, Vec<u8>)>,
) -> Result<u64> {
    let mut written = 0;
    for _ in 0..REWRITE_ROUNDS {
        let mut fresh: Vec<PutItem> =
            read.iter().map(|(k, d)| PutItem { key: Some(k.clone()), doc: d.clone() }).collect();
        with_copies(backend, m, &mut fresh).await?;
        let items: Vec<SwapItem> = read
            .into_iter()
            .zip(fresh)
            .filter(|((_, doc), new)| !copies.is_empty() && new.doc != *doc)
            .map(|((key, expected), new)| SwapItem { key, expected, doc: Some(new.doc) })
            .collect();
        let keys: Vec<KeyValue> = items.iter().map(|i| i.key.clone()).collect();
        read = Vec::new();
        for (key, outcome) in keys.into_iter().zip(backend.swap(m, items).await?) {
            match outcome {
                Swapped::Written => written += 1,
                Swapped::Changed(now) => read.push((key, now)),
                Swapped::Missing => {}
            }
        }
        if read.is_empty() {
            break;
        }
    }
    Ok(written)
}

/// Entries finished per batch when the whole outbox is read.
const OUTBOX_BATCH: usize = 500;

/// The related model and key an entry names (`None`: a model this program does not have).
fn outbox_entry(doc: &[u8]) -> Result<Option<(&'static ModelDesc, KeyValue)>> {
    let text = |name| -> Result<Option<String>> {
        Ok(match values_at(doc, name)?.into_iter().next() {
            Some(Value::String(s)) => Some(s),
            _ => None,
        })
    };
    let (Some(collection), Some(name)) = (text("c")?, text("m")?) else { return Ok(None) };
    let Some(model) = crate::schema::model::registered_models().find(|m| m.collection == collection && m.name == name)
    else {
        return Ok(None);
    };
    Ok(ref_key(doc, "k")?.map(|k| (model, k)))
}

/// Finishes every pending fan-out the outbox holds; returns how many entries were finished.
pub(crate) async fn finish_all<B: Backend>(backend: &B) -> Result<u64> {
    let rows = backend.query(&crate::backend::copies::OUTBOX, crate::plan::Plan::default()).await?;
    let mut finished = 0;
    for chunk in rows.chunks(OUTBOX_BATCH) {
        let mut done = Vec::with_capacity(chunk.len());
        for row in chunk {
            let Some(id) = row.key.clone() else { continue };
            if let Some((model, key)) = outbox_entry(&row.doc)? {
                if !settle(backend, model, vec![key]).await?.is_empty() {
                    continue;
                }
            }
            done.push((id, row.doc.clone()));
        }
        finished += done.len() as u64;
        super::outbox::clear(backend, done).await?;
    }
    Ok(finished)
}
