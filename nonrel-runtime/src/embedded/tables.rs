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

pub(super) fn records_table(m: &ModelDesc) -> String {
    format!("records:{}", m.collection)
}

pub(super) fn index_table(m: &ModelDesc, i: &IndexDesc) -> String {
    // A covering index's entries hold documents: its own table, so a declaration that
    // changes is filled afresh rather than read in the other layout.
    let kind = match (i.unique, i.covering) {
        (false, false) => "index",
        (true, false) => "unique",
        (false, true) => "covering",
        (true, true) => "unique-covering",
    };
    format!("{kind}:{}:{}", m.collection, i.path)
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
