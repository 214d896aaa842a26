//! The synchronous redb operations behind the embedded backend.

use super::append::{Appends, BATCH};
use super::blocks;
use super::index::{self, Source};
pub(super) use super::tables::{
    counts_table, index_table, open_read, records_table, storage, Bytes, RecordsTable, StoredKey, BUILT, SEQUENCES,
};
use crate::backend::{
    IntegrityProblem, IntegrityReport, PutItem, Row, RowRef, SwapItem, Swapped, UpdateCounts, UpdateOp, Visit,
    WriteMode,
};
use crate::core::codec::{self, Elements};
use crate::error::{Error, ErrorKind, Result};
pub(super) use crate::plan::eval::project;
use crate::plan::eval::{compare_keys, matches_all_keyed, sort_key_keyed};
use crate::plan::join::Selection;
use crate::plan::Plan;
use crate::schema::key::KeyValue;
use crate::schema::model::{IndexDesc, ModelDesc};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, Table};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// Whether an index table holds any entry of a type class (an error counts as holding one,
/// which only keeps the index from serving what it might not answer exactly).
pub(super) fn holds_class(table: &impl ReadableTable<StoredKey, &'static [u8]>, tag: u8) -> bool {
    let class = index::class_of(tag);
    table.range::<&[u8]>(index::bounds(&class)).map_or(true, |mut r| r.next().is_some())
}

/// [`holds_class`] for an index of a read transaction (a missing table holds nothing).
/// Counts the entries of an index's ranges up to a cap, opening its table.
pub(super) fn count_opening(
    tx: &redb::ReadTransaction,
    m: &ModelDesc,
    idx: &IndexDesc,
    ranges: &[index::KeyRange],
    cap: usize,
) -> Result<usize> {
    match open_read(tx, Bytes::new(index_table(m, idx)))? {
        Some(table) => index::count_in(&table, ranges, cap),
        None => Ok(0),
    }
}

pub(super) fn index_holds(tx: &redb::ReadTransaction, m: &ModelDesc, idx: &IndexDesc, tag: u8) -> bool {
    let name = index_table(m, idx);
    match open_read(tx, Bytes::new(name)) {
        Ok(Some(table)) => holds_class(&table, tag),
        Ok(None) => false,
        Err(_) => true,
    }
}

/// The redb database with nonrel's table layout: one table of records per collection (key
/// bytes to BSON), one table per declared index (value and key bytes; see
/// [`index::entry_value`] for what an entry holds).
pub(crate) struct Store {
    pub(crate) db: redb::Database,
    /// Automatic keys handed to transactions not committed yet, by collection.
    pub(super) reserved: std::sync::Mutex<std::collections::HashMap<&'static str, u64>>,
    /// What reads learned about the index tables, kept until the next commit.
    catalog: Catalog,
}

/// What a query learns about the index tables before reading them (whether an index is
/// filled, whether it holds entries of a type class), kept for the queries that follow until
/// a write commits. Every commit goes through [`Store::commit`], which moves the epoch on
/// before and after it; a read transaction begun while the epoch stayed even and unchanged
/// sees the database as of that epoch, so what was learned at that epoch holds for it.
#[derive(Default)]
struct Catalog {
    /// Odd while a commit is under way.
    epoch: std::sync::atomic::AtomicU64,
    /// Commits one at a time, so the epoch's two steps around each never interleave.
    committing: std::sync::Mutex<()>,
    /// The epoch the facts hold at, and the facts.
    facts: std::sync::Mutex<(u64, Facts)>,
    /// The last read transaction begun at an even epoch, with the tables opened in it:
    /// reads at that epoch share it (nothing was written since) and find their tables
    /// open. Dropped by the next commit.
    snapshot: std::sync::Mutex<Option<std::sync::Arc<Snapshot>>>,
    /// The changes to counted indexes' blocks committed but not written to their tables, and
    /// the epoch they hold at (set by every commit).
    held: std::sync::Mutex<(u64, std::sync::Arc<blocks::Held>)>,
    /// The counts tables whose held marker is in the file.
    marked: std::sync::Mutex<HashSet<&'static str>>,
}

/// Held changes to blocks are written to their tables once they number this many.
const HOLD_UP_TO: usize = 256;

/// What a write transaction changed in counted indexes' blocks (by counts table), handed to
/// [`Store::commit_with`].
#[derive(Default)]
pub(super) struct Changes {
    blocks: Vec<(&'static str, blocks::Pending)>,
    /// Counts tables recounted in the transaction: the changes held for them are void.
    recounted: Vec<&'static str>,
    /// Write every held change to its table (closing the database).
    write_all: bool,
}

impl Changes {
    pub(super) fn add(&mut self, other: Changes) {
        for (name, pending) in other.blocks {
            match self.blocks.iter_mut().find(|(n, _)| *n == name) {
                Some((_, mine)) => pending.into_iter().for_each(|(b, d)| *mine.entry(b).or_insert(0) += d),
                None => self.blocks.push((name, pending)),
            }
        }
        self.recounted.extend(other.recounted);
    }
}

/// A read transaction and the records and index tables opened in it.
pub(super) struct Snapshot {
    tx: redb::ReadTransaction,
    /// The epoch it sees the database at (`None`: a commit may have landed while it began).
    epoch: Option<u64>,
    /// Tables by name (`None`: never written), opened once each.
    tables: std::sync::Mutex<Vec<(&'static str, Shared)>>,
}

/// What is known of the index tables at one epoch (keys are addresses: a word hasher).
type Facts = HashMap<Fact, bool, std::hash::BuildHasherDefault<super::tables::Words>>;

/// A fact about an index table (the index named by its static descriptor's address).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Fact {
    /// Its entries cover every record.
    Built(usize),
    /// It holds an entry of the type class with this tag.
    Holds(usize, u8),
}

/// A read transaction, shared or not (its snapshot's epoch says at which epoch it sees the
/// database; `None`: a commit may have landed while it began, so nothing learned is reused).
pub(super) struct Read {
    snapshot: std::sync::Arc<Snapshot>,
}

impl Read {
    /// The epoch the transaction sees the database at, if known.
    fn epoch(&self) -> Option<u64> {
        self.snapshot.epoch
    }

    /// The read transaction.
    pub(super) fn tx(&self) -> &redb::ReadTransaction {
        &self.snapshot.tx
    }

    /// A records or index table open in the read transaction (`None`: never written),
    /// opened once for every read that shares the transaction.
    pub(super) fn table(&self, name: &'static str) -> Result<Option<std::sync::Arc<Index>>> {
        let mut tables = self.snapshot.tables.lock().unwrap_or_else(|e| e.into_inner());
        // Names are formatted once per process (`records_table`, `index_table`): the same
        // table is the same text.
        if let Some((_, t)) = tables.iter().find(|(n, _)| std::ptr::eq(*n, name) || *n == name) {
            return Ok(t.clone());
        }
        let table = open_read(self.tx(), Bytes::new(name))?.map(std::sync::Arc::new);
        tables.push((name, table.clone()));
        Ok(table)
    }
}

/// Closing the database writes the changes to counted indexes' blocks held in memory (a
/// failure here leaves their held markers, and the next open recounts them).
impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.write_held_counts();
    }
}

impl Store {
    pub(crate) fn new(db: redb::Database) -> Self {
        Store { db, reserved: Default::default(), catalog: Catalog::default() }
    }

    /// Commits a write transaction (every write of the store commits here).
    pub(super) fn commit(&self, tx: redb::WriteTransaction) -> Result<()> {
        self.commit_with(tx, Changes::default())
    }

