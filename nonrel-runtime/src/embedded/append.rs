//! Records a batch adds past the greatest key, and their index entries, written in key order
//! through redb's insertion cursors.
//!
//! A write of many new records (`save_many` with automatic or ascending keys, a load) adds
//! its records at the end of the records table, and on each index its entries often fall in
//! runs with no stored entry between them: a timestamp's or a sequence's entries at one end,
//! a category's new entries after that category's stored ones. Inserted one by one, each
//! entry descends the tree and shifts its leaf; a cursor open at the run's gap buffers the
//! run and packs it into leaves once, several times cheaper an entry. Entries with no
//! neighbour of the batch before the next stored entry are inserted one by one, as before.

use super::tables::{storage, RecordsTable};
use crate::error::{Error, Result};
use crate::schema::key::KeyValue;
use std::ops::Bound;

/// The fewest records a write batches: below this, each record is written as it comes.
pub(super) const BATCH: usize = 8;

/// After this many entries in a row found alone in their gap, the rest of an index's entries
/// are inserted one by one without looking for runs (their values are spread out).
const ALONE: usize = 4;

/// Held bytes (keys, documents, entries) past which what is held is written: a very large
/// batch is written in parts of about this size rather than held whole (a few KiB in unit
/// tests, so their batches are written in parts).
#[cfg(not(test))]
const HOLD_BYTES: usize = 32 << 20;
#[cfg(test)]
const HOLD_BYTES: usize = 4 << 10;

/// A key and its value, owned.
type Pair = (Vec<u8>, Vec<u8>);

/// New records of a batch held back to be written in key order, and their entries in the
/// indexes that are not unique (a unique index's entry is checked and written with its
/// record).
pub(super) struct Appends {
    /// The greatest key of the records table when nothing is held (the held records' keys
    /// are all above it).
    stored_top: Option<Vec<u8>>,
    /// Held records, in ascending key order, each with its place in the batch.
    records: Vec<(usize, Pair)>,
    /// Held entries of each index, in the order the indexes are declared.
    entries: Vec<Vec<Pair>>,
    /// The bytes held.
    bytes: usize,
}

impl Appends {
    /// Nothing held yet; `top` is the greatest key of the records table.
    pub(super) fn new(records: &RecordsTable<'_>, indexes: usize) -> Result<Self> {
        use redb::ReadableTable;
        let stored_top = records.last().map_err(storage)?.map(|(k, _)| k.value().to_vec());
        Ok(Appends { stored_top, records: Vec::new(), entries: vec![Vec::new(); indexes], bytes: 0 })
    }

    /// Whether a record of key `pk` is new and comes after every held one, so it can be held:
    /// above the last held key, or, with nothing held, the greatest stored one.
    pub(super) fn takes(&self, pk: &[u8]) -> bool {
        let top = self.records.last().map(|(_, (k, _))| k.as_slice()).or(self.stored_top.as_deref());
        top.is_none_or(|top| pk > top)
    }

    /// Whether a held record has key `pk` (an automatic key must not take it).
    pub(super) fn holds(&self, pk: &[u8]) -> bool {
        self.records.binary_search_by(|(_, (k, _))| k.as_slice().cmp(pk)).is_ok()
    }

    /// Holds the new record `pk` (which [`takes`](Self::takes) accepted), item `item` of the batch.
    pub(super) fn hold(&mut self, item: usize, pk: Vec<u8>, doc: Vec<u8>) {
        self.bytes += pk.len() + doc.len();
        self.records.push((item, (pk, doc)));
    }

    /// Holds entries of the index declared at `index`, each holding `stored`.
    pub(super) fn hold_entries(&mut self, index: usize, keys: impl Iterator<Item = Vec<u8>>, stored: &[u8]) {
        let held = &mut self.entries[index];
        let before = held.len();
        held.extend(keys.map(|k| (k, stored.to_vec())));
        self.bytes += held[before..].iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    }

    /// Whether enough is held that it should be written now.
    pub(super) fn full(&self) -> bool {
        self.bytes >= HOLD_BYTES
    }

