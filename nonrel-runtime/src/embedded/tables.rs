//! The embedded backend's tables: their names and definitions, opening them, and redb's
//! failures as nonrel's error kinds.

use crate::error::{Error, ErrorKind, Result};
use crate::schema::model::{IndexDesc, ModelDesc};
use redb::{Table, TableDefinition, TableError, TypeName};
use std::cmp::Ordering;

/// A records or index table open in a write transaction.
pub(super) type RecordsTable<'tx> = Table<'tx, StoredKey, &'static [u8]>;

/// The definition of a records or index table: [`StoredKey`] keys, byte-string values.
pub(super) type Bytes<'a> = TableDefinition<'a, StoredKey, &'static [u8]>;

/// The key type of the embedded backend's records and index tables: byte strings (read and
/// written as `&[u8]`) in the order of their bytes, as redb orders `&[u8]`, compared eight
/// bytes at a time.
///
/// A records table's keys are a record key's stored form (an integer key is a tag byte and
/// eight bytes), an index table's the indexed value's order-preserving encoding and the
/// record's key; a lookup compares a key against a dozen or more of them, and the
/// comparison redb gives `&[u8]` calls `memcmp` for each. Files written before this type
/// (their tables typed `&[u8]`) are converted when they are opened
/// ([`Database::open`](crate::Database::open)).
///
/// Open a table of a nonrel file with redb directly through this type, when inspecting one:
///
/// ```
/// use nonrel_runtime::StoredKey;
/// let def = redb::TableDefinition::<StoredKey, &[u8]>::new("records:posts");
/// # let _ = def;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StoredKey;

impl redb::Value for StoredKey {
    type SelfType<'a> = &'a [u8];
    type AsBytes<'a> = &'a [u8];

    fn fixed_width() -> Option<usize> {
        None
    }

    fn from_bytes<'a>(data: &'a [u8]) -> &'a [u8]
    where
        Self: 'a,
    {
        data
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a &'b [u8]) -> &'a [u8]
    where
        Self: 'b,
    {
        value
    }

    fn type_name() -> TypeName {
        TypeName::new("nonrel::StoredKey")
    }
}

impl redb::Key for StoredKey {
    #[inline]
    fn compare(a: &[u8], b: &[u8]) -> Ordering {
        compare_bytes(a, b)
    }
}

/// `a.cmp(b)`, byte order, without a call: an integer key's nine bytes in two comparisons,
/// longer keys eight bytes at a time.
#[inline]
pub(crate) fn compare_bytes(a: &[u8], b: &[u8]) -> Ordering {
    if let (Some((x, xs)), Some((y, ys))) = (a.split_first_chunk::<1>(), b.split_first_chunk::<1>()) {
        if let (Ok(xs), Ok(ys)) = (<&[u8; 8]>::try_from(xs), <&[u8; 8]>::try_from(ys)) {
            return x.cmp(y).then(u64::from_be_bytes(*xs).cmp(&u64::from_be_bytes(*ys)));
        }
    }
    let (mut a, mut b) = (a, b);
    while let (Some((x, rest_a)), Some((y, rest_b))) = (a.split_first_chunk::<8>(), b.split_first_chunk::<8>()) {
        if x != y {
            return u64::from_be_bytes(*x).cmp(&u64::from_be_bytes(*y));
        }
        (a, b) = (rest_a, rest_b);
    }
    a.cmp(b)
}

/// A records or index table as files written before [`StoredKey`] typed it.
type Untyped<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// Whether a table's name is one of a records or index table.
fn keyed_by_stored_key(name: &str) -> bool {
    std::iter::once(RECORDS).chain(INDEX_KINDS).any(|kind| name.strip_prefix(kind).is_some_and(|r| r.starts_with(':')))
}

/// Copies every entry of `from` into `to`.
fn copy_entries<K: redb::Key + 'static>(
    from: &impl redb::ReadableTable<K, &'static [u8]>,
    to: &mut RecordsTable<'_>,
) -> Result<()>
where
    for<'a> K::SelfType<'a>: std::borrow::Borrow<&'a [u8]>,
{
    use std::borrow::Borrow;
    for entry in from.iter().map_err(storage)? {
        let (k, v) = entry.map_err(storage)?;
        to.insert(*k.value().borrow(), v.value()).map_err(storage)?;
    }
    Ok(())
}