    /// Commits a write transaction that changed counted indexes' blocks: the changes are
    /// held in memory once it commits, unless the changes held reach [`HOLD_UP_TO`] blocks
    /// (or `changes` asks), when this transaction writes them all to their tables. While a
    /// table has changes only in memory, its held marker is in the file.
    pub(super) fn commit_with(&self, tx: redb::WriteTransaction, changes: Changes) -> Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        // Write transactions run one at a time: nothing else changes what is held meanwhile.
        let touches = !changes.blocks.is_empty() || !changes.recounted.is_empty() || changes.write_all;
        let update = if touches { Some(self.stage_held(&tx, changes)?) } else { None };
        let _one = self.catalog.committing.lock().unwrap_or_else(|e| e.into_inner());
        self.catalog.epoch.fetch_add(1, SeqCst);
        let done = tx.commit().map_err(storage);
        let epoch = self.catalog.epoch.fetch_add(1, SeqCst) + 1;
        {
            let mut kept = self.catalog.held.lock().unwrap_or_else(|e| e.into_inner());
            if let (Some((held, marked)), true) = (update, done.is_ok()) {
                kept.1 = std::sync::Arc::new(held);
                *self.catalog.marked.lock().unwrap_or_else(|e| e.into_inner()) = marked;
            }
            kept.0 = epoch;
        }
        // The kept read transaction shows the database before this commit: dropped, so the
        // pages it holds can be reused (reads still using it finish with it).
        let kept = self.catalog.snapshot.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(kept);
        done
    }

    /// The changes held in memory once `tx` commits with `changes`, and the counts tables
    /// then marked as holding changes in memory: writes them all to their tables in `tx`
    /// when they reach [`HOLD_UP_TO`] blocks (or `changes` asks), and sets or removes the
    /// held markers in `tx` to match.
    fn stage_held(
        &self,
        tx: &redb::WriteTransaction,
        changes: Changes,
    ) -> Result<(blocks::Held, HashSet<&'static str>)> {
        let mut held: blocks::Held = (*self.catalog.held.lock().unwrap_or_else(|e| e.into_inner()).1).clone();
        held.retain(|(name, _)| !changes.recounted.contains(name));
        for (name, pending) in &changes.blocks {
            match held.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => blocks::merge(mine, pending),
                None => {
                    let mut mine = Vec::new();
                    blocks::merge(&mut mine, pending);
                    held.push((name, mine));
                }
            }
        }
        held.retain(|(_, blocks)| !blocks.is_empty());
        let size: usize = held.iter().map(|(_, b)| b.len()).sum();
        if changes.write_all || size > HOLD_UP_TO {
            for (name, blocks) in held.drain(..) {
                let mut table = tx.open_table(Bytes::new(name)).map_err(storage)?;
                blocks::write(name, &mut table, blocks)?;
            }
        }
        let marked = self.catalog.marked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let now: HashSet<&'static str> = held.iter().map(|(n, _)| *n).collect();
        if now != marked {
            let mut built = tx.open_table(BUILT).map_err(storage)?;
            for name in marked.difference(&now) {
                built.remove(blocks::held_marker(name).as_str()).map_err(storage)?;
            }
            for name in now.difference(&marked) {
                built.insert(blocks::held_marker(name).as_str(), 1).map_err(storage)?;
            }
        }
        Ok((held, now))
    }

    /// The changes to blocks held in memory at the epoch `read` sees (`None`: unknown, so a
    /// count reads entries).
    pub(super) fn held_at(&self, read: &Read) -> Option<std::sync::Arc<blocks::Held>> {
        let epoch = read.epoch()?;
        let held = self.catalog.held.lock().unwrap_or_else(|e| e.into_inner());
        (held.0 == epoch).then(|| held.1.clone())
    }

    /// Writes every change held in memory to the counts tables (when the database closes).
    pub(crate) fn write_held_counts(&self) -> Result<()> {
        let empty = self.catalog.held.lock().unwrap_or_else(|e| e.into_inner()).1.is_empty();
        if empty {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(storage)?;
        self.commit_with(tx, Changes { write_all: true, ..Changes::default() })
    }

    /// A read transaction, noting the epoch it sees: the one kept at this epoch when
    /// nothing was written since it began, else a new one (kept for the reads after it when
    /// no commit landed while it began).
    pub(super) fn read(&self) -> Result<Read> {
        use std::sync::atomic::Ordering::SeqCst;
        let before = self.catalog.epoch.load(SeqCst);
        if before.is_multiple_of(2) {
            let kept = self.catalog.snapshot.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(snapshot) = kept.as_ref().filter(|s| s.epoch == Some(before)) {
                return Ok(Read { snapshot: snapshot.clone() });
            }
        }
        let tx = self.db.begin_read().map_err(storage)?;
        let after = self.catalog.epoch.load(SeqCst);
        let epoch = (before == after && before.is_multiple_of(2)).then_some(before);
        let snapshot = std::sync::Arc::new(Snapshot { tx, epoch, tables: Default::default() });
        if epoch.is_some() {
            let replaced = self.catalog.snapshot.lock().unwrap_or_else(|e| e.into_inner()).replace(snapshot.clone());
            drop(replaced);
        }
        Ok(Read { snapshot })
    }

    /// A fact learned at the epoch `read` sees, if any.
    fn known(&self, read: &Read, fact: Fact) -> Option<bool> {
        let epoch = read.epoch()?;
        let facts = self.catalog.facts.lock().unwrap_or_else(|e| e.into_inner());
        if facts.0 == epoch {
            facts.1.get(&fact).copied()
        } else {
            None
        }
    }

    /// Keeps a fact `read` found, for the reads at its epoch.
    fn learn(&self, read: &Read, fact: Fact, value: bool) {
        let Some(epoch) = read.epoch() else { return };
        let mut facts = self.catalog.facts.lock().unwrap_or_else(|e| e.into_inner());
        if facts.0 < epoch {
            *facts = (epoch, HashMap::default());
        }
        if facts.0 == epoch {
            facts.1.insert(fact, value);
        }
    }

    /// The indexes of `m` a query may read ([`usable_indexes`] of a database with records).
    pub(super) fn built(&self, read: &Read, m: &ModelDesc) -> Result<Built> {
        let mut out = Vec::with_capacity(m.indexes.len());
        for idx in m.indexes {
            match self.known(read, Fact::Built(idx as *const IndexDesc as usize)) {
                Some(true) => out.push(idx.path),
                Some(false) => {}
                None => {
                    let built = built_set(read.tx(), m)?;
                    for idx in m.indexes {
                        self.learn(read, Fact::Built(idx as *const IndexDesc as usize), built.contains(&idx.path));
                    }
                    return Ok(built);
                }
            }
        }
        Ok(out)
    }

    /// Whether index `idx` (its table open in `read` as `table`) holds an entry of the type
    /// class `tag` ([`holds_class`]).
    /// [`Store::holds`] for a caller without the index table open: a fact already learned at
    /// `read`'s epoch opens nothing.
    pub(super) fn holds_opening(&self, read: &Read, m: &ModelDesc, idx: &IndexDesc, tag: u8) -> bool {
        if let Some(known) = self.known(read, Fact::Holds(idx as *const IndexDesc as usize, tag)) {
            return known;
        }
        match read.table(index_table(m, idx)) {
            Ok(Some(table)) => self.holds(read, idx, &table, tag),
            Ok(None) => false,
            // As `index_holds`: an error counts as holding one.
            Err(_) => true,
        }
    }

    fn holds(&self, read: &Read, idx: &IndexDesc, table: &Index, tag: u8) -> bool {
        let fact = Fact::Holds(idx as *const IndexDesc as usize, tag);
        if let Some(known) = self.known(read, fact) {
            return known;
        }
        let class = index::class_of(tag);
        match table.range::<&[u8]>(index::bounds(&class)) {
            Ok(mut entries) => {
                let holds = entries.next().is_some();
                self.learn(read, fact, holds);
                holds
            }
            Err(_) => true,
        }
    }

    pub(crate) fn put(&self, m: &'static ModelDesc, mut items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        let tx = self.db.begin_write().map_err(storage)?;
        copies_in_tx(&tx, m, items.iter_mut().map(|i| &mut i.doc), None, |_, _| None)?;
        let (keys, changes) = {
            let name = records_table(m);
            let mut records = tx.open_table(Bytes::new(name)).map_err(storage)?;
            let mut indexes = open_indexes(&tx, m, &records)?;
            let mut sequences = tx.open_table(SEQUENCES).map_err(storage)?;
            let mut keys = Vec::with_capacity(items.len());
            // Many new records past the greatest key are held and written in key order.
            let mut appends = match items.len() >= BATCH {
                true => Some(Appends::new(&records, indexes.len())?),
                false => None,
            };
            for (i, item) in items.into_iter().enumerate() {
                let key = match item.key {
                    Some(k) => k,
                    None => next_key(m, &mut sequences, &records, |pk| appends.as_ref().is_some_and(|a| a.holds(pk)))?,
                };
                let at = |e: Error| e.with_model(m.name).with_key(&key).with_item(i);
                match &mut appends {
                    Some(a) => {
                        let pk = key.to_storage();
                        // A key at or below the greatest may name a stored record: written as it
                        // comes, after what is held (an earlier item may be that record).
                        if a.takes(&pk) {
                            hold_one(m, &mut indexes, a, i, pk, item.doc).map_err(at)?;
                            if a.full() {
                                write_held(m, a, &mut records, &mut indexes)?;
                            }
                        } else {
                            write_held(m, a, &mut records, &mut indexes)?;
                            write_one(m, &mut records, &mut indexes, &key, item.doc, mode).map_err(at)?;
                        }
                    }
                    None => write_one(m, &mut records, &mut indexes, &key, item.doc, mode).map_err(at)?,
                }
                keys.push(key);
            }
            if let Some(a) = &mut appends {
                write_held(m, a, &mut records, &mut indexes)?;
            }
            (keys, indexes.changes())
        };
        note_outbox(&tx, m, &keys)?;
        self.commit_with(tx, changes)?;
        Ok(keys)
    }

    /// Writes each item only if its record still holds the expected document, compared in
    /// the write transaction, so nothing commits between the comparison and the write.
    pub(crate) fn swap(&self, m: &'static ModelDesc, mut items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
        let tx = self.db.begin_write().map_err(storage)?;
        copies_in_tx(&tx, m, items.iter_mut().filter_map(|i| i.doc.as_mut()), None, |_, _| None)?;
        let mut out = Vec::with_capacity(items.len());
        let changes = {
            let name = records_table(m);
            let mut records = tx.open_table(Bytes::new(name)).map_err(storage)?;
            let mut indexes = open_indexes(&tx, m, &records)?;
            for item in items {
                let pk = item.key.to_storage();
                let current = records.get(pk.as_slice()).map_err(storage)?.map(|g| g.value().to_vec());
                out.push(match current {
                    None => Swapped::Missing,
                    Some(now) if now != item.expected => Swapped::Changed(now),
                    Some(_) => {
                        let at = |e: Error| e.with_model(m.name).with_key(&item.key);
                        match item.doc {
                            Some(doc) => write_one(m, &mut records, &mut indexes, &item.key, doc, WriteMode::Upsert),
                            None => remove_one(&mut records, &mut indexes, &pk).map(|_| ()),
                        }
                        .map_err(at)?;
                        Swapped::Written
                    }
                });
            }
            indexes.changes()
        };
        self.commit_with(tx, changes)?;
        Ok(out)
    }

    pub(crate) fn get(&self, m: &ModelDesc, key: &KeyValue) -> Result<Option<Vec<u8>>> {
        let Some(table) = self.read()?.table(records_table(m))? else { return Ok(None) };
        key.with_storage(|pk| Ok(table.get(pk).map_err(storage)?.map(|g| g.value().to_vec())))
    }

    pub(crate) fn get_many(&self, m: &ModelDesc, keys: &[KeyValue]) -> Result<Vec<Option<Vec<u8>>>> {
        let Some(table) = self.read()?.table(records_table(m))? else { return Ok(vec![None; keys.len()]) };
        let mut pk = Vec::with_capacity(16);
        keys.iter()
            .map(|k| {
                k.write_storage(&mut pk);
                Ok(table.get(pk.as_slice()).map_err(storage)?.map(|g| g.value().to_vec()))
            })
            .collect()
    }

    pub(crate) fn delete(&self, m: &'static ModelDesc, keys: &[KeyValue]) -> Result<u64> {
        let tx = self.db.begin_write().map_err(storage)?;
        let mut removed = 0;
        let changes = {
            let name = records_table(m);
            let mut records = tx.open_table(Bytes::new(name)).map_err(storage)?;
            let mut indexes = open_indexes(&tx, m, &records)?;
            for key in keys {
                removed += u64::from(remove_one(&mut records, &mut indexes, &key.to_storage())?);
            }
            indexes.changes()
        };
        self.commit_with(tx, changes)?;
        Ok(removed)
    }

    /// Runs a plan; `upto` makes it a bounded count (no documents kept).
    pub(crate) fn run(&self, m: &'static ModelDesc, plan: &Plan, count_upto: Option<u64>) -> Result<(Vec<Row>, u64)> {
        self.run_reading(m, plan, count_upto, None).map(|(rows, matched, _)| (rows, matched))
    }

    /// [`run`](Self::run), with what it read: index entries (or records, in a scan or a key
    /// range), and documents checked or returned.
    /// With a `sink`, each matching record's document goes to it (once) instead of the rows.
    pub(super) fn run_reading<'p>(
        &self,
        m: &'static ModelDesc,
        plan: &'p Plan,
        count_upto: Option<u64>,
        sink: Option<Sink<'p>>,
    ) -> Result<(Vec<Row>, u64, Reading)> {
        self.run_in(&self.read()?, m, plan, count_upto, sink)
    }

    /// Runs a plan and fills each row's related selections (each a `Ref` to one record) in
    /// the same read transaction: every row's reference read from its document, then its
    /// record by key from the related records table, opened once per selection.
    pub(crate) fn run_related(&self, m: &'static ModelDesc, plan: &Plan, related: &[Selection]) -> Result<Vec<Row>> {
        let read = self.read()?;
        let (mut rows, _, _) = self.run_in(&read, m, plan, None, None)?;
        if rows.is_empty() {
            return Ok(rows);
        }
        let tables = related.iter().map(|s| read.table(records_table(s.related()))).collect::<Result<Vec<_>>>()?;
        let mut pk = Vec::with_capacity(16);
        for row in &mut rows {
            if row.related.is_empty() {
                row.related = Vec::with_capacity(related.len());
            }
            for (s, table) in related.iter().zip(&tables) {
                let key = crate::backend::copies::ref_key(&row.doc, s.reference())?;
                let mut found = None;
                if let (Some(key), Some(table)) = (key, table) {
                    key.write_storage(&mut pk);
                    if let Some(guard) = table.get(pk.as_slice()).map_err(storage)? {
                        let doc = match s.projection() {
                            Some(p) => project(guard.value(), p)?,
                            None => guard.value().to_vec(),
                        };
                        found = Some(Row { key: Some(key), doc, ..Row::default() });
                    }
                }
                // A list of exactly one row (or none), allocated once.
                row.related.push((s.reference().to_owned(), found.map_or_else(Vec::new, |r| vec![r])));
            }
        }
        Ok(rows)
    }

    /// Runs a plan and hands each row, then its related selections (each a `Ref` to one
    /// record), to `visit` in the same read transaction, every document read in place: the
    /// rows' documents are kept one after another in one buffer until they are in order, the
    /// related records are read by key from their tables, opened once per selection, and
    /// given as redb holds them (projected when the selection asks).
    pub(crate) fn visit_related(
        &self,
        m: &'static ModelDesc,
        plan: &Plan,
        related: &[Selection],
        visit: &mut dyn FnMut(Visit<'_>) -> Result<()>,
    ) -> Result<()> {
        let read = self.read()?;
        let mut run = Run::new(plan, None);
        let (rows, arena, keys) = VISIT_BUFFERS.take();
        (run.rows, run.arena, run.keys) = (rows, Some(arena), keys);
        let visited = self.visit_run(&read, m, plan, related, &mut run, visit);
        // The buffers go back for the next visit on this thread, emptied, unless large.
        let (mut rows, mut arena, mut keys) =
            (std::mem::take(&mut run.rows), run.arena.take().unwrap_or_default(), std::mem::take(&mut run.keys));
        if rows.capacity() <= 1024 && arena.capacity() <= 256 << 10 && keys.capacity() <= 4096 {
            rows.clear();
            arena.clear();
            keys.clear();
            VISIT_BUFFERS.set((rows, arena, keys));
        }
        visited
    }

    /// [`visit_related`](Self::visit_related) with the run to fill.
    fn visit_run<'p>(
        &self,
        read: &Read,
        m: &'static ModelDesc,
        plan: &'p Plan,
        related: &[Selection],
        run: &mut Run<'p>,
        visit: &mut dyn FnMut(Visit<'_>) -> Result<()>,
    ) -> Result<()> {
        let tables = related.iter().map(|s| read.table(records_table(s.related()))).collect::<Result<Vec<_>>>()?;
        let mut pk = Vec::with_capacity(16);
        let mut emit = |out: Streamed<'_>| -> Result<()> {
            let (key, doc) = match out {
                Streamed::Expect(n) => return visit(Visit::Rows(n)),
                Streamed::Row(key, doc) => (key, doc),
            };
            visit(Visit::Row(RowRef { key: Some(key), doc }))?;
            for (s, table) in related.iter().zip(&tables) {
                let found = match (crate::backend::copies::ref_key(doc, s.reference())?, table) {
                    (Some(key), Some(table)) => {
                        key.write_storage(&mut pk);
                        table.get(pk.as_slice()).map_err(storage)?.map(|guard| (key, guard))
                    }
                    _ => None,
                };
                match (&found, s.projection()) {
                    (Some((key, guard)), Some(p)) => {
                        let doc = project(guard.value(), p)?;
                        visit(Visit::Related(Some(RowRef { key: Some(key), doc: &doc })))?;
                    }
                    (Some((key, guard)), None) => {
                        visit(Visit::Related(Some(RowRef { key: Some(key), doc: guard.value() })))?
                    }
                    (None, _) => visit(Visit::Related(None))?,
                }
            }
            Ok(())
        };
        if self.collect(read, m, plan, None, run, Some(&mut emit))?.is_some() {
            return Ok(());
        }
        let limit = plan.limit.unwrap_or(usize::MAX);
        emit(Streamed::Expect(run.rows.len().saturating_sub(plan.offset).min(limit)))?;
        run.finish_in_place(|key, doc| emit(Streamed::Row(key, doc)))
    }

    /// [`run_reading`](Self::run_reading) in a read transaction begun by the caller.
    fn run_in<'p>(
        &self,
        read: &Read,
        m: &'static ModelDesc,
        plan: &'p Plan,
        count_upto: Option<u64>,
        sink: Option<Sink<'p>>,
    ) -> Result<(Vec<Row>, u64, Reading)> {
        let mut run = Run::new(plan, count_upto);
        run.sink = sink;
        if let Some((n, reading)) = self.collect(read, m, plan, count_upto, &mut run, None)? {
            return Ok((Vec::new(), n, reading));
        }
        let reading = Reading { entries: run.read, docs: run.docs };
        Ok((run.finish(), run.matched, reading))
    }

    /// Offers `run` the candidates of a plan, read in a read transaction begun by the caller;
    /// `Some` when the answer came without them (a count from a counter or from index
    /// entries, or nothing to read: what was counted and read).
    fn collect<'p>(
        &self,
        read: &Read,
        m: &'static ModelDesc,
        plan: &'p Plan,
        count_upto: Option<u64>,
        run: &mut Run<'p>,
        stream: Option<Stream<'_>>,
    ) -> Result<Option<(u64, Reading)>> {
        let tx = read.tx();
        if let Some((upto, (_, n, groups))) = count_upto.zip(self.counted(tx, m, plan)?) {
            return Ok(Some((n.min(upto), Reading { entries: groups, docs: 0 })));
        }
        let name = records_table(m);
        let built = self.built(read, m)?;
        // The index tables the choice looks into stay open for the read (opened once each;
        // `None`: never written).
        let opened: std::cell::RefCell<Vec<(*const IndexDesc, Shared)>> = Default::default();
        let at = |i: &IndexDesc| -> Result<usize> {
            let mut opened = opened.borrow_mut();
            if let Some(at) = opened.iter().position(|(d, _)| std::ptr::eq(*d, i)) {
                return Ok(at);
            }
            let table = read.table(index_table(m, i))?;
            opened.push((i, table));
            Ok(opened.len() - 1)
        };
        let holds = |i: &IndexDesc, tag| match at(i) {
            Ok(at) => opened.borrow()[at].1.as_ref().is_some_and(|t| self.holds(read, i, t, tag)),
            // As `index_holds`: an error counts as holding one.
            Err(_) => true,
        };
        let count = |i: &IndexDesc, ranges: &[index::KeyRange], cap: usize| {
            let at = at(i)?;
            match &opened.borrow()[at].1 {
                Some(table) => index::count_in(&**table, ranges, cap),
                None => Ok(0),
            }
        };
        let records = read.table(name)?;
        let count_keys = |ranges: &[index::KeyRange], cap: usize| match &records {
            Some(table) => index::count_in(&**table, ranges, cap),
            None => Ok(0),
        };
        let source = index::choose_with_keys(m, plan, |i| built.contains(&i.path), holds, count, count_keys)?;
        let mut opened = opened.into_inner();
        // A covering index holds the documents: the records table is not read.
        let covering = matches!(&source, Source::Index { index, .. } if index.covering);
        let records = if covering { None } else { records };
        if records.is_none() && !covering {
            return Ok(Some((0, Reading { entries: 0, docs: 0 })));
        }
        if matches!(source, Source::Scan) {
            super::lookup::check_filled(m, plan, &built)?;
        }
        // Records read in key order are in the plan's order when it is ordered by the key.
        let by_key = plan.order.first().is_none_or(|o| o.path == crate::plan::KEY);
        match source {
            Source::Scan => {
                run.in_order = by_key;
                let reverse = plan.order.first().is_some_and(|o| o.direction == crate::plan::Direction::Desc);
                let records = records.as_ref().expect("a scan reads the records table");
                let all = records.iter().map_err(storage)?;
                let items: Box<dyn Iterator<Item = _>> =
                    if by_key && reverse { Box::new(all.rev()) } else { Box::new(all) };
                for item in items {
                    let (k, v) = item.map_err(storage)?;
                    run.read += 1;
                    if run.offer(k.value(), v.value())? {
                        break;
                    }
                }
            }
            Source::Keys { ranges, reverse, served } => {
                run.in_order = by_key;
                run.filters = index::residual(plan, &served);
                let records = records.as_ref().expect("a key range reads the records table");
                // Every condition answered by the ranges: a count counts the entries, reading
                // no document.
                if let (true, Some(upto)) = (run.filters.is_empty(), count_upto) {
                    return count_entries(&**records, &ranges, upto).map(|(_, n, r)| Some((n, r)));
                }
                let ordered: Box<dyn Iterator<Item = &index::KeyRange>> =
                    if reverse { Box::new(ranges.iter().rev()) } else { Box::new(ranges.iter()) };
                'keys: for range in ordered {
                    let range = records.range::<&[u8]>(index::bounds(range)).map_err(storage)?;
                    let items: Box<dyn Iterator<Item = _>> =
                        if reverse { Box::new(range.rev()) } else { Box::new(range) };
                    for item in items {
                        let (k, v) = item.map_err(storage)?;
                        run.read += 1;
                        if run.offer(k.value(), v.value())? {
                            break 'keys;
                        }
                    }
                }
            }
            Source::Index { index, ranges, ordered, reverse, served, distinct, key_order } => {
                // One value of an index lists its records in key order.
                run.in_order = if plan.order.is_empty() { key_order } else { ordered && plan.order.len() == 1 };
                run.filters = index::residual(plan, &served);
                let exact = run.filters.is_empty();
                let table = match opened.iter().position(|(d, _)| std::ptr::eq(*d, index)) {
                    Some(at) => opened.swap_remove(at).1,
                    None => read.table(index_table(m, index))?,
                };
                let Some(table) = table else { return Ok(Some((0, Reading { entries: 0, docs: 0 }))) };
                // A record with several entries in the ranges is read once: rows kept whole
                // are told apart after sorting (equal keys are then adjacent); a count or a
                // limit, which stop reading early, keep the keys seen.
                if let (true, Some(upto)) = (exact && distinct, count_upto) {
                    // A counted index adds up its blocks, unless a few entries answer.
                    let name = counts_table(m, index);
                    let held = match index.counted && upto > COUNT_IN_BLOCKS_PAST {
                        true => self.held_at(read),
                        false => None,
                    };
                    let counts = match held {
                        Some(held) => read.table(name)?.map(|t| (t, held)),
                        None => None,
                    };
                    if let Some((counts, held)) = counts {
                        let changes = blocks::held_for(&held, name);
                        let (mut n, mut read) = (0, 0);
                        for range in &ranges {
                            let (c, r) = blocks::count(index, &*table, &*counts, changes, range)?;
                            n += c;
                            read += r;
                        }
                        return Ok(Some((n.min(upto), Reading { entries: read, docs: 0 })));
                    }
                    return count_entries(&*table, &ranges, upto).map(|(_, n, r)| Some((n, r)));
                }
                // Rows wanted in key order, handed over as they are read: the keys first,
                // sorted once, then each record by key, read in place.
                if let (Some(stream), Some(records), true) = (stream, &records, plan.order.is_empty()) {
                    stream_by_key(index, &table, &ranges, key_order, records, run, stream)?;
                    return Ok(Some((run.matched, Reading { entries: run.read, docs: run.docs })));
                }
                run.dedup = !distinct;
                let track = !distinct && (count_upto.is_some() || plan.limit.is_some() || run.sink.is_some());
                let mut seen = HashSet::new();
                'ranges: for range in &ranges {
                    let point = index::point_of(range);
                    let range = table.range::<&[u8]>(index::bounds(range)).map_err(storage)?;
                    let entries: Box<dyn Iterator<Item = _>> =
                        if reverse { Box::new(range.rev()) } else { Box::new(range) };
                    for entry in entries {
                        let (key, value) = entry.map_err(storage)?;
                        run.read += 1;
                        let (pk, inline) = index::read_entry_at(index, point, key.value(), value.value())?;
                        if track && !seen.insert(pk.to_vec()) {
                            continue;
                        }
                        let done = if exact && count_upto.is_some() {
                            run.count_only()
                        } else {
                            let doc = match (inline, &records) {
                                (Some(doc), _) => Doc::Entry(doc),
                                (None, Some(records)) => match records.get(pk).map_err(storage)? {
                                    Some(guard) => Doc::Record(guard),
                                    None => continue,
                                },
                                (None, None) => return Err(index::corrupt_entry(index, "does not hold a document")),
                            };
                            run.offer(pk, doc.bytes())?
                        };
                        if done {
                            break 'ranges;
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// A count a declared counter answers (see `counter::answer`).
    fn counted(
        &self,
        tx: &redb::ReadTransaction,
        m: &'static ModelDesc,
        plan: &Plan,
    ) -> Result<Option<(&'static str, u64, u64)>> {
        if m.counters.is_empty() {
            return Ok(None);
        }
        super::counter::answer(tx, m, plan)
    }

    /// Applies update operations to every matching record in one write transaction.
    pub(crate) fn update(&self, m: &'static ModelDesc, plan: &Plan, ops: &[UpdateOp]) -> Result<UpdateCounts> {
        let tx = self.db.begin_write().map_err(storage)?;
        let mut counts = UpdateCounts::default();
        let mut changed = Vec::new();
        let sets_ref = crate::backend::copies::sets_copied_ref(m, ops);
        let changes = {
            let name = records_table(m);
            let mut records = tx.open_table(Bytes::new(name)).map_err(storage)?;
            let mut indexes = open_indexes(&tx, m, &records)?;
            for pk in candidates(m, plan, &records, &indexes)? {
                let Some(old) = records.get(pk.as_slice()).map_err(storage)?.map(|g| g.value().to_vec()) else {
                    continue;
                };
                let key = KeyValue::from_storage(&pk)?;
                if !matches_all_keyed(&plan.filters, &old, &key).map_err(|e| e.with_key(&key))? {
                    continue;
                }
                counts.matched += 1;
                let mut new = crate::plan::update::apply(&old, ops).map_err(|e| e.with_model(m.name).with_key(&key))?;
                if sets_ref {
                    let open = Some((m.collection, &records));
                    copies_in_tx(&tx, m, std::iter::once(&mut new), open, |_, _| None).map_err(|e| e.with_key(&key))?;
                }
                if new != old {
                    counts.modified += 1;
                    write_one(m, &mut records, &mut indexes, &key, new, WriteMode::Upsert)
                        .map_err(|e| e.with_model(m.name).with_key(&key))?;
                    changed.push(key);
                }
            }
            indexes.changes()
        };
        if crate::backend::copies::touches_copies(m, ops) {
            note_outbox(&tx, m, &changed)?;
        }
        self.commit_with(tx, changes)?;
        Ok(counts)
    }

    /// Fills every declared index not filled yet.
    pub(crate) fn sync_indexes(&self, models: &[&'static ModelDesc]) -> Result<u64> {
        let tx = self.db.begin_write().map_err(storage)?;
        let mut n = 0;
        for &m in models.iter().filter(|m| !m.indexes.is_empty() || !m.counters.is_empty()) {
            let name = records_table(m);
            let records = tx.open_table(Bytes::new(name)).map_err(storage)?;
            n += open_indexes(&tx, m, &records)?.len() as u64;
        }
        self.commit(tx)?;
        Ok(n)
    }

    /// How `run` reads a plan's candidates, running it as a query, or as a count up to
    /// `count_upto` when given.
    pub(crate) fn explain(
        &self,
        m: &'static ModelDesc,
        plan: &Plan,
        count_upto: Option<u64>,
    ) -> Result<super::Explain> {
        let tx = self.db.begin_read().map_err(storage)?;
        if let Some((counter, _, groups)) = count_upto.map(|_| self.counted(&tx, m, plan)).transpose()?.flatten() {
            return Ok(super::Explain {
                index: None,
                ranges: 0,
                ordered: false,
                covering: true,
                entries_read: groups,
                records_read: 0,
                counter: Some(counter),
                branches: Vec::new(),
                annotations: Vec::new(),
            });
        }
        let name = records_table(m);
        let empty = match open_read(&tx, Bytes::new(name))? {
            Some(t) => t.is_empty().map_err(storage)?,
            None => true,
        };
        let built = usable_indexes(&tx, m, empty)?;
        let holds = |i: &IndexDesc, tag| index_holds(&tx, m, i, tag);
        let count = |i: &IndexDesc, ranges: &[index::KeyRange], cap| count_opening(&tx, m, i, ranges, cap);
        let records = open_read(&tx, Bytes::new(name))?;
        let count_keys = |ranges: &[index::KeyRange], cap| match &records {
            Some(table) => index::count_in(table, ranges, cap),
            None => Ok(0),
        };
        let source = index::choose_with_keys(m, plan, |i| built.contains(&i.path), holds, count, count_keys)?;
        let mut explain = match source {
            Source::Scan => super::Explain {
                index: None,
                ranges: 0,
                ordered: false,
                covering: false,
                entries_read: 0,
                records_read: 0,
                branches: Vec::new(),
                counter: None,
                annotations: Vec::new(),
            },
            Source::Keys { ranges, .. } => super::Explain {
                index: Some(crate::plan::KEY),
                ranges: ranges.len(),
                ordered: plan.order.first().is_some_and(|o| o.path == crate::plan::KEY),
                covering: true,
                entries_read: 0,
                records_read: 0,
                branches: Vec::new(),
                counter: None,
                annotations: Vec::new(),
            },
            Source::Index { index, ranges, ordered, .. } => super::Explain {
                index: Some(index.path),
                ranges: ranges.len(),
                ordered,
                covering: index.covering,
                entries_read: 0,
                records_read: 0,
                branches: Vec::new(),
                counter: None,
                annotations: Vec::new(),
            },
        };
        let reading = self.run_reading(m, plan, count_upto, None)?.2;
        explain.entries_read = reading.entries;
        explain.records_read = reading.docs;
        Ok(explain)
    }

    pub(crate) fn integrity_check(&self, models: &[&'static ModelDesc]) -> Result<IntegrityReport> {
        // A read at a known epoch, with the changes to blocks held at it: begun while a write
        // transaction is open, so no commit lands meanwhile (a commit that has just landed
        // may still be setting its epoch, hence the second try).
        let (read, held) = {
            let _no_commits = self.db.begin_write().map_err(storage)?;
            loop {
                let read = self.read()?;
                if let Some(held) = self.held_at(&read) {
                    break (read, held);
                }
            }
        };
        let tx = read.tx();
        let mut report = IntegrityReport::default();
        for &m in models {
            let name = records_table(m);
            let Some(records) = open_read(tx, Bytes::new(name))? else { continue };
            report.records += records.len().map_err(storage)?;
            for idx in m.indexes {
                check_index(tx, m, idx, &records, &mut report)?;
                check_counts(tx, m, idx, &held, &mut report)?;
            }
            let built = open_read(tx, BUILT)?;
            super::counter::check(tx, m, &records, built.as_ref(), &mut report)?;
        }
        Ok(report)
    }

    pub(crate) fn rebuild_indexes(&self, models: &[&'static ModelDesc]) -> Result<u64> {
        let tx = self.db.begin_write().map_err(storage)?;
        let mut written = 0;
        let mut recounted = Vec::new();
        {
            let mut built = tx.open_table(BUILT).map_err(storage)?;
            for &m in models {
                let name = records_table(m);
                let records = tx.open_table(Bytes::new(name)).map_err(storage)?;
                for idx in m.indexes {
                    let iname = index_table(m, idx);
                    tx.delete_table(Bytes::new(iname)).map_err(storage)?;
                    let mut table = tx.open_table(Bytes::new(iname)).map_err(storage)?;
                    written += fill_index(m, idx, &records, &mut table)?;
                    built.insert(iname, 1).map_err(storage)?;
                    if idx.counted {
                        let cname = counts_table(m, idx);
                        let mut counts = tx.open_table(Bytes::new(cname)).map_err(storage)?;
                        written += blocks::fill(idx.path, &table, &mut counts)?;
                        built.insert(cname, 1).map_err(storage)?;
                        recounted.push(cname);
                    }
                }
                written += super::counter::rebuild(&tx, m, &records, &mut built)?;
            }
        }
        self.commit_with(tx, Changes { recounted, ..Changes::default() })?;
        Ok(written)
    }
}

/// Sets the denormalized copies of documents of `m` about to be written from the related
/// records as write transaction `tx` sees them: those `mine` gives first (a transaction's
/// own writes), then the table `open` already has open when it is the related collection,
/// else the related collection's table. Nothing commits between this read and the write.
pub(super) fn copies_in_tx<'d>(
    tx: &redb::WriteTransaction,
    m: &'static ModelDesc,
    docs: impl Iterator<Item = &'d mut Vec<u8>>,
    open: Option<(&str, &RecordsTable<'_>)>,
    mine: impl Fn(&ModelDesc, &KeyValue) -> Option<Option<Vec<u8>>>,
) -> Result<()> {
    if crate::schema::copies::copies_held_by(m).next().is_none() {
        return Ok(());
    }
    let mut tables: HashMap<&'static str, RecordsTable<'_>> = HashMap::new();
    crate::backend::copies::set_copies_from(m, docs, |related, key| {
        if let Some(doc) = mine(related, key) {
            return Ok(doc);
        }
        let pk = key.to_storage();
        let found = match open {
            Some((collection, table)) if collection == related.collection => table.get(pk.as_slice()),
            _ => {
                let table = match tables.entry(related.collection) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(tx.open_table(Bytes::new(records_table(related))).map_err(storage)?),
                };
                table.get(pk.as_slice())
            }
        };
        Ok(found.map_err(storage)?.map(|g| g.value().to_vec()))
    })
}

/// Notes in the outbox, in the write transaction of the records, that the copies other models
/// keep of records `keys` of `m` are to be brought up to date: a crash before the
/// fan-out finishes leaves the note, finished on the next open.
pub(super) fn note_outbox(tx: &redb::WriteTransaction, m: &ModelDesc, keys: &[KeyValue]) -> Result<()> {
    if keys.is_empty() || crate::schema::copies::copies_of(m).next().is_none() {
        return Ok(());
    }
    let name = records_table(&crate::backend::copies::OUTBOX);
    let mut table = tx.open_table(Bytes::new(name)).map_err(storage)?;
    for key in keys {
        let entry = crate::backend::copies::entry(m, key)?;
        let id = entry.key.as_ref().map(KeyValue::to_storage).unwrap_or_default();
        table.insert(id.as_slice(), entry.doc.as_slice()).map_err(storage)?;
    }
    Ok(())
}

/// An index table open in a write transaction, with its declaration.
pub(super) type IndexTable<'tx> = (&'static IndexDesc, Table<'tx, StoredKey, &'static [u8]>);

/// The index tables a write keeps (a list, as the indexes are declared), and its counters.
pub(super) struct Indexes<'tx> {
    tables: Vec<IndexTable<'tx>>,
    /// Beside each index, its counts when it is counted.
    counts: Vec<Option<Counts>>,
    counters: Option<super::counter::Counters<'tx>>,
}

/// A counted index's counts table, and the changes a write transaction makes to its
/// blocks (held in memory once it commits, see [`Store::commit_with`]).
pub(super) struct Counts {
    name: &'static str,
    pending: blocks::Pending,
}

impl Indexes<'_> {
    /// The changes made to counted indexes' blocks, for [`Store::commit_with`].
    pub(super) fn changes(&mut self) -> Changes {
        let changed = self.counts.iter_mut().flatten().filter(|c| !c.pending.is_empty());
        let blocks = changed.map(|c| (c.name, std::mem::take(&mut c.pending))).collect();
        Changes { blocks, ..Changes::default() }
    }
}

impl<'tx> std::ops::Deref for Indexes<'tx> {
    type Target = Vec<IndexTable<'tx>>;
    fn deref(&self) -> &Self::Target {
        &self.tables
    }
}

impl std::ops::DerefMut for Indexes<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tables
    }
}

