//! Optimistic transactions on the embedded backend.
//!
//! redb runs one write transaction at a time. Holding it while a user's closure awaits would
//! stall every other writer for as long as the closure takes (and deadlock a closure that
//! writes outside its transaction), so an attempt holds nothing: it reads committed data as
//! it goes, remembering what it saw, and keeps its writes. Commit takes the write
//! transaction, checks under it that every record and query read still gives exactly what the
//! attempt saw, and writes everything with its index entries in that one transaction. A read
//! that changed is a conflict: the runtime runs the closure again. Because the check and the
//! writes happen under the single writer lock, a committed attempt behaves as if it ran whole
//! at its commit (serializable), which is what makes concurrent read-modify-write exact.

use super::store::{self, open_indexes, open_read, records_table, storage, write_one, Bytes, Store, SEQUENCES};
use super::Redb;
use crate::backend::capability::Transactions;
use crate::backend::{Backend, PutItem, Row, WriteMode};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::eval::{compare_keys, matches_all_keyed, sort_key_keyed};
use crate::plan::Plan;
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;
use redb::{ReadableDatabase, ReadableTable};
use std::collections::HashMap;

type RecordId = (&'static str, Vec<u8>);
/// The rows a query gave: each key and document.
type Seen = Vec<(Option<KeyValue>, Vec<u8>)>;

/// One attempt of an embedded transaction: what it read and what it will write.
#[derive(Default)]
pub struct EmbeddedSession {
    /// Each record read, with the document seen (`None`: absent).
    reads: HashMap<RecordId, (&'static ModelDesc, KeyValue, Option<Vec<u8>>)>,
    /// Each query run, with the rows seen.
    queries: Vec<(&'static ModelDesc, Plan, Seen)>,
    /// Writes in order; a later write of the same record replaces the earlier one.
    writes: Vec<Write>,
    positions: HashMap<RecordId, usize>,
}

struct Write {
    model: &'static ModelDesc,
    key: KeyValue,
    /// The new document, or `None` to delete.
    doc: Option<Vec<u8>>,
    /// An automatic key reserved by the attempt: written with `Insert`, so that a key taken
    /// meanwhile by a save outside the transaction is a conflict, not an overwrite.
    auto: bool,
}

fn conflict(m: &ModelDesc, key: Option<&KeyValue>, what: &str) -> Error {
    let e =
        Error::new(ErrorKind::Conflict, format!("{what} changed by a concurrent write since the transaction read it"))
            .with_model(m.name);
    match key {
        Some(k) => e.with_key(k),
        None => e,
    }
}

impl EmbeddedSession {
    /// The document of a record as the attempt sees it: its own write, what it read before,
    /// or the committed record (then remembered).
    fn lookup(&mut self, store: &Store, m: &'static ModelDesc, key: &KeyValue) -> Result<Option<Vec<u8>>> {
        let id = (m.collection, key.to_storage());
        if let Some(&i) = self.positions.get(&id) {
            return Ok(self.writes[i].doc.clone());
        }
        if let Some((_, _, seen)) = self.reads.get(&id) {
            return Ok(seen.clone());
        }
        let seen = store.get(m, key)?;
        self.reads.insert(id, (m, key.clone(), seen.clone()));
        Ok(seen)
    }

    fn write(&mut self, w: Write) {
        let id = (w.model.collection, w.key.to_storage());
        match self.positions.get(&id) {
            Some(&i) => self.writes[i] = w,
            None => {
                self.positions.insert(id, self.writes.len());
                self.writes.push(w);
            }
        }
    }

    /// The attempt's writes to a collection.
    fn writes_to<'a>(&'a self, m: &'a ModelDesc) -> impl Iterator<Item = &'a Write> + 'a {
        self.writes.iter().filter(move |w| w.model.collection == m.collection)
    }

    /// A query's rows from committed data, with the attempt's own writes laid over them.
    fn overlay(&self, m: &ModelDesc, plan: &Plan, committed: Vec<Row>) -> Result<Vec<Row>> {
        let mine: HashMap<&KeyValue, &Write> = self.writes_to(m).map(|w| (&w.key, w)).collect();
        if mine.is_empty() {
            let rows = committed.into_iter().skip(plan.offset).take(plan.limit.unwrap_or(usize::MAX));
            return rows.map(|r| project(plan, r)).collect();
        }
        let mut rows = Vec::with_capacity(committed.len() + mine.len());
        for r in committed {
            if !r.key.as_ref().is_some_and(|k| mine.contains_key(k)) {
                rows.push((sort_key_keyed(&r.doc, r.key.as_ref(), &plan.order)?, r));
            }
        }
        for w in mine.values() {
            let Some(doc) = &w.doc else { continue };
            if matches_all_keyed(&plan.filters, doc, &w.key)? {
                let row = Row { key: Some(w.key.clone()), doc: doc.clone(), ..Row::default() };
                rows.push((sort_key_keyed(doc, Some(&w.key), &plan.order)?, row));
            }
        }
        rows.sort_by(|(a, ra), (b, rb)| compare_keys(a, b, &plan.order).then_with(|| ra.key.cmp(&rb.key)));
        let rows = rows.into_iter().skip(plan.offset).take(plan.limit.unwrap_or(usize::MAX));
        rows.map(|(_, r)| project(plan, r)).collect()
    }
}

fn project(plan: &Plan, mut row: Row) -> Result<Row> {
    if let Some(p) = &plan.projection {
        row.doc = store::project(&row.doc, p)?;
    }
    Ok(row)
}

/// Reserves an automatic key no committed record and no other attempt holds.
fn reserve(store: &Store, m: &'static ModelDesc) -> Result<KeyValue> {
    let mut reserved = store.reserved.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let tx = store.db.begin_read().map_err(storage)?;
    let sequence = match open_read(&tx, SEQUENCES)? {
        Some(t) => t.get(m.collection).map_err(storage)?.map_or(0, |g| g.value()),
        None => 0,
    };
    let mut n = sequence.max(reserved.get(m.collection).copied().unwrap_or(0));
    let name = records_table(m);
    let records = open_read(&tx, Bytes::new(name))?;
    loop {
        n += 1;
        let taken = match &records {
            Some(t) => t.get(KeyValue::Int(n as i64).to_storage().as_slice()).map_err(storage)?.is_some(),
            None => false,
        };
        if !taken {
            reserved.insert(m.collection, n);
            return Ok(KeyValue::Int(n as i64));
        }
    }
}

/// Checks every read of the attempt against the committed data (called while the commit holds
/// the write transaction, so nothing commits in between).
fn validate(store: &Store, s: &EmbeddedSession) -> Result<()> {
    for (m, key, seen) in s.reads.values() {
        if &store.get(m, key)? != seen {
            return Err(conflict(m, Some(key), "the record"));
        }
    }
    for (m, plan, seen) in &s.queries {
        let now = store.run(m, plan, None)?.0;
        let same = now.len() == seen.len() && now.iter().zip(seen).all(|(r, (k, d))| &r.key == k && &r.doc == d);
        if !same {
            return Err(conflict(m, None, "a query's result"));
        }
    }
    Ok(())
}

/// Sets the denormalized copies of the attempt's writes from the related records as the
/// commit's write transaction sees them, the attempt's own writes first.
fn copies_in_commit(tx: &redb::WriteTransaction, s: &mut EmbeddedSession) -> Result<()> {
    let mut docs = Vec::new();
    for (i, w) in s.writes.iter().enumerate() {
        let Some(doc) = w.doc.as_ref().filter(|_| crate::schema::copies::copies_held_by(w.model).next().is_some())
        else {
            continue;
        };
        let mut doc = doc.clone();
        let mine = |related: &ModelDesc, key: &KeyValue| {
            s.positions.get(&(related.collection, key.to_storage())).map(|&j| s.writes[j].doc.clone())
        };
        store::copies_in_tx(tx, w.model, std::iter::once(&mut doc), None, mine)
            .map_err(|e| e.with_model(w.model.name).with_key(&w.key))?;
        docs.push((i, doc));
    }
    for (i, doc) in docs {
        s.writes[i].doc = Some(doc);
    }
    Ok(())
}

fn commit_sync(store: &Store, mut s: EmbeddedSession) -> Result<()> {
    if s.writes.is_empty() {
        // Read only: one consistent check is enough, no write transaction needed.
        return validate(store, &s);
    }
    let tx = store.db.begin_write().map_err(storage)?;
    validate(store, &s)?;
    copies_in_commit(&tx, &mut s)?;
    let mut models: Vec<&'static ModelDesc> = Vec::new();
    for w in &s.writes {
        if !models.iter().any(|m| std::ptr::eq(*m, w.model)) {
            models.push(w.model);
        }
    }
    let mut changes = store::Changes::default();
    for m in models {
        changes.add(apply(&tx, m, s.writes.iter().filter(|w| std::ptr::eq(w.model, m)))?);
    }
    store.commit_with(tx, changes)
}

/// Writes one model's records and index entries inside the commit's write transaction.
fn apply<'w>(
    tx: &redb::WriteTransaction,
    m: &'static ModelDesc,
    writes: impl Iterator<Item = &'w Write>,
) -> Result<store::Changes> {
    let name = records_table(m);
    let mut records = tx.open_table(Bytes::new(name)).map_err(storage)?;
    let mut indexes = open_indexes(tx, m, &records)?;
    let mut last_auto = 0;
    let mut written = Vec::new();
    for w in writes {
        let at = |e: Error| e.with_model(m.name).with_key(&w.key);
        match &w.doc {
            Some(doc) => {
                let mode = if w.auto { WriteMode::Insert } else { WriteMode::Upsert };
                match write_one(m, &mut records, &mut indexes, &w.key, doc.clone(), mode) {
                    Err(e) if w.auto && e.kind() == ErrorKind::DuplicateKey => {
                        return Err(conflict(m, Some(&w.key), "an automatic key was taken meanwhile; the key"))
                    }
                    other => other.map_err(at)?,
                }
                if let (true, KeyValue::Int(n)) = (w.auto, &w.key) {
                    last_auto = last_auto.max(*n as u64);
                }
                written.push(w.key.clone());
            }
            None => {
                store::remove_one(&mut records, &mut indexes, &w.key.to_storage()).map_err(at)?;
            }
        }
    }
    let changes = indexes.changes();
    drop(indexes);
    drop(records);
    store::note_outbox(tx, m, &written)?;
    if last_auto > 0 {
        let mut sequences = tx.open_table(SEQUENCES).map_err(storage)?;
        let current = sequences.get(m.collection).map_err(storage)?.map_or(0, |g| g.value());
        sequences.insert(m.collection, current.max(last_auto)).map_err(storage)?;
    }
    Ok(changes)
}

impl Transactions for Redb {
    type Session = EmbeddedSession;

    async fn begin(&self) -> Result<EmbeddedSession> {
        Ok(EmbeddedSession::default())
    }

    async fn tx_get(&self, s: &mut EmbeddedSession, m: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        s.lookup(&self.store, m, &key)
    }

    async fn tx_put(
        &self,
        s: &mut EmbeddedSession,
        m: &'static ModelDesc,
        item: PutItem,
        mode: WriteMode,
    ) -> Result<KeyValue> {
        let (key, auto) = match item.key {
            Some(k) => (k, false),
            None => loop {
                // A key this attempt wrote (or deleted) is not free either: reserve past it.
                let key = reserve(&self.store, m)?;
                if !s.positions.contains_key(&(m.collection, key.to_storage())) {
                    break (key, true);
                }
            },
        };
        // An insert reads the key: its absence is then checked again at commit.
        if mode == WriteMode::Insert && !auto && s.lookup(&self.store, m, &key)?.is_some() {
            let e = Error::new(ErrorKind::DuplicateKey, "a record with this key already exists");
            return Err(e.with_model(m.name).with_key(&key));
        }
        s.write(Write { model: m, key: key.clone(), doc: Some(item.doc), auto });
        Ok(key)
    }

    async fn tx_delete(&self, s: &mut EmbeddedSession, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        let mut existed = 0;
        for key in keys {
            if s.lookup(&self.store, m, &key)?.is_some() {
                existed += 1;
                s.write(Write { model: m, key, doc: None, auto: false });
            }
        }
        Ok(existed)
    }

    async fn tx_query(&self, s: &mut EmbeddedSession, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        // Enough committed rows that the attempt's own writes cannot push a wanted row out.
        let mine = s.writes_to(m).count();
        let committed_plan = Plan {
            offset: 0,
            limit: plan.limit.map(|l| l.saturating_add(plan.offset).saturating_add(mine)),
            projection: None,
            ..plan.clone()
        };
        let committed = self.query(m, committed_plan.clone()).await?;
        let seen = committed.iter().map(|r| (r.key.clone(), r.doc.clone())).collect();
        s.queries.push((m, committed_plan, seen));
        s.overlay(m, &plan, committed)
    }

    async fn commit(&self, s: EmbeddedSession) -> Result<()> {
        self.blocking(move |store| commit_sync(store, s)).await
    }

    async fn abort(&self, _s: EmbeddedSession) {}
}
