//! The backend template: a complete nonrel backend on an in-memory ordered map, through the
//! public API of `nonrel-runtime` alone. Copy this file to start a backend of your own.
//!
//! What a backend sees: the static [`ModelDesc`] of a model, keys as [`KeyValue`], records as
//! BSON document bytes (without `_id`) and queries as a [`Plan`], never a user type. The store
//! here is one [`BTreeMap`] of records per collection, behind one lock. It cannot filter or
//! sort by itself, so it calls [`eval`], which gives every backend the same answers.
#![doc = include_str!("../README.md")]

use nonrel_runtime::backend::counter::{answering, collection_counters, described_groups, hex, moves};
use nonrel_runtime::backend::{
    Backend, IntegrityProblem, IntegrityReport, PutItem, Row, SwapItem, Swapped, UpdateCounts, UpdateOp, WriteMode,
};
use nonrel_runtime::capability::{No, Transactions};
use nonrel_runtime::query::{eval, Plan};
use nonrel_runtime::{CounterDesc, Error, ErrorKind, KeyKind, KeyValue, ModelDesc, Result, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

/// The in-memory backend. Open a database with `Database::new(Memory::new())`; clones share
/// the data, which is gone when the last one drops.
#[derive(Clone, Default)]
pub struct Memory {
    state: Arc<Mutex<State>>,
    /// Records read by counts, for [`Memory::records_counted`].
    counted: Arc<AtomicU64>,
}

/// Everything stored: the collections by name. Several models may share one collection (a
/// polymorphic base and its subclasses), so records are kept by collection, not by model.
type State = BTreeMap<&'static str, Collection>;

/// A counter's groups (a group is its records' encoded values) and each one's number of records.
type Groups = BTreeMap<Vec<u8>, i64>;

/// One collection of records.
#[derive(Clone, Default)]
struct Collection {
    /// Records by key, iterated in key order: the order of results without `order_by`.
    records: BTreeMap<KeyValue, Vec<u8>>,
    /// Maintained counts (`#[model(count_by(author))]`) by counter name, each present once
    /// filled from every record (an absent one answers no count) and kept by every write.
    counters: BTreeMap<&'static str, (&'static CounterDesc, Groups)>,
    /// The last automatic key handed out.
    last_auto: i64,
}

impl Memory {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records counts have read: none for a count a counter answers (see the crate
    /// docs).
    pub fn records_counted(&self) -> u64 {
        self.counted.load(Relaxed)
    }

    /// Takes the lock: every operation takes it once (never across an `.await`), so each runs
    /// as if alone. Writes go to a copy, so a lock poisoned by a panic holds no half write.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `write` on a copy of the model's collection and keeps the copy only if it
    /// succeeds: all of a write or none of it. (A real store uses its own transactions.)
    fn change<T>(&self, m: &'static ModelDesc, write: impl FnOnce(&mut Collection) -> Result<T>) -> Result<T> {
        let mut state = self.lock();
        let mut copy = state.get(m.collection).cloned().unwrap_or_default();
        let out = write(&mut copy)?;
        state.insert(m.collection, copy);
        Ok(out)
    }
}

/// The records of a model's collection, in key order (none when nothing was written).
fn records<'a>(state: &'a State, m: &ModelDesc) -> impl Iterator<Item = (&'a KeyValue, &'a Vec<u8>)> {
    state.get(m.collection).into_iter().flat_map(|c| c.records.iter())
}

/// One record's document.
fn get<'a>(state: &'a State, m: &ModelDesc, key: &KeyValue) -> Option<&'a Vec<u8>> {
    state.get(m.collection)?.records.get(key)
}

impl Collection {
    /// The next automatic key: one more than the last, skipping keys records already hold.
    fn next_key(&mut self) -> KeyValue {
        loop {
            self.last_auto += 1;
            if !self.records.contains_key(&KeyValue::Int(self.last_auto)) {
                return KeyValue::Int(self.last_auto);
            }
        }
    }