/// The keys of the records a plan may match, read inside a write transaction (the caller
/// checks the filters on each record).
fn candidates(
    m: &'static ModelDesc,
    plan: &Plan,
    records: &Table<'_, StoredKey, &'static [u8]>,
    indexes: &Indexes<'_>,
) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let holds =
        |i: &IndexDesc, tag| indexes.iter().find(|(d, _)| std::ptr::eq(*d, i)).is_none_or(|(_, t)| holds_class(t, tag));
    let count = |i: &IndexDesc, ranges: &[index::KeyRange], cap| match indexes.iter().find(|(d, _)| std::ptr::eq(*d, i))
    {
        Some((_, table)) => index::count_in(table, ranges, cap),
        None => Ok(0),
    };
    let count_keys = |ranges: &[index::KeyRange], cap| index::count_in(records, ranges, cap);
    match index::choose_with_keys(m, plan, |_| true, holds, count, count_keys)? {
        Source::Keys { ranges, .. } => {
            for range in &ranges {
                for item in records.range::<&[u8]>(index::bounds(range)).map_err(storage)? {
                    out.push(item.map_err(storage)?.0.value().to_vec());
                }
            }
        }
        Source::Index { index, ranges, .. } => {
            let (_, table) = indexes.iter().find(|(d, _)| std::ptr::eq(*d, index)).expect("every index is open");
            let mut seen = HashSet::new();
            for range in &ranges {
                for entry in table.range::<&[u8]>(index::bounds(range)).map_err(storage)? {
                    let (k, v) = entry.map_err(storage)?;
                    let pk = index::read_entry(index, k.value(), v.value())?.0.to_vec();
                    if seen.insert(pk.clone()) {
                        out.push(pk);
                    }
                }
            }
        }
        Source::Scan => {
            for item in records.iter().map_err(storage)? {
                out.push(item.map_err(storage)?.0.value().to_vec());
            }
        }
    }
    Ok(out)
}

