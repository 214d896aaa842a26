//! The embedded backend's tables: their names and definitions, opening them, and redb's
//! failures as nonrel's error kinds.

use crate::error::{Error, ErrorKind, Result};
use crate::schema::model::{IndexDesc, ModelDesc};
use redb::{Table, TableDefinition, TableError};

/// A records table open in a write transaction.
pub(super) type RecordsTable<'tx> = Table<'tx, &'static [u8], &'static [u8]>;

pub(super) type Bytes<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// Indexes whose entries cover every record (an index declared after records were written
/// is used once its first write or `rebuild_indexes` has filled it).
pub(crate) const BUILT: TableDefinition<&str, u8> = TableDefinition::new("nonrel:built-indexes");

/// Last automatic key of each collection.
pub(super) const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("nonrel:sequences");

pub(super) fn records_table(m: &ModelDesc) -> &'static str {
    named((m.collection, "", 0), || format!("records:{}", m.collection))
}

pub(super) fn index_table(m: &ModelDesc, i: &IndexDesc) -> &'static str {
    // A covering index's entries hold documents: its own table, so a declaration that
    // changes is filled afresh rather than read in the other layout.
    let kind = match (i.unique, i.covering) {
        (false, false) => "index",
        (true, false) => "unique",
        (false, true) => "covering",
        (true, true) => "unique-covering",
    };
    named((m.collection, i.path, 1 + u8::from(i.unique) + 2 * u8::from(i.covering)), || {
        format!("{kind}:{}:{}", m.collection, i.path)
    })
}

/// What a table name is made of: a collection, an index path (empty for the records table)
/// and the table's kind.
type NameParts = (&'static str, &'static str, u8);

/// The name of a table, formatted once per process: every read and write opens its tables
/// by name, and the parts are `'static` text, so the names are few and kept for good.
fn named(parts: NameParts, make: impl FnOnce() -> String) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    // The parts' addresses and lengths name them (`'static` text never moves or changes),
    // so a lookup hashes and compares four words and a byte, not the text.
    type Key = (usize, usize, usize, usize, u8);
    static NAMES: OnceLock<RwLock<HashMap<Key, &'static str, std::hash::BuildHasherDefault<Words>>>> = OnceLock::new();
    let key = (parts.0.as_ptr() as usize, parts.0.len(), parts.1.as_ptr() as usize, parts.1.len(), parts.2);
    let names = NAMES.get_or_init(Default::default);
    if let Some(name) = names.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return name;
    }
    let mut names = names.write().unwrap_or_else(|e| e.into_inner());
    names.entry(key).or_insert_with(|| Box::leak(make().into_boxed_str()))
}

/// A hasher of a few machine words (multiply and rotate; the keys are addresses and lengths,
/// not input an attacker chooses).
#[derive(Default)]
pub(super) struct Words(u64);

impl std::hash::Hasher for Words {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
}

/// Maps a redb failure to nonrel's error kinds.
pub(crate) fn storage(e: impl Into<redb::Error>) -> Error {
    let e: redb::Error = e.into();
    let kind = match &e {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => ErrorKind::Locked,
        redb::Error::Corrupted(_) | redb::Error::UpgradeRequired(_) => ErrorKind::Corrupt,
        redb::Error::ValueTooLarge(_) => ErrorKind::TooLarge,
        _ => ErrorKind::Storage,
    };
    Error::new(kind, "embedded store").with_source(e)
}

/// Opens a table for reading; `None` when nothing was ever written to it.
pub(super) fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    tx: &redb::ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>> {
    match tx.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(storage(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(crate::Model)]
    #[model(collection = "name_notes")]
    struct Note {
        #[field(key)]
        id: Option<crate::Key<Note>>,
        title: String,
    }

    #[test]
    fn table_names_are_formatted_once_and_differ_by_kind() {
        let m = <Note as crate::Model>::DESC;
        let (plain, unique, covering) = (
            IndexDesc { path: "title", unique: false, covering: false },
            IndexDesc { path: "title", unique: true, covering: false },
            IndexDesc { path: "title", unique: false, covering: true },
        );
        assert_eq!(records_table(m), "records:name_notes");
        assert_eq!(index_table(m, &plain), "index:name_notes:title");
        assert_eq!(index_table(m, &unique), "unique:name_notes:title");
        assert_eq!(index_table(m, &covering), "covering:name_notes:title");
        assert!(std::ptr::eq(records_table(m), records_table(m)));
        assert!(std::ptr::eq(index_table(m, &plain), index_table(m, &plain)));
        // The same path held elsewhere names the same table.
        let elsewhere = IndexDesc { path: String::leak("title".to_owned()), unique: false, covering: false };
        assert_eq!(index_table(m, &elsewhere), "index:name_notes:title");
    }
}
