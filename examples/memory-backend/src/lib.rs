//! The backend template: a complete nonrel backend on an in-memory ordered map, through the
//! public API of `nonrel-runtime` alone. Copy this file to start a backend of your own. It sees
//! a model's static [`ModelDesc`], keys as [`KeyValue`], records as BSON bytes (no `_id`) and
//! queries as a [`Plan`], never a user type; it filters and sorts with [`eval`], as others do.
#![doc = include_str!("../README.md")]

use nonrel_runtime::backend::counter::{answering, collection_counters, described_groups, hex, moves};
use nonrel_runtime::backend::{
    Backend, IntegrityProblem, IntegrityReport, PutItem, Row, SwapItem, Swapped, UpdateCounts, UpdateOp, WriteMode,
};
use nonrel_runtime::capability::{No, Transactions};
use nonrel_runtime::query::{eval, Plan};
use nonrel_runtime::{CounterDesc, Error, ErrorKind, KeyKind, KeyValue, ModelDesc, Result, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{atomic::AtomicU64, atomic::Ordering::Relaxed, Arc, Mutex, MutexGuard};

/// The in-memory backend: `Database::new(Memory::new())`. Clones share the data.
#[derive(Clone, Default)]
pub struct Memory {
    state: Arc<Mutex<State>>,
    /// How many records counts have read (none for a count a counter answers; see the README).
    pub records_counted: Arc<AtomicU64>,
}

/// The collections by name: models may share one (a polymorphic base and its subclasses).
type State = BTreeMap<&'static str, Collection>;

#[derive(Clone, Default)]
struct Collection {
    /// Records by key, iterated in key order: the order of results without `order_by`.
    records: BTreeMap<KeyValue, Vec<u8>>,
    /// Maintained counts (`count_by`) by name: each group's (encoded values) number of records,
    /// started with the collection's first record (else by `rebuild_indexes`), so never partial.
    counters: BTreeMap<&'static str, (&'static CounterDesc, BTreeMap<Vec<u8>, i64>)>,
    last_auto: i64,
}

impl Memory {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the lock: every operation takes it once (never across an `.await`), so each runs
    /// as if alone. Writes go to a copy, so a lock poisoned by a panic holds no half write.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `write` on a copy of the collection, kept only if it succeeds: all of a write or none
    /// (a real store uses its own transactions).
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

fn get<'a>(state: &'a State, m: &ModelDesc, key: &KeyValue) -> Option<&'a Vec<u8>> {
    state.get(m.collection)?.records.get(key)
}

impl Collection {
    /// The next automatic key: one more than the last, skipping keys records already hold.
    fn next_key(&mut self) -> KeyValue {
        self.last_auto = (self.last_auto + 1..).find(|n| !self.records.contains_key(&KeyValue::Int(*n))).unwrap();
        KeyValue::Int(self.last_auto)
    }

    /// Writes one record as `mode` says (`None` deletes it); returns whether one was there.
    /// `Insert` refuses an existing key; `Upsert` keeps stored fields the program does not know
    /// (other versions wrote them); `Replace` stores `doc` as given. Every counter held follows
    /// the record: a collection's first record starts those `m` keeps (its hierarchy's too).
    fn write(&mut self, m: &'static ModelDesc, key: &KeyValue, doc: Option<Vec<u8>>, mode: WriteMode) -> Result<bool> {
        let doc = match (doc, self.records.get(key), mode) {
            (Some(_), Some(_), WriteMode::Insert) => {
                return Err(Error::new(ErrorKind::DuplicateKey, "a record with this key already exists"));
            }
            (Some(doc), Some(old), WriteMode::Upsert) => Some(eval::keep_unknown(m, old, &doc)?),
            (doc, ..) => doc,
        };
        doc.as_deref().map(|doc| self.check_unique(m, key, doc)).transpose()?;
        if self.records.is_empty() {
            self.counters.extend(collection_counters(m).into_iter().map(|c| (c.name, (c, BTreeMap::new()))));
        }
        for (c, groups) in self.counters.values_mut() {
            for (group, delta) in moves(c, self.records.get(key).map(Vec::as_slice), doc.as_deref())? {
                *groups.entry(group).or_default() += delta;
            }
            groups.retain(|_, n| *n != 0); // an empty group is no entry
        }
        let old = self.records.remove(key);
        self.records.extend(doc.map(|doc| (key.clone(), doc)));
        Ok(old.is_some())
    }