/// Opens the model's index tables, filling any index declared after records were written.
pub(super) fn open_indexes<'tx>(
    tx: &'tx redb::WriteTransaction,
    m: &'static ModelDesc,
    records: &Table<'tx, StoredKey, &'static [u8]>,
) -> Result<Indexes<'tx>> {
    let mut built = tx.open_table(BUILT).map_err(storage)?;
    let mut out = Vec::with_capacity(m.indexes.len());
    let mut counts = Vec::with_capacity(m.indexes.len());
    for idx in crate::schema::class::collection_indexes(m) {
        let iname = index_table(m, idx);
        let mut table = tx.open_table(Bytes::new(iname)).map_err(storage)?;
        if built.get(iname).map_err(storage)?.is_none() {
            fill_index(m, idx, records, &mut table)?;
            built.insert(iname, 1).map_err(storage)?;
        }
        counts.push(if counted(m, idx) { Some(open_counts(tx, idx, m, &table, &mut built)?) } else { None });
        out.push((idx, table));
    }
    let counters = super::counter::open(tx, m, records, &mut built)?;
    Ok(Indexes { tables: out, counts, counters })
}

/// Whether a write through `m` keeps counts for `idx`: it is counted, or another registered
/// model of the collection counts the same index (its counts must follow every write, as
/// counters do).
fn counted(m: &'static ModelDesc, idx: &IndexDesc) -> bool {
    idx.counted
        || crate::schema::model::registered_models().filter(|o| o.collection == m.collection).any(|o| {
            o.indexes
                .iter()
                .any(|i| i.counted && i.path == idx.path && i.unique == idx.unique && i.covering == idx.covering)
        })
}