    /// Writes one record as `mode` says (`None` deletes it) and returns whether one was there:
    /// `Insert` refuses an existing key; `Upsert` keeps the fields of the stored record the
    /// program does not know (written by other programs or versions); `Replace` stores `doc`
    /// exactly as given (loading a dump). Every write goes through here, so through `recount`.
    fn write(&mut self, m: &'static ModelDesc, key: &KeyValue, doc: Option<Vec<u8>>, mode: WriteMode) -> Result<bool> {
        let doc = match (doc, self.records.get(key), mode) {
            (Some(_), Some(_), WriteMode::Insert) => {
                return Err(Error::new(ErrorKind::DuplicateKey, "a record with this key already exists"));
            }
            (Some(doc), Some(old), WriteMode::Upsert) => Some(eval::keep_unknown(m, old, &doc)?),
            (doc, ..) => doc,
        };
        if let Some(doc) = &doc {
            self.check_unique(m, key, doc)?;
        }
        self.recount(m, key, doc.as_deref())?;
        Ok(match doc {
            Some(doc) => self.records.insert(key.clone(), doc),
            None => self.records.remove(key),
        }
        .is_some())
    }

    /// Moves the record at `key` between the groups of every counter, as it becomes `new`,
    /// after filling from the records those `m` declares (with its hierarchy's) not held yet.
    fn recount(&mut self, m: &'static ModelDesc, key: &KeyValue, new: Option<&[u8]>) -> Result<()> {
        for c in collection_counters(m) {
            if !self.counters.contains_key(c.name) {
                self.counters.insert(c.name, (c, filled(c, &self.records)?));
            }
        }
        let old = self.records.get(key).map(Vec::as_slice);
        for (c, groups) in self.counters.values_mut() {
            for (group, delta) in moves(c, old, new)? {
                *groups.entry(group).or_default() += delta;
            }
            groups.retain(|_, n| *n != 0); // an empty group is no entry
        }
        Ok(())
    }

    /// Refuses a value of a unique field that another record holds, naming model, field and
    /// value. This reads the other records; a store with indexes reads the value's entry.
    fn check_unique(&self, m: &ModelDesc, key: &KeyValue, doc: &[u8]) -> Result<()> {
        for index in m.indexes.iter().filter(|index| index.unique) {
            let mine = unique_values(index.path, doc)?;
            for (owner, other) in self.records.iter().filter(|(k, _)| *k != key && !mine.is_empty()) {
                if let Some(v) = unique_values(index.path, other)?.into_iter().find(|v| mine.contains(v)) {
                    let msg = format!("value {v} of unique field `{}` already belongs to record {owner}", index.path);
                    return Err(Error::new(ErrorKind::UniqueViolation, msg).with_model(m.name).with_field(index.path));
                }
            }
        }
        Ok(())
    }
}

/// Each group of counter `c` among `records`: its number of records, and its values in words.
fn tally(c: &CounterDesc, records: &BTreeMap<KeyValue, Vec<u8>>) -> Result<BTreeMap<Vec<u8>, (i64, String)>> {
    let mut out = BTreeMap::new();
    for doc in records.values() {
        for (group, text) in described_groups(c, doc)? {
            out.entry(group).or_insert((0, text)).0 += 1;
        }
    }
    Ok(out)
}

/// Counter `c` filled from every record.
fn filled(c: &CounterDesc, records: &BTreeMap<KeyValue, Vec<u8>>) -> Result<Groups> {
    Ok(tally(c, records)?.into_iter().map(|(group, (n, _))| (group, n)).collect())
}

/// The values at a unique path, each list element on its own; null and empty lists hold none,
/// so many records may lack a unique field. (`Value`s compare as on MongoDB: `1` == `1.0`.)
fn unique_values(path: &str, doc: &[u8]) -> Result<Vec<Value>> {
    let values = eval::values_at(doc, path)?.into_iter().flat_map(|v| match v {
        Value::Array(items) => items,
        other => vec![other],
    });
    Ok(values.filter(|v| !matches!(v, Value::Null | Value::Array(_))).collect())
}