    /// Writes every held record and entry; `tables` are the index tables in declaration order.
    /// A failure names the batch item (and its key) whose record could not be written.
    pub(super) fn flush<'a, 'tx: 'a>(
        &mut self,
        records: &mut RecordsTable<'tx>,
        tables: impl Iterator<Item = &'a mut RecordsTable<'tx>>,
    ) -> Result<()> {
        self.bytes = 0;
        let held = std::mem::take(&mut self.records);
        let (items, pairs): (Vec<usize>, Vec<Pair>) = held.into_iter().unzip();
        insert_sorted(records, &pairs).map_err(|(at, e)| {
            let e = e.with_item(items[at]);
            match KeyValue::from_storage(&pairs[at].0) {
                Ok(key) => e.with_key(&key),
                Err(_) => e,
            }
        })?;
        for (table, entries) in tables.zip(&mut self.entries) {
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            insert_sorted(table, entries).map_err(|(_, e)| e)?;
            entries.clear();
        }
        // The last record written is now the greatest stored.
        if let Some((key, _)) = pairs.into_iter().next_back() {
            self.stored_top = Some(key);
        }
        Ok(())
    }
}

/// Inserts `pairs` (ascending, distinct keys) into `table`, a run at a time where no stored
/// key falls between two of them; a stored key equal to one is overwritten, as
/// [`Table::insert`](redb::Table::insert) does. A failure gives the place of the pair that
/// failed (the first of its run).
fn insert_sorted(table: &mut RecordsTable<'_>, pairs: &[Pair]) -> std::result::Result<(), (usize, Error)> {
    let mut i = 0;
    let mut alone = 0;
    while let Some((key, value)) = pairs.get(i) {
        let one = |table: &mut RecordsTable<'_>| table.insert(key.as_slice(), value.as_slice()).map(drop);
        if alone >= ALONE {
            one(table).map_err(|e| (i, storage(e)))?;
            i += 1;
            continue;
        }
        let mut cursor = table.lower_bound_mut(Bound::Included(key.as_slice())).map_err(|e| (i, storage(e)))?;
        // A run: the next pair too sorts before the stored entry after the gap.
        let run = match (cursor.peek_next().map_err(|e| (i, storage(e)))?, pairs.get(i + 1)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some((next, _)), Some((second, _))) => next.value() > key.as_slice() && next.value() > second.as_slice(),
        };
        if !run {
            cursor.close().map_err(|e| (i, storage(e)))?;
            one(table).map_err(|e| (i, storage(e)))?;
            alone += 1;
            i += 1;
            continue;
        }
        alone = 0;
        let start = i;
        while let Some((key, value)) = pairs.get(i) {
            match cursor.insert_before(key.as_slice(), value.as_slice()) {
                Ok(()) => i += 1,
                Err(redb::CursorError::UnorderedKey) => break,
                Err(e) => return Err((i, storage(e))),
            }
        }
        cursor.close().map_err(|e| (start, storage(e)))?;
        if i == start {
            // Not expected (the run was checked), but never loop: insert it alone.
            one(table).map_err(|e| (i, storage(e)))?;
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Database, Key, Model};

    #[derive(Model, Debug, Clone, PartialEq)]
    #[model(collection = "append_notes")]
    struct Note {
        #[field(key)]
        id: Option<Key<Note>>,
        #[field(index)]
        rank: i64,
        #[field(index)]
        text: String,
    }

    #[tokio::test]
    async fn a_batch_past_the_held_bytes_is_written_in_parts_with_every_entry() {
        let db = Database::in_memory().unwrap();
        let long = "x".repeat(1_000);
        // About 200 KiB: some fifty parts of 4 KiB.
        let note = |i: i64| Note { id: None, rank: (i * 37) % 200, text: format!("{long}{i:03}") };
        let mut notes: Vec<Note> = (0..200).map(note).collect();
        let keys = db.save_many(&mut notes).await.unwrap();
        assert_eq!(keys.len(), 200);
        let all = db.query::<Note>().order_by(Note::id().asc()).all().await.unwrap();
        assert_eq!(all, notes);
        for r in [0, 57, 199] {
            let found = db.query::<Note>().filter(Note::rank().eq(r)).all().await.unwrap();
            assert_eq!(found.len(), 1, "rank {r}");
            assert_eq!(found[0].rank, r);
        }
        let q = db
            .query::<Note>()
            .filter(Note::text().gte(format!("{long}100")))
            .filter(Note::text().lt(format!("{long}150")));
        assert_eq!(q.count().await.unwrap(), 50);
        let report = db.integrity_check().await.unwrap();
        assert!(report.problems.is_empty(), "{report:?}");
        assert_eq!(report.records, 200);
    }
}