/// Opens a counted index's counts, counting its entries when the counts are not built yet
/// (the index declared `counted` after entries were written).
fn open_counts(
    tx: &redb::WriteTransaction,
    idx: &IndexDesc,
    m: &ModelDesc,
    entries: &Table<'_, StoredKey, &'static [u8]>,
    built: &mut Table<'_, &'static str, u8>,
) -> Result<Counts> {
    let name = counts_table(m, idx);
    if built.get(name).map_err(storage)?.is_none() {
        let mut table = tx.open_table(Bytes::new(name)).map_err(storage)?;
        blocks::fill(idx.path, entries, &mut table)?;
        built.insert(name, 1).map_err(storage)?;
    }
    Ok(Counts { name, pending: blocks::Pending::new() })
}

fn fill_index(
    m: &'static ModelDesc,
    idx: &'static IndexDesc,
    records: &impl ReadableTable<StoredKey, &'static [u8]>,
    table: &mut Table<'_, StoredKey, &'static [u8]>,
) -> Result<u64> {
    let mut n = 0;
    for item in records.iter().map_err(storage)? {
        let (k, v) = item.map_err(storage)?;
        let stored = index::entry_value(idx, v.value(), k.value());
        for entry in index::entries(idx, v.value(), k.value())? {
            insert_entry(m, idx, table, &entry, v.value(), k.value(), &stored)?;
            n += 1;
        }
    }
    Ok(n)
}

/// The next automatic key: past the last one given, and held by no record (`held` says whether
/// a record not yet written has it).
fn next_key(
    m: &ModelDesc,
    sequences: &mut Table<'_, &'static str, u64>,
    records: &Table<'_, StoredKey, &'static [u8]>,
    held: impl Fn(&[u8]) -> bool,
) -> Result<KeyValue> {
    let mut n = sequences.get(m.collection).map_err(storage)?.map_or(0, |g| g.value());
    loop {
        n += 1;
        let key = KeyValue::Int(n as i64);
        let pk = key.to_storage();
        if !held(&pk) && records.get(pk.as_slice()).map_err(storage)?.is_none() {
            sequences.insert(m.collection, n).map_err(storage)?;
            return Ok(key);
        }
    }
}