    /// Each group of counter `c` among the records: its number of records, its values in words.
    fn tally(&self, c: &CounterDesc) -> Result<BTreeMap<Vec<u8>, (i64, String)>> {
        let mut out = BTreeMap::new();
        for doc in self.records.values() {
            described_groups(c, doc)?.into_iter().for_each(|(g, text)| out.entry(g).or_insert((0, text)).0 += 1);
        }
        Ok(out)
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

/// The values at a unique path, each list element on its own; null and empty lists hold none,
/// so many records may lack a unique field. (`Value`s compare as on MongoDB: `1` == `1.0`.)
fn unique_values(path: &str, doc: &[u8]) -> Result<Vec<Value>> {
    let values = eval::values_at(doc, path)?.into_iter().flat_map(|v| match v {
        Value::Array(items) => items,
        other => vec![other],
    });
    Ok(values.filter(|v| !matches!(v, Value::Null | Value::Array(_))).collect())
}

/// Runs a plan over records in key order: those every filter matches, sorted stably by the
/// plan's order (ties stay in key order), then `offset`, `limit` and the projection.
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
    const NAME: &'static str = "memory";

    // Capabilities (see the README). `No`: the runtime runs it from what the model declares, or
    // the query does not compile; `Yes`: such filters reach `query`. `MAX_IN_VALUES`: no limit.
    type Joins = No;
    type CaseInsensitive = No;
    type Regex = No;
    type DateParts = No;
    type FullText = No;

    /// Automatic keys are integers (MongoDB assigns ObjectIds, `KeyKind::Auto`).
    const AUTO_KEY: KeyKind = KeyKind::Int;

    /// Writes records, all or none (the runtime has encoded, checked and filled them).
    async fn put(&self, m: &'static ModelDesc, items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        self.change(m, |c| {
            let put = |(i, item): (usize, PutItem)| {
                let key = item.key.unwrap_or_else(|| c.next_key());
                // The error names the model, the key and which item of the batch failed.
                c.write(m, &key, Some(item.doc), mode).map_err(|e| e.with_model(m.name).with_key(&key).with_item(i))?;
                Ok(key)
            };
            items.into_iter().enumerate().map(put).collect()
        })
    }

    async fn get_many(&self, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        let state = self.lock();
        Ok(keys.iter().map(|key| get(&state, m, key).cloned()).collect())
    }

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
        let (mut n, mut all) = (0, records(&state, m));
        while let Some((key, doc)) = all.next().filter(|_| n < upto) {
            self.records_counted.fetch_add(1, Relaxed);
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
            for (key, doc) in matched.into_iter().filter_map(|row| Some((row.key?, row.doc))) {
                let at = |e: Error| e.with_model(m.name).with_key(&key);
                let new = eval::apply_update(&doc, &ops).map_err(at)?;
                counts.modified += u64::from(new != doc);
                c.write(m, &key, Some(new), WriteMode::Replace).map_err(at)?;
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

    /// Creates the declared indexes: this store keeps none (a unique check reads the records).
    async fn sync_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        Ok(models.iter().map(|m| m.indexes.len() as u64).sum())
    }

    /// Counts records and indexes (as MongoDB's report does) and names each wrong counter group.
    async fn integrity_check(&self, models: Vec<&'static ModelDesc>) -> Result<IntegrityReport> {
        let state = self.lock();
        let mut report = IntegrityReport::default();
        for m in models {
            report.records += records(&state, m).count() as u64;
            report.entries += m.indexes.len() as u64;
            let Some(col) = state.get(m.collection) else { continue };
            for (c, (_, held)) in m.counters.iter().filter_map(|c| Some((c, col.counters.get(c.name)?))) {
                let want = col.tally(c)?;
                report.entries += held.len() as u64;
                for group in held.keys().chain(want.keys()).collect::<BTreeSet<_>>() {
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

    /// Recomputes every counter of `models` from the records (the runtime refreshes copies and
    /// lookup index fields first); returns how many indexes and counters.
    async fn rebuild_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        let mut state = self.lock();
        for (m, c) in models.iter().flat_map(|m| m.counters.iter().map(move |c| (m, c))) {
            let col = state.entry(m.collection).or_default();
            let groups = col.tally(c)?.into_iter().map(|(group, (n, _))| (group, n)).collect();
            col.counters.insert(c.name, (c, groups));
        }
        Ok(models.iter().map(|m| (m.indexes.len() + m.counters.len()) as u64).sum())
    }
}

/// One attempt of a transaction, holding no lock while the caller's code runs: `commit` checks
/// under the lock that every read still gives the same, then writes (optimistic, serializable).
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
        let (key, mode) = match (item.key, mode) {
            // Taken now (no other attempt gets it); `Insert`, so a save taking it meanwhile conflicts.
            (None, _) => (state.entry(m.collection).or_default().next_key(), WriteMode::Insert),
            (Some(key), WriteMode::Insert) if s.read(&state, m, &key).is_some() => {
                let e = Error::new(ErrorKind::DuplicateKey, "a record with this key already exists");
                return Err(e.with_model(m.name).with_key(&key));
            }
            // Free (a read, checked at commit): written as given, even over a record this attempt deleted.
            (Some(key), WriteMode::Insert) => (key, WriteMode::Replace),
            (Some(key), mode) => (key, mode),
        };
        s.write(m, key.clone(), Some(item.doc), mode);
        Ok(key)
    }

    async fn tx_delete(&self, s: &mut Session, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        let state = self.lock();
        let existed: Vec<KeyValue> = keys.into_iter().filter(|key| s.read(&state, m, key).is_some()).collect();
        existed.iter().for_each(|key| s.write(m, key.clone(), None, WriteMode::Upsert));
        Ok(existed.len() as u64)
    }

    /// Runs the query on the committed records with the attempt's own writes laid over them;
    /// remembers what the whole query (no offset, no limit) gave on the committed records.
    async fn tx_query(&self, s: &mut Session, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        let state = self.lock();
        let whole = Plan { offset: 0, limit: None, projection: None, ..plan.clone() };
        s.queries.push((m, whole.clone(), run(records(&state, m), &whole)?));
        let mine = s.writes.iter().filter(|w| w.0.collection == m.collection).map(|w| (&w.1, w.2.as_ref()));
        let view: BTreeMap<_, _> = records(&state, m).map(|(key, doc)| (key, Some(doc))).chain(mine).collect();
        run(view.into_iter().filter_map(|(key, doc)| Some((key, doc?))), &plan)
    }

    /// Checks every read, then applies every write (keeping the counters), all under the lock.
    async fn commit(&self, s: Session) -> Result<()> {
        let mut state = self.lock();
        // What the attempt read has changed since: the error kind makes the runtime run it again.
        let conflict = |m: &ModelDesc| {
            Error::new(ErrorKind::Conflict, "changed by a concurrent write since the transaction read it")
                .with_model(m.name)
        };
        if let Some((m, key, _)) = s.reads.iter().find(|(m, key, seen)| get(&state, m, key) != seen.as_ref()) {
            return Err(conflict(m).with_key(key));
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