/// Runs a plan over records given in key order: keeps those every filter matches, sorts them
/// by the plan's order (a stable sort, so ties stay in key order), skips `offset`, takes
/// `limit`, and keeps only the fields the projection loads.
fn run<'a>(records: impl Iterator<Item = (&'a KeyValue, &'a Vec<u8>)>, plan: &Plan) -> Result<Vec<Row>> {
    let mut found = Vec::new();
    for (key, doc) in records {
        if eval::matches_all(&plan.filters, doc).map_err(|e| e.with_key(key))? {
            found.push((eval::sort_key(doc, &plan.order)?, key, doc));
        }
    }
    found.sort_by(|a, b| eval::compare_keys(&a.0, &b.0, &plan.order));
    let page = found.into_iter().skip(plan.offset).take(plan.limit.unwrap_or(usize::MAX));
    page.map(|(_, key, doc)| {
        let doc = plan.projection.as_ref().map_or_else(|| Ok(doc.clone()), |p| eval::project(doc, p))?;
        Ok(Row { key: Some(key.clone()), doc, ..Row::default() })
    })
    .collect()
}

impl Backend for Memory {
    /// The backend's name in messages and compile errors.
    const NAME: &'static str = "memory";

    // Capabilities. `No`: the store does not do it, so the runtime runs it from what the model
    // declares (a two-step join, an index field computed on save), and a query the model
    // declares nothing for does not compile (see the crate docs). `Yes`: such filters reach
    // `query` as they are. `MAX_IN_VALUES` keeps its default (no limit on `in` values).
    type Joins = No;
    type CaseInsensitive = No;
    type Regex = No;
    type DateParts = No;
    type FullText = No;

    /// Automatic keys are integers (MongoDB assigns ObjectIds, `KeyKind::Auto`).
    const AUTO_KEY: KeyKind = KeyKind::Int;