pub(super) fn write_one(
    m: &'static ModelDesc,
    records: &mut Table<'_, StoredKey, &'static [u8]>,
    indexes: &mut Indexes<'_>,
    key: &KeyValue,
    mut doc: Vec<u8>,
    mode: WriteMode,
) -> Result<()> {
    let pk = key.to_storage();
    // One descent of the records tree: the new document goes in and the old one comes back.
    let old = records.insert(pk.as_slice(), doc.as_slice()).map_err(storage)?.map(|g| g.value().to_vec());
    if let Some(prev) = &old {
        // A refused write puts back what was there.
        let restore = |records: &mut Table<'_, StoredKey, &'static [u8]>, e: Error| {
            records.insert(pk.as_slice(), prev.as_slice()).map_err(storage)?;
            Err(e)
        };
        if mode == WriteMode::Insert {
            return restore(records, Error::new(ErrorKind::DuplicateKey, "a record with this key already exists"));
        }
        if mode != WriteMode::Replace {
            let written = doc.len();
            let mut merged = false;
            if crate::schema::unknown::has_embedded(m.fields) {
                match crate::schema::unknown::merge_embedded(m.fields, prev, &doc) {
                    Ok(d) => {
                        merged = d != doc;
                        doc = d;
                    }
                    Err(e) => return restore(records, e),
                }
            }
            if !m.has_extra {
                if let Err(e) = keep_unknown_fields(m, prev, &mut doc) {
                    return restore(records, e);
                }
            }
            // Kept unknown fields only ever add to the document.
            if merged || doc.len() != written {
                records.insert(pk.as_slice(), doc.as_slice()).map_err(storage)?;
            }
        }
    }
    let mut new_keys = Vec::new();
    let mut old_keys = Vec::new();
    for ((idx, table), counts) in indexes.tables.iter_mut().zip(&mut indexes.counts) {
        index::entry_keys(idx, &doc, &pk, &mut new_keys)?;
        // A covering entry holds the document, so every entry is written again.
        let stored = index::entry_value(idx, &doc, &pk);
        if let Some(prev) = &old {
            index::entry_keys(idx, prev, &pk, &mut old_keys)?;
            new_keys.sort_unstable();
            old_keys.sort_unstable();
            for gone in old_keys.iter().filter(|o| new_keys.binary_search(o).is_err()) {
                table.remove(gone.as_slice()).map_err(storage)?;
                if let Some(c) = counts {
                    blocks::hold(&mut c.pending, gone, -1);
                }
            }
            for added in new_keys.iter().filter(|n| idx.covering || old_keys.binary_search(n).is_err()) {
                insert_entry(m, idx, table, added, &doc, &pk, &stored)?;
                if let (Some(c), false) = (&mut *counts, old_keys.binary_search(added).is_ok()) {
                    blocks::hold(&mut c.pending, added, 1);
                }
            }
        } else {
            for added in &new_keys {
                insert_entry(m, idx, table, added, &doc, &pk, &stored)?;
                if let Some(c) = counts {
                    blocks::hold(&mut c.pending, added, 1);
                }
            }
        }
    }
    if let Some(counters) = &mut indexes.counters {
        super::counter::apply(counters, old.as_deref(), Some(&doc))?;
    }
    Ok(())
}

/// Writes a new record's unique index entries and counters, and holds the record and its
/// other index entries in `appends` (the record's key is past every stored one, so nothing
/// is replaced). The same entries as [`write_one`] gives a new record.
fn hold_one(
    m: &'static ModelDesc,
    indexes: &mut Indexes<'_>,
    appends: &mut Appends,
    item: usize,
    pk: Vec<u8>,
    doc: Vec<u8>,
) -> Result<()> {
    let mut keys = Vec::new();
    for (at, ((idx, table), counts)) in indexes.tables.iter_mut().zip(&mut indexes.counts).enumerate() {
        index::entry_keys(idx, &doc, &pk, &mut keys)?;
        if let Some(c) = counts {
            keys.iter().for_each(|k| blocks::hold(&mut c.pending, k, 1));
        }
        let stored = index::entry_value(idx, &doc, &pk);
        if idx.unique {
            for key in &keys {
                insert_entry(m, idx, table, key, &doc, &pk, &stored)?;
            }
        } else {
            appends.hold_entries(at, keys.drain(..), &stored);
        }
    }
    if let Some(counters) = &mut indexes.counters {
        super::counter::apply(counters, None, Some(&doc))?;
    }
    appends.hold(item, pk, doc);
    Ok(())
}

/// Writes what `appends` holds into the records table and the index tables.
fn write_held<'tx>(
    m: &ModelDesc,
    appends: &mut Appends,
    records: &mut RecordsTable<'tx>,
    indexes: &mut Indexes<'tx>,
) -> Result<()> {
    appends.flush(records, indexes.tables.iter_mut().map(|(_, t)| t)).map_err(|e| e.with_model(m.name))
}

/// Writes one index entry; on a unique index, fails if the entry belongs to another record
/// (the message names the value, read again from `doc` only then).
fn insert_entry(
    m: &ModelDesc,
    idx: &IndexDesc,
    table: &mut Table<'_, StoredKey, &'static [u8]>,
    entry: &[u8],
    doc: &[u8],
    pk: &[u8],
    stored: &[u8],
) -> Result<()> {
    if idx.unique {
        if let Some(other) = table.get(entry).map_err(storage)? {
            let (owner, _) = index::read_entry(idx, entry, other.value())?;
            if owner != index::read_entry(idx, entry, stored)?.0 {
                let owner = KeyValue::from_storage(owner).map(|k| k.to_string()).unwrap_or_default();
                let value = index::entries_with_values(idx, doc, pk)?
                    .into_iter()
                    .find_map(|(k, v)| (k == entry).then_some(v))
                    .unwrap_or(crate::core::value::Value::Null);
                let msg = format!("value {value} of unique field `{}` already belongs to record {owner}", idx.path);
                return Err(Error::new(ErrorKind::UniqueViolation, msg).with_model(m.name).with_field(idx.path));
            }
        }
    }
    table.insert(entry, stored).map_err(storage)?;
    Ok(())
}

/// Removes a record and its index entries; whether it existed.
pub(super) fn remove_one(
    records: &mut Table<'_, StoredKey, &'static [u8]>,
    indexes: &mut Indexes<'_>,
    pk: &[u8],
) -> Result<bool> {
    let Some(old) = records.remove(pk).map_err(storage)?.map(|g| g.value().to_vec()) else { return Ok(false) };
    for ((desc, table), counts) in indexes.tables.iter_mut().zip(&mut indexes.counts) {
        for entry in index::entries(desc, &old, pk)? {
            table.remove(entry.as_slice()).map_err(storage)?;
            if let Some(c) = counts {
                blocks::hold(&mut c.pending, &entry, -1);
            }
        }
    }
    if let Some(counters) = &mut indexes.counters {
        super::counter::apply(counters, Some(&old), None)?;
    }
    Ok(true)
}

/// An index table open in a read transaction.
type Index = redb::ReadOnlyTable<StoredKey, &'static [u8]>;

/// A records or index table open in a shared read transaction (`None`: never written).
type Shared = Option<std::sync::Arc<Index>>;

/// A record's document read through an index entry.
pub(super) enum Doc<'a> {
    /// Held by the entry itself (a covering index).
    Entry(&'a [u8]),
    /// Read from the records table.
    Record(redb::AccessGuard<'a, &'static [u8]>),
}

impl Doc<'_> {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Doc::Entry(doc) => doc,
            Doc::Record(guard) => guard.value(),
        }
    }
}

/// The document of record `pk`: the copy a covering entry holds (`inline`), else a read of
/// the records table (`None`: the record is gone).
pub(super) fn doc_of<'a>(
    inline: Option<&'a [u8]>,
    pk: &[u8],
    records: &'a impl ReadableTable<StoredKey, &'static [u8]>,
) -> Result<Option<Doc<'a>>> {
    Ok(match inline {
        Some(doc) => Some(Doc::Entry(doc)),
        None => records.get(pk).map_err(storage)?.map(Doc::Record),
    })
}

/// Copies the stored document's top-level fields the model does not know into the new
/// document (those inside embedded models are kept by `unknown::merge_embedded`).
fn keep_unknown_fields(m: &ModelDesc, old: &[u8], doc: &mut Vec<u8>) -> Result<()> {
    let mut kept = Vec::new();
    let mut written: Option<Vec<&[u8]>> = None;
    for el in Elements::new(old)? {
        let el = el?;
        if m.knows_field(el.name) {
            continue;
        }
        // Reserved fields the save writes itself (denormalized copies) are not kept twice.
        let written = match &mut written {
            Some(w) => w,
            None => written.insert(Elements::new(doc)?.map(|el| el.map(|el| el.name)).collect::<Result<_>>()?),
        };
        if !written.contains(&el.name) {
            kept.extend_from_slice(el.raw);
        }
    }
    if kept.is_empty() {
        return Ok(());
    }
    doc.pop();
    doc.extend_from_slice(&kept);
    doc.push(0);
    let len = doc.len();
    if len > codec::MAX_DOCUMENT_SIZE {
        return Err(Error::new(ErrorKind::TooLarge, "document with kept unknown fields exceeds the size limit"));
    }
    doc[..4].copy_from_slice(&(len as i32).to_le_bytes());
    Ok(())
}

/// The indexes a query may read: those filled, or all of them while there are no records.
pub(super) fn usable_indexes(tx: &redb::ReadTransaction, m: &ModelDesc, no_records: bool) -> Result<Built> {
    if no_records {
        return Ok(m.indexes.iter().map(|i| i.path).collect());
    }
    built_set(tx, m)
}

fn built_set(tx: &redb::ReadTransaction, m: &ModelDesc) -> Result<Built> {
    let Some(table) = open_read(tx, BUILT)? else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(m.indexes.len());
    for idx in m.indexes {
        if table.get(index_table(m, idx)).map_err(storage)?.is_some() {
            out.push(idx.path);
        }
    }
    Ok(out)
}

/// The paths of a model's indexes whose entries cover every record (a model has few).
pub(super) type Built = Vec<&'static str>;