/// Converts the records and index tables of a file written before [`StoredKey`] (typed
/// `&[u8]`, the same bytes in the same order) to it, in one write transaction: each table
/// is copied to a scratch table, deleted, created with the new type and filled from the
/// scratch table. A file already converted (or new) is only looked at: one read
/// transaction, each table's type checked.
pub(super) fn upgrade(db: &redb::Database) -> Result<()> {
    use redb::{ReadableDatabase, TableHandle};
    let old: Vec<String> = {
        let tx = db.begin_read().map_err(storage)?;
        let names: Vec<String> = tx.list_tables().map_err(storage)?.map(|t| t.name().to_owned()).collect();
        names.into_iter().filter(|n| keyed_by_stored_key(n) && tx.open_table(Untyped::new(n)).is_ok()).collect()
    };
    if old.is_empty() {
        return Ok(());
    }
    const SCRATCH: Bytes<'static> = TableDefinition::new("nonrel:upgrading");
    let tx = db.begin_write().map_err(storage)?;
    for name in &old {
        let old = tx.open_table(Untyped::new(name)).map_err(storage)?;
        copy_entries(&old, &mut tx.open_table(SCRATCH).map_err(storage)?)?;
        drop(old);
        tx.delete_table(Untyped::new(name)).map_err(storage)?;
        let scratch = tx.open_table(SCRATCH).map_err(storage)?;
        copy_entries(&scratch, &mut tx.open_table(Bytes::new(name)).map_err(storage)?)?;
        drop(scratch);
        tx.delete_table(SCRATCH).map_err(storage)?;
    }
    tx.commit().map_err(storage)
}

/// Indexes whose entries cover every record (an index declared after records were written
/// is used once its first write or `rebuild_indexes` has filled it).
pub(crate) const BUILT: TableDefinition<&str, u8> = TableDefinition::new("nonrel:built-indexes");

/// Last automatic key of each collection.
pub(super) const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("nonrel:sequences");

/// The kind that names a records table.
const RECORDS: &str = "records";

/// The kinds that name an index table, by `unique + 2 * covering`. A covering index's
/// entries hold documents: its own table, so a declaration that changes is filled afresh
/// rather than read in the other layout.
const INDEX_KINDS: [&str; 4] = ["index", "unique", "covering", "unique-covering"];

pub(super) fn records_table(m: &ModelDesc) -> &'static str {
    named((m.collection, "", 0), || format!("{RECORDS}:{}", m.collection))
}

pub(super) fn index_table(m: &ModelDesc, i: &IndexDesc) -> &'static str {
    let at = u8::from(i.unique) + 2 * u8::from(i.covering);
    named((m.collection, i.path, 1 + at), || format!("{}:{}:{}", INDEX_KINDS[usize::from(at)], m.collection, i.path))
}

/// The counts table of a counted index (`#[field(index(counted))]`): its index table's
/// name after `counts:`.
pub(super) fn counts_table(m: &ModelDesc, i: &IndexDesc) -> &'static str {
    let at = u8::from(i.unique) + 2 * u8::from(i.covering);
    // The index table's name first: `named` holds its lock while it formats.
    let index = index_table(m, i);
    named((m.collection, i.path, 8 + at), || format!("counts:{index}"))
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
            IndexDesc { path: "title", unique: false, covering: false, counted: false },
            IndexDesc { path: "title", unique: true, covering: false, counted: false },
            IndexDesc { path: "title", unique: false, covering: true, counted: false },
        );
        assert_eq!(records_table(m), "records:name_notes");
        assert_eq!(index_table(m, &plain), "index:name_notes:title");
        assert_eq!(index_table(m, &unique), "unique:name_notes:title");
        assert_eq!(index_table(m, &covering), "covering:name_notes:title");
        assert!(std::ptr::eq(records_table(m), records_table(m)));
        assert!(std::ptr::eq(index_table(m, &plain), index_table(m, &plain)));
        // The same path held elsewhere names the same table.
        let elsewhere =
            IndexDesc { path: String::leak("title".to_owned()), unique: false, covering: false, counted: false };
        assert_eq!(index_table(m, &elsewhere), "index:name_notes:title");
    }
}