    /// Writes records, all or none; the runtime has already encoded, checked and filled
    /// them (index fields of declared lookups, denormalized copies).
    async fn put(&self, m: &'static ModelDesc, items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        self.change(m, |c| {
            let mut keys = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let key = item.key.unwrap_or_else(|| c.next_key());
                // The error names the model, the key and which item of the batch failed.
                c.write(m, &key, Some(item.doc), mode).map_err(|e| e.with_model(m.name).with_key(&key).with_item(i))?;
                keys.push(key);
            }
            Ok(keys)
        })
    }

    /// Reads records in the order of `keys`, `None` for each one missing.
    async fn get_many(&self, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        let state = self.lock();
        Ok(keys.iter().map(|key| get(&state, m, key).cloned()).collect())
    }

    /// Deletes records by key; returns how many existed.
    async fn delete(&self, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        self.change(m, |c| keys.iter().try_fold(0, |n, k| Ok(n + u64::from(c.write(m, k, None, WriteMode::Upsert)?))))
    }

    /// Runs a query: a scan of the collection. A store with indexes reads only the entries a
    /// filter needs, and still checks each record with `eval::matches_all` when in doubt.
    async fn query(&self, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        run(records(&self.lock(), m), &plan)
    }

    /// Counts matches, stopping at `upto`; the runtime takes care of `offset` and `limit`. A
    /// count `answering` matches (one equality per field of a declared grouping) sums groups.
    async fn count(&self, m: &'static ModelDesc, plan: Plan, upto: Option<u64>) -> Result<u64> {
        let (state, upto) = (self.lock(), upto.unwrap_or(u64::MAX));
        if let Some((c, groups)) = answering(m, &plan) {
            if let Some((_, held)) = state.get(m.collection).and_then(|col| col.counters.get(c.name)) {
                return Ok((groups.iter().filter_map(|g| held.get(g)).sum::<i64>() as u64).min(upto));
            }
        }
        let mut n = 0;
        for (key, doc) in records(&state, m) {
            if n == upto {
                break;
            }
            self.counted.fetch_add(1, Relaxed);
            n += u64::from(eval::matches_all(&plan.filters, doc).map_err(|e| e.with_key(key))?);
        }
        Ok(n)
    }

    /// Applies `set`, `inc`, `push` and `pull` to every record the plan's filters match, in
    /// one write (a store with update operators of its own translates `ops` instead).
    async fn update(&self, m: &'static ModelDesc, plan: Plan, ops: Vec<UpdateOp>) -> Result<UpdateCounts> {
        self.change(m, |c| {
            let matched = run(c.records.iter(), &Plan { filters: plan.filters, ..Plan::default() })?;
            let mut counts = UpdateCounts { matched: matched.len() as u64, modified: 0 };
            for Row { key, doc, .. } in matched {
                let key = key.expect("rows of `run` have keys");
                let at = |e: Error| e.with_model(m.name).with_key(&key);
                let new = eval::apply_update(&doc, &ops).map_err(at)?;
                if new != doc {
                    counts.modified += 1;
                    c.write(m, &key, Some(new), WriteMode::Replace).map_err(at)?;
                }
            }
            Ok(counts)
        })
    }

    /// Compare-and-set for the runtime's maintenance (rebuilds, copy refreshes, cascades): the
    /// comparison and the write under one lock, so maintenance never undoes a concurrent save.
    async fn swap(&self, m: &'static ModelDesc, items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
        self.change(m, |c| {
            let swap = |item: SwapItem| match c.records.get(&item.key) {
                None => Ok(Swapped::Missing),
                Some(now) if *now != item.expected => Ok(Swapped::Changed(now.clone())),
                Some(_) => c.write(m, &item.key, item.doc, WriteMode::Upsert).map(|_| Swapped::Written),
            };
            items.into_iter().map(swap).collect()
        })
    }

    /// Creates the declared indexes: this store keeps none apart from its records (a unique
    /// check reads the records), so it only counts them.
    async fn sync_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        Ok(models.iter().map(|m| m.indexes.len() as u64).sum())
    }

    /// Counts records and declared indexes, as MongoDB's report does (the runtime adds its own
    /// checks), and compares each filled counter with its records, naming every wrong group.
    async fn integrity_check(&self, models: Vec<&'static ModelDesc>) -> Result<IntegrityReport> {
        let state = self.lock();
        let mut report = IntegrityReport::default();
        for m in models {
            report.records += records(&state, m).count() as u64;
            report.entries += m.indexes.len() as u64;
            let Some(col) = state.get(m.collection) else { continue };
            for (c, (_, held)) in m.counters.iter().filter_map(|c| Some((c, col.counters.get(c.name)?))) {
                let want = tally(c, &col.records)?;
                report.entries += held.len() as u64;
                for group in held.keys().chain(want.keys()).collect::<std::collections::BTreeSet<_>>() {
                    let have = held.get(group).copied().unwrap_or(0);
                    let wrong = match want.get(group) {
                        Some((n, _)) if *n == have => continue,
                        Some((n, text)) => format!("for {text} holds {have}, its records number {n}"),
                        None => format!("holds {have} for a group no record belongs to ({})", hex(group)),
                    };
                    let message = format!("counter count_by({}) {wrong}", c.name);
                    report.problems.push(IntegrityProblem { model: m.name, index: c.name, key: None, message });
                }
            }
        }
        Ok(report)
    }

    /// Recomputes every counter of `models` from the records (the runtime rewrites stale copies
    /// and lookup index fields before calling this); returns how many indexes and counters.
    async fn rebuild_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        let mut state = self.lock();
        for m in &models {
            let col = state.entry(m.collection).or_default();
            for c in m.counters {
                col.counters.insert(c.name, (c, filled(c, &col.records)?));
            }
        }
        Ok(models.iter().map(|m| (m.indexes.len() + m.counters.len()) as u64).sum())
    }
}