/// Compares a counted index's counts with its entries (once they are built).
fn check_counts(
    tx: &redb::ReadTransaction,
    m: &'static ModelDesc,
    idx: &'static IndexDesc,
    held: &blocks::Held,
    report: &mut IntegrityReport,
) -> Result<()> {
    if !idx.counted {
        return Ok(());
    }
    let Some(entries) = open_read(tx, Bytes::new(index_table(m, idx)))? else { return Ok(()) };
    let built = match open_read(tx, BUILT)? {
        Some(b) => b.get(counts_table(m, idx)).map_err(storage)?.is_some(),
        None => false,
    };
    if !built {
        if !entries.is_empty().map_err(storage)? {
            let message = "counts of the counted index not built yet: run rebuild_indexes()".to_owned();
            report.problems.push(IntegrityProblem { model: m.name, index: idx.path, key: None, message });
        }
        return Ok(());
    }
    let counts = open_read(tx, Bytes::new(counts_table(m, idx)))?;
    let name = counts_table(m, idx);
    let changes = blocks::held_for(held, name);
    let (problems, blocks) = blocks::check(idx.path, &entries, counts.as_ref(), changes)?;
    report.entries += blocks;
    for message in problems {
        report.problems.push(IntegrityProblem { model: m.name, index: idx.path, key: None, message });
    }
    Ok(())
}

fn check_index(
    tx: &redb::ReadTransaction,
    m: &'static ModelDesc,
    idx: &'static IndexDesc,
    records: &impl ReadableTable<StoredKey, &'static [u8]>,
    report: &mut IntegrityReport,
) -> Result<()> {
    let problem =
        |key: Option<KeyValue>, message: String| IntegrityProblem { model: m.name, index: idx.path, key, message };
    let iname = index_table(m, idx);
    let mut actual = std::collections::BTreeMap::new();
    if let Some(t) = open_read(tx, Bytes::new(iname))? {
        for item in t.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            actual.insert(k.value().to_vec(), v.value().to_vec());
        }
    }
    report.entries += actual.len() as u64;
    let built = built_set(tx, m)?.contains(&idx.path);
    if !built && !records.is_empty().map_err(storage)? {
        report.problems.push(problem(None, "index not built yet: run rebuild_indexes()".into()));
        return Ok(());
    }
    for item in records.iter().map_err(storage)? {
        let (k, v) = item.map_err(storage)?;
        let expected = index::entry_value(idx, v.value(), k.value());
        for entry in index::entries(idx, v.value(), k.value())? {
            let key = || KeyValue::from_storage(k.value()).ok();
            match actual.remove(&entry) {
                Some(held) if held == *expected => {}
                // As entries were written before their value was left empty.
                Some(held) if !idx.covering && !idx.unique && held == k.value() => {}
                Some(held)
                    if idx.covering && index::read_entry(idx, &entry, &held).is_ok_and(|(pk, _)| pk == k.value()) =>
                {
                    report.problems.push(problem(key(), "covering index entry holds a stale copy of its record".into()))
                }
                _ => report.problems.push(problem(key(), "index entry missing".into())),
            }
        }
    }
    for (entry, held) in actual {
        let key = index::read_entry(idx, &entry, &held).ok().and_then(|(pk, _)| KeyValue::from_storage(pk).ok());
        report.problems.push(problem(key, "index entry does not match its record".into()));
    }
    Ok(())
}

/// A bounded count up to this many reads entries even on a counted index (`exists`,
/// `count_upto(n)` with a small `n`): they are found before the blocks are added up.
const COUNT_IN_BLOCKS_PAST: u64 = 64;

/// A count that ranges answer alone (each record in them once): their entries, up to
/// `upto`, counted without reading a value.
fn count_entries(
    table: &impl ReadableTable<StoredKey, &'static [u8]>,
    ranges: &[index::KeyRange],
    upto: u64,
) -> Result<(Vec<Row>, u64, Reading)> {
    let n = index::count_in(table, ranges, usize::try_from(upto).unwrap_or(usize::MAX))? as u64;
    Ok((Vec::new(), n, Reading { entries: n, docs: 0 }))
}

/// What a run read.
/// Where an aggregate's pass sends each matching document.
pub(super) type Sink<'p> = &'p mut dyn FnMut(&[u8]) -> Result<()>;

pub(super) struct Reading {
    /// Index entries (or records, in a scan or a key range).
    pub(super) entries: u64,
    /// Documents checked against the conditions or kept.
    pub(super) docs: u64,
}

/// Collects the rows of a plan as candidates arrive, and gives them in the plan's order: its
/// ordering terms, then the key.
struct Run<'p> {
    plan: &'p Plan,
    /// The filters still to check on each record.
    filters: Vec<&'p crate::plan::Filter>,
    count_upto: Option<u64>,
    /// Whether candidates arrive in the plan's order, ties on its ordering aside (a scan of
    /// the records, or one value of an index, is in key order; an index on the one ordering
    /// term is in its order), so a limit can stop the reading early.
    in_order: bool,
    /// The rows kept, each with its sort values and, when documents go to the arena, its
    /// document's place there (start, end).
    rows: Vec<Kept>,
    /// Where the kept documents go one after another when the rows are visited in place
    /// ([`Store::visit_related`]): each row's `doc` is then empty, its document in here.
    arena: Option<Vec<u8>>,
    /// The records' keys of a run handed over by key (kept for its buffer).
    keys: Vec<KeyValue>,
    matched: u64,
    /// The index entries (or records, in a scan) read.
    read: u64,
    /// The documents checked or kept.
    docs: u64,
    /// Whether the same record may have been offered more than once (its duplicates are
    /// dropped once the rows are sorted).
    dedup: bool,
    /// Where matching documents go instead of the rows (an aggregate's pass).
    sink: Option<Sink<'p>>,
}

impl<'p> Run<'p> {
    fn new(plan: &'p Plan, count_upto: Option<u64>) -> Self {
        Run {
            plan,
            filters: plan.filters.iter().collect(),
            count_upto,
            in_order: false,
            rows: Vec::new(),
            arena: None,
            keys: Vec::new(),
            matched: 0,
            read: 0,
            docs: 0,
            dedup: false,
            sink: None,
        }
    }

    /// How many rows the plan needs (offset and limit), if it has a limit.
    fn needed(&self) -> Option<usize> {
        self.plan.limit.map(|l| l.saturating_add(self.plan.offset))
    }

    fn count_only(&mut self) -> bool {
        self.matched += 1;
        self.count_upto.is_some_and(|n| self.matched >= n)
    }

    /// Considers one record; returns whether the plan has all it needs.
    fn offer(&mut self, pk: &[u8], doc: &[u8]) -> Result<bool> {
        self.docs += 1;
        let key = KeyValue::from_storage(pk)?;
        if !matches_all_keyed(self.filters.iter().copied(), doc, &key).map_err(|e| e.with_key(&key))? {
            return Ok(false);
        }
        if let Some(sink) = self.sink.as_mut() {
            self.matched += 1;
            sink(doc).map_err(|e| e.with_key(&key))?;
            return Ok(false);
        }
        if self.count_upto.is_some() {
            return Ok(self.count_only());
        }
        let sort =
            if self.plan.order.is_empty() { Vec::new() } else { sort_key_keyed(doc, Some(&key), &self.plan.order)? };
        if let (Some(needed), true) = (self.needed(), self.in_order) {
            // Ties on the sort value must all be seen before the key breaks them.
            let tie = !self.plan.order.is_empty() && self.rows.last().is_some_and(|last| last.sort == sort);
            if self.rows.len() >= needed && !tie {
                return Ok(true);
            }
        }
        self.matched += 1;
        let mut span = (0, 0);
        let doc = match (&mut self.arena, &self.plan.projection) {
            (Some(arena), projection) => {
                let start = arena.len();
                match projection {
                    Some(p) => arena.extend_from_slice(&project(doc, p)?),
                    None => arena.extend_from_slice(doc),
                }
                span = (start, arena.len());
                Vec::new()
            }
            (None, Some(p)) => project(doc, p)?,
            (None, None) => doc.to_vec(),
        };
        self.rows.push(Kept { sort, key, doc, span });
        // In key order with no ordering term (or one on the key, which nothing ties on),
        // nothing read later can come before these.
        let full = self.needed().is_some_and(|needed| self.rows.len() >= needed);
        let by_key = self.plan.order.first().is_none_or(|o| o.path == crate::plan::KEY);
        if full && self.in_order && by_key {
            return Ok(true);
        }
        if self.plan.limit.is_some() {
            self.trim();
        }
        Ok(false)
    }

    /// Out of order, a limited plan keeps only the rows it may still return, so memory stays
    /// bounded by the limit however many records match.
    fn trim(&mut self) {
        let Some(needed) = self.needed().filter(|_| !self.in_order) else { return };
        if self.rows.len() >= needed.saturating_mul(2).max(64) {
            self.sort();
            self.rows.truncate(needed);
            self.compact();
        }
    }

    /// The arena holding only the kept rows' documents (after a trim dropped rows).
    fn compact(&mut self) {
        let Some(arena) = self.arena.as_mut() else { return };
        let mut kept = Vec::with_capacity(self.rows.iter().map(|k| k.span.1 - k.span.0).sum());
        for row in &mut self.rows {
            let start = kept.len();
            kept.extend_from_slice(&arena[row.span.0..row.span.1]);
            row.span = (start, kept.len());
        }
        *arena = kept;
    }

    fn sort(&mut self) {
        let order = &self.plan.order;
        let cmp = |a: &Kept, b: &Kept| compare_keys(&a.sort, &b.sort, order).then_with(|| a.key.cmp(&b.key));
        // Rows read in the plan's order (an index range often is) need no sorting.
        if !self.rows.is_sorted_by(|x, y| cmp(x, y).is_le()) {
            self.rows.sort_by(cmp);
        }
        if self.dedup {
            // One record's rows have the same sort values and key: adjacent once sorted.
            self.rows.dedup_by(|a, b| a.key == b.key);
        }
    }

    fn finish(&mut self) -> Vec<Row> {
        self.sort();
        let limit = self.plan.limit.unwrap_or(usize::MAX);
        std::mem::take(&mut self.rows)
            .into_iter()
            .skip(self.plan.offset)
            .take(limit)
            .map(|k| Row { key: Some(k.key), doc: k.doc, ..Row::default() })
            .collect()
    }

    /// The rows in the plan's order, offset and limit applied, each given to `f` with its
    /// document read in place from the arena.
    fn finish_in_place(&mut self, mut f: impl FnMut(&KeyValue, &[u8]) -> Result<()>) -> Result<()> {
        self.sort();
        let limit = self.plan.limit.unwrap_or(usize::MAX);
        let arena = self.arena.as_deref().unwrap_or_default();
        for row in self.rows.iter().skip(self.plan.offset).take(limit) {
            f(&row.key, &arena[row.span.0..row.span.1])?;
        }
        Ok(())
    }
}

/// What a run hands over in place as it reads ([`Store::visit_related`]): how many rows
/// may follow, then each row's key and document.
pub(super) enum Streamed<'a> {
    Expect(usize),
    Row(&'a KeyValue, &'a [u8]),
}

/// Where a run hands its rows over in place.
pub(super) type Stream<'s> = &'s mut dyn FnMut(Streamed<'_>) -> Result<()>;

/// The rows of an index's ranges in key order (a plan with no ordering terms), handed to
/// `stream` read in place: the records' keys from the entries first, sorted and deduplicated
/// (a record with several entries is one row), then each record by key, its remaining
/// conditions checked, offset and limit applied as rows pass. Entries already in key order,
/// one per record (one value of the index: `key_order`), are followed as they are read, so a
/// limit stops the reading.
fn stream_by_key(
    index: &IndexDesc,
    table: &Index,
    ranges: &[index::KeyRange],
    key_order: bool,
    records: &Index,
    run: &mut Run<'_>,
    stream: Stream<'_>,
) -> Result<()> {
    let plan = run.plan;
    let (mut skip, limit) = (plan.offset, plan.limit.unwrap_or(usize::MAX));
    if key_order {
        // A small limit is room enough for the rows that follow (how many match is not
        // known before they are read).
        if limit <= EXPECT_UP_TO {
            stream(Streamed::Expect(limit))?;
        }
        let mut pk = Vec::with_capacity(16);
        for range in ranges {
            let point = index::point_of(range);
            for entry in table.range::<&[u8]>(index::bounds(range)).map_err(storage)? {
                if run.matched as usize >= limit {
                    return Ok(());
                }
                let (key, value) = entry.map_err(storage)?;
                run.read += 1;
                pk.clear();
                pk.extend_from_slice(index::read_entry_at(index, point, key.value(), value.value())?.0);
                let key = KeyValue::from_storage(&pk)?;
                stream_one(records, &pk, &key, run, &mut skip, &mut *stream)?;
            }
        }
        return Ok(());
    }
    let mut keys = std::mem::take(&mut run.keys);
    keys.clear();
    for range in ranges {
        let point = index::point_of(range);
        for entry in table.range::<&[u8]>(index::bounds(range)).map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            run.read += 1;
            keys.push(KeyValue::from_storage(index::read_entry_at(index, point, key.value(), value.value())?.0)?);
        }
    }
    if !keys.is_sorted() {
        keys.sort_unstable();
    }
    keys.dedup();
    let streamed = (|| {
        // How many rows follow, when no condition remains to drop some.
        if run.filters.is_empty() {
            stream(Streamed::Expect(keys.len().saturating_sub(skip).min(limit)))?;
        }
        let mut pk = Vec::with_capacity(16);
        for key in &keys {
            if run.matched as usize >= limit {
                break;
            }
            key.write_storage(&mut pk);
            stream_one(records, &pk, key, run, &mut skip, &mut *stream)?;
        }
        Ok(())
    })();
    run.keys = keys;
    streamed
}

/// The greatest limit a run following an index in key order announces as the rows to
/// expect: room a page of rows needs, never much more than the answer.
const EXPECT_UP_TO: usize = 128;

/// Hands over record `pk` (key `key`) if it exists and meets the run's remaining conditions,
/// once `skip` rows have passed.
#[inline(always)]
fn stream_one(
    records: &Index,
    pk: &[u8],
    key: &KeyValue,
    run: &mut Run<'_>,
    skip: &mut usize,
    stream: Stream<'_>,
) -> Result<()> {
    let Some(guard) = records.get(pk).map_err(storage)? else { return Ok(()) };
    let doc = guard.value();
    run.docs += 1;
    if !matches_all_keyed(run.filters.iter().copied(), doc, key).map_err(|e| e.with_key(key))? {
        return Ok(());
    }
    if *skip > 0 {
        *skip -= 1;
        return Ok(());
    }
    run.matched += 1;
    match &run.plan.projection {
        Some(p) => stream(Streamed::Row(key, &project(doc, p)?)),
        None => stream(Streamed::Row(key, doc)),
    }
}

thread_local! {
    /// The rows, documents and keys buffers of the last in-place visit on this thread
    /// ([`Store::visit_related`]), emptied, for the next to read into room already there.
    #[allow(clippy::type_complexity)]
    static VISIT_BUFFERS: std::cell::Cell<(Vec<Kept>, Vec<u8>, Vec<KeyValue>)> =
        const { std::cell::Cell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// A row a run keeps: its sort values, its key, and its document, or the document's place
/// in the run's arena (start, end) when documents go there (`doc` is then empty).
struct Kept {
    sort: Vec<crate::core::value::Value>,
    key: KeyValue,
    doc: Vec<u8>,
    span: (usize, usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::value::{test_document, Value};

    #[derive(crate::Model, Debug, Clone, PartialEq)]
    struct Item {
        #[field(key)]
        id: Option<crate::Key<Item>>,
        #[field(index)]
        name: String,
        #[field(unique)]
        code: i64,
    }

    fn entries_of(indexes: &Indexes<'_>) -> Vec<Vec<Vec<u8>>> {
        let all = |(_, t): &IndexTable<'_>| t.iter().unwrap().map(|e| e.unwrap().0.value().to_vec()).collect();
        indexes.iter().map(all).collect()
    }

    /// Runs `f` on `Item`'s records table and indexes, open in a write transaction of a new
    /// database.
    fn in_write(f: impl FnOnce(&'static ModelDesc, &mut Table<'_, StoredKey, &'static [u8]>, &mut Indexes<'_>)) {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let m = <Item as crate::Model>::DESC;
        let tx = db.begin_write().unwrap();
        let name = records_table(m);
        let mut records = tx.open_table(Bytes::new(name)).unwrap();
        let mut indexes = open_indexes(&tx, m, &records).unwrap();
        f(m, &mut records, &mut indexes);
    }

    #[test]
    fn a_refused_insert_leaves_the_record_and_its_entries_as_they_were() {
        in_write(|m, records, indexes| {
            let key = KeyValue::Int(1);
            let first = test_document(&[("name", Value::String("a".into())), ("code", Value::Int64(7))]);
            write_one(m, records, indexes, &key, first.clone(), WriteMode::Upsert).unwrap();
            let before = entries_of(indexes);
            assert_eq!(before.iter().map(Vec::len).sum::<usize>(), 2);

            let second = test_document(&[("name", Value::String("b".into())), ("code", Value::Int64(8))]);
            let e = write_one(m, records, indexes, &key, second, WriteMode::Insert).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DuplicateKey);
            let pk = key.to_storage();
            assert_eq!(records.get(pk.as_slice()).unwrap().unwrap().value(), first.as_slice());
            assert_eq!(entries_of(indexes), before);
        });
    }

    #[test]
    fn a_unique_violation_names_the_value() {
        in_write(|m, records, indexes| {
            let doc = |n: &str| test_document(&[("name", Value::String(n.into())), ("code", Value::Int64(7))]);
            write_one(m, records, indexes, &KeyValue::Int(1), doc("a"), WriteMode::Upsert).unwrap();
            let e = write_one(m, records, indexes, &KeyValue::Int(2), doc("b"), WriteMode::Upsert).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UniqueViolation);
            let text = e.to_string();
            assert!(text.contains("value 7 of unique field `code`") && text.contains("record 1"), "{text}");
        });
    }

    /// Entries written before an index's entries left their value empty held the record
    /// key there: such a database reads, counts, checks and updates as a new one.
    #[test]
    fn entries_that_hold_their_record_key_read_as_before() {
        use crate::plan::{Filter, Op, Plan};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
        let m = <Item as crate::Model>::DESC;
        let item = |id: i64, name: &str, code: i64| PutItem {
            key: Some(KeyValue::Int(id)),
            doc: test_document(&[("name", Value::String(name.into())), ("code", Value::Int64(code))]),
        };
        store
            .put(m, vec![item(1, "a", 7), item(2, "b", 8), item(3, "a", 9), item(4, "a\0", 10)], WriteMode::Upsert)
            .unwrap();
        let idx = m.indexes.iter().find(|i| i.path == "name").unwrap();
        let name = index_table(m, idx);
        // Every entry but the first as it was written before: its record key as its value.
        let tx = store.db.begin_write().unwrap();
        {
            let mut table = tx.open_table(Bytes::new(name)).unwrap();
            let entries: Vec<(Vec<u8>, Vec<u8>)> = table
                .iter()
                .unwrap()
                .map(|e| e.unwrap())
                .map(|(k, v)| {
                    assert!(v.value().is_empty(), "a new entry holds nothing");
                    let pk = index::read_entry(idx, k.value(), v.value()).unwrap().0.to_vec();
                    (k.value().to_vec(), pk)
                })
                .collect();
            assert_eq!(entries.len(), 4);
            for (k, pk) in entries.iter().skip(1) {
                table.insert(k.as_slice(), pk.as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
        let named = |n: &str| Plan {
            filters: vec![Filter { path: "name".into(), op: Op::Eq(Value::String(n.into())) }],
            ..Plan::default()
        };
        let keys =
            |n: &str| store.run(m, &named(n), None).unwrap().0.into_iter().map(|r| r.key.unwrap()).collect::<Vec<_>>();
        assert_eq!(keys("a"), [KeyValue::Int(1), KeyValue::Int(3)]);
        assert_eq!(keys("a\0"), [KeyValue::Int(4)]);
        assert_eq!(store.run(m, &named("a"), Some(u64::MAX)).unwrap().1, 2);
        assert!(store.integrity_check(&[m]).unwrap().is_ok());
        // A rewrite moves an entry of each kind.
        store.put(m, vec![item(3, "c", 9), item(1, "c", 7)], WriteMode::Upsert).unwrap();
        assert_eq!(keys("a"), Vec::<KeyValue>::new());
        assert_eq!(keys("c"), [KeyValue::Int(1), KeyValue::Int(3)]);
        let report = store.integrity_check(&[m]).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.entries, 8);
    }
}