/// One attempt of a transaction. It holds no lock while the caller's code runs: it remembers
/// what it read and keeps its writes; `commit` checks under the lock that every read still
/// gives the same, then applies the writes (optimistic, serializable).
#[derive(Default)]
pub struct Session {
    /// Each record read, with the document seen (`None`: absent).
    reads: Vec<(&'static ModelDesc, KeyValue, Option<Vec<u8>>)>,
    /// Each query run on committed records (without offset and limit), with the rows seen.
    queries: Vec<(&'static ModelDesc, Plan, Vec<Row>)>,
    /// The writes in order, the latest per record: model, key, document (`None`: delete), mode.
    writes: Vec<(&'static ModelDesc, KeyValue, Option<Vec<u8>>, WriteMode)>,
}

impl Session {
    /// A record as the attempt sees it: its own write, else the committed one (a read).
    fn read(&mut self, state: &State, m: &'static ModelDesc, key: &KeyValue) -> Option<Vec<u8>> {
        if let Some((_, _, doc, _)) = self.writes.iter().find(|w| w.0.collection == m.collection && w.1 == *key) {
            return doc.clone();
        }
        let seen = get(state, m, key).cloned();
        self.reads.push((m, key.clone(), seen.clone()));
        seen
    }

    /// Keeps a write, replacing the attempt's earlier write of the same record.
    fn write(&mut self, m: &'static ModelDesc, key: KeyValue, doc: Option<Vec<u8>>, mode: WriteMode) {
        self.writes.retain(|w| !(w.0.collection == m.collection && w.1 == key));
        self.writes.push((m, key, doc, mode));
    }
}

/// What the attempt read has changed since: the error kind makes the runtime run it again.
fn conflict(m: &ModelDesc) -> Error {
    Error::new(ErrorKind::Conflict, "changed by a concurrent write since the transaction read it").with_model(m.name)
}

/// Transactions: implementing this trait is what offers `db.transaction(...)` on `Memory`.
impl Transactions for Memory {
    type Session = Session;

    async fn begin(&self) -> Result<Session> {
        Ok(Session::default())
    }

    async fn tx_get(&self, s: &mut Session, m: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        Ok(s.read(&self.lock(), m, &key))
    }

    async fn tx_put(&self, s: &mut Session, m: &'static ModelDesc, item: PutItem, mode: WriteMode) -> Result<KeyValue> {
        let mut state = self.lock();
        let Some(key) = item.key else {
            // An automatic key is taken now, so no other attempt gets it; written with
            // `Insert`, so a save outside the transaction that took it meanwhile conflicts.
            let key = state.entry(m.collection).or_default().next_key();
            s.write(m, key.clone(), Some(item.doc), WriteMode::Insert);
            return Ok(key);
        };
        if mode == WriteMode::Insert && s.read(&state, m, &key).is_some() {
            let e = Error::new(ErrorKind::DuplicateKey, "a record with this key already exists");
            return Err(e.with_model(m.name).with_key(&key));
        }
        // The insert found the key free (a read, checked at commit), so the commit writes the
        // document as given, even over a record this attempt deleted.
        let mode = if mode == WriteMode::Insert { WriteMode::Replace } else { mode };
        s.write(m, key.clone(), Some(item.doc), mode);
        Ok(key)
    }

    async fn tx_delete(&self, s: &mut Session, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        let state = self.lock();
        let mut existed = 0;
        for key in keys {
            if s.read(&state, m, &key).is_some() {
                existed += 1;
                s.write(m, key, None, WriteMode::Upsert);
            }
        }
        Ok(existed)
    }

    /// Runs the query on the committed records with the attempt's own writes laid over them;
    /// remembers what the whole query (no offset, no limit) gave on the committed records.
    async fn tx_query(&self, s: &mut Session, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        let state = self.lock();
        let whole = Plan { offset: 0, limit: None, projection: None, ..plan.clone() };
        s.queries.push((m, whole.clone(), run(records(&state, m), &whole)?));
        let mut view: BTreeMap<&KeyValue, &Vec<u8>> = records(&state, m).collect();
        for (_, key, doc, _) in s.writes.iter().filter(|w| w.0.collection == m.collection) {
            view.remove(key);
            view.extend(doc.as_ref().map(|doc| (key, doc)));
        }
        run(view.into_iter(), &plan)
    }

    /// Checks every read, then applies every write (keeping the counters), all under the lock.
    async fn commit(&self, s: Session) -> Result<()> {
        let mut state = self.lock();
        for (m, key, seen) in &s.reads {
            if get(&state, m, key) != seen.as_ref() {
                return Err(conflict(m).with_key(key));
            }
        }
        for (m, plan, seen) in &s.queries {
            let now = run(records(&state, m), plan)?;
            if now.len() != seen.len() || now.iter().zip(seen).any(|(a, b)| a.key != b.key || a.doc != b.doc) {
                return Err(conflict(m));
            }
        }
        // All or nothing: the writes go to a copy, kept only if every one succeeds.
        let mut copy = state.clone();
        for (m, key, doc, mode) in s.writes {
            match copy.entry(m.collection).or_default().write(m, &key, doc, mode) {
                Err(e) if e.kind() == ErrorKind::DuplicateKey => return Err(conflict(m).with_key(&key)),
                other => other.map(drop).map_err(|e| e.with_model(m.name).with_key(&key))?,
            }
        }
        *state = copy;
        Ok(())
    }

    /// Nothing was written yet: dropping the attempt is enough.
    async fn abort(&self, _s: Session) {}
}
