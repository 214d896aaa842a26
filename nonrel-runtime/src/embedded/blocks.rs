//! Counted indexes (`#[field(index(counted))]`): beside the index table, a table of how many
//! of its entries fall in each block of adjacent numbers or dates, at four block sizes. A
//! count over a range adds up the largest blocks inside it, then the smaller ones at its two
//! ends, and reads index entries only where it is finer than the finest block.
//!
//! A block is a run of the values' order-preserving encodings: the class tag, then the first
//! eight bytes after it shifted right. A number's eight bytes order it as a double (sign,
//! exponent, mantissa), so its blocks are fractions of a power of two (a quarter, 1/64,
//! 1/1024 and 1/16,384 of it) and grow with the numbers: around 50,000 they hold 8,192, 512,
//! 32 and 2 consecutive integers. A date's are its milliseconds: blocks of 2^36 ms (about
//! 2.2 years), 2^32 (50 days), 2^28 (3.1 days) and 2^24 (4.7 hours). Entries of other values
//! (text, null, flags) are in no block, and a count of them reads them.
//!
//! A write changes four blocks for each entry it writes or removes. The changes of a
//! committed write are kept in memory beside the table (a few hundred blocks at most, so a
//! single write does not rewrite pages of the counts table too) and written to the table by
//! a later write once they add up, by a batch, and when the database is closed; a count adds
//! both. While changes are held only in memory the table of built markers says so, and a
//! file opened after a crash recounts those counts from their entries ([`recover`]).

use super::index::{self, KeyRange};
use super::tables::{storage, StoredKey};
use crate::core::order::{DATETIME, NUMBER};
use crate::error::{Error, ErrorKind, Result};
use crate::schema::model::IndexDesc;
use redb::{ReadableTable, Table};
use std::collections::BTreeMap;
use std::ops::Bound;

/// The number of block sizes.
const LEVELS: usize = 4;

/// The classes counted in blocks: each tag with its shifts, the largest blocks first.
const CLASSES: [(u8, [u32; LEVELS]); 2] = [(NUMBER, [50, 46, 42, 38]), (DATETIME, [36, 32, 28, 24])];

/// A block's key in the counts table: its level, the class tag, its number (big-endian).
pub(super) type Block = [u8; 10];

/// The counts table of a counted index, open in a write transaction.
pub(super) type CountsTable<'tx> = Table<'tx, StoredKey, &'static [u8]>;

/// Changes to blocks made by one write, by block.
pub(super) type Pending = BTreeMap<Block, i64>;

/// Changes to blocks committed but held in memory: each counts table's, sorted by block.
pub(super) type Held = Vec<(&'static str, Vec<(Block, i64)>)>;

/// The key, in the table of built markers, saying a counts table has changes held only in
/// memory (so it is recounted when the file is opened again).
pub(super) fn held_marker(counts_table: &str) -> String {
    format!("{HELD}{counts_table}")
}

const HELD: &str = "counts-held:";

fn shifts_of(tag: u8) -> Option<&'static [u32; LEVELS]> {
    CLASSES.iter().find(|(t, _)| *t == tag).map(|(_, s)| s)
}

fn block(level: usize, tag: u8, n: u64) -> Block {
    let mut b = [0u8; 10];
    b[0] = level as u8;
    b[1] = tag;
    b[2..].copy_from_slice(&n.to_be_bytes());
    b
}

/// Where a key (a value's encoding, or an index entry) lies in its class: the eight bytes
/// after the tag, zeros for those it lacks.
fn position(key: &[u8]) -> u64 {
    let rest = key.get(1..).unwrap_or_default();
    let mut b = [0u8; 8];
    let n = rest.len().min(8);
    b[..n].copy_from_slice(&rest[..n]);
    u64::from_be_bytes(b)
}

/// The lowest key of block `n` of a class at `shift` (the tag, then `n << shift`), or the
/// start of the next class when `n` is past the class's last block.
fn block_start(tag: u8, n: u64, shift: u32) -> Vec<u8> {
    if n >= 1u64 << (64 - shift) {
        return vec![tag + 1];
    }
    let mut k = Vec::with_capacity(9);
    k.push(tag);
    k.extend_from_slice(&(n << shift).to_be_bytes());
    k
}

/// The blocks an index entry counts in, one per level: none unless it holds a number or a
/// date.
pub(super) fn blocks_of(entry: &[u8]) -> impl Iterator<Item = Block> {
    let class = entry.first().and_then(|&tag| Some((tag, shifts_of(tag)?, position(entry))));
    let class = class.filter(|_| entry.len() >= 9);
    class.into_iter().flat_map(|(tag, shifts, at)| (0..LEVELS).map(move |level| block(level, tag, at >> shifts[level])))
}

fn held(path: &str, bytes: &[u8]) -> Result<i64> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| damaged(path, "holds a count that is not eight bytes"))?;
    Ok(i64::from_le_bytes(bytes))
}

fn damaged(path: &str, what: &str) -> Error {
    let msg = format!("the counts of the counted index {path} {what}: run rebuild_indexes()");
    Error::new(ErrorKind::Corrupt, msg)
}

/// Adds `delta` to one block.
fn bump(path: &str, table: &mut CountsTable<'_>, b: &Block, delta: i64) -> Result<()> {
    let now = match table.get(b.as_slice()).map_err(storage)? {
        Some(g) => held(path, g.value())?,
        None => 0,
    };
    let next = now + delta;
    if next == 0 {
        table.remove(b.as_slice()).map_err(storage)?;
    } else {
        table.insert(b.as_slice(), next.to_le_bytes().as_slice()).map_err(storage)?;
    }
    Ok(())
}

/// Counts an entry written (`delta` 1) or removed (`-1`) in its blocks, in `pending`.
pub(super) fn hold(pending: &mut Pending, entry: &[u8], delta: i64) {
    for b in blocks_of(entry) {
        *pending.entry(b).or_insert(0) += delta;
    }
}

/// Writes changes to blocks into a counts table (`path` names its index in messages).
pub(super) fn write(
    path: &str,
    table: &mut CountsTable<'_>,
    changes: impl IntoIterator<Item = (Block, i64)>,
) -> Result<()> {
    for (b, delta) in changes {
        if delta != 0 {
            bump(path, table, &b, delta)?;
        }
    }
    Ok(())
}

/// Adds one write's changes to those held for a counts table (blocks back at zero dropped).
pub(super) fn merge(held: &mut Vec<(Block, i64)>, changes: &Pending) {
    for (b, delta) in changes {
        match held.binary_search_by(|(h, _)| h.cmp(b)) {
            Ok(at) => {
                held[at].1 += delta;
                if held[at].1 == 0 {
                    held.remove(at);
                }
            }
            Err(at) if *delta != 0 => held.insert(at, (*b, *delta)),
            Err(_) => {}
        }
    }
}

/// The changes `held` keeps for one counts table (none when it keeps none).
pub(super) fn held_for<'h>(held: &'h Held, counts_table: &str) -> &'h [(Block, i64)] {
    held.iter().find(|(n, _)| *n == counts_table).map_or(&[][..], |(_, c)| c.as_slice())
}

/// The sum of the held changes to blocks in `lo..hi`.
fn held_in(held: &[(Block, i64)], lo: &Block, hi: &Block) -> i64 {
    let from = held.partition_point(|(b, _)| b < lo);
    held[from..].iter().take_while(|(b, _)| b < hi).map(|(_, d)| d).sum()
}

/// Recounts, in one write transaction, every counts table whose changes were held only in
/// memory when the file was last written (a process that stopped without closing the
/// database): each from its index's entries. Called when a file is opened.
pub(super) fn recover(db: &redb::Database) -> Result<()> {
    use super::tables::{Bytes, BUILT};
    let tx = db.begin_write().map_err(storage)?;
    let names: Vec<String> = {
        let built = tx.open_table(BUILT).map_err(storage)?;
        // Every marker: the names after `counts-held:`, before `counts-held;`.
        let found = built.range(HELD.."counts-held;").map_err(storage)?;
        found
            .map(|item| item.map(|(k, _)| k.value()[HELD.len()..].to_owned()))
            .collect::<std::result::Result<_, _>>()
            .map_err(storage)?
    };
    if names.is_empty() {
        return tx.abort().map_err(storage);
    }
    for name in &names {
        let Some(index) = name.strip_prefix("counts:") else { continue };
        let entries = tx.open_table(Bytes::new(index)).map_err(storage)?;
        let mut table = tx.open_table(Bytes::new(name)).map_err(storage)?;
        fill(index, &entries, &mut table)?;
        tx.open_table(BUILT).map_err(storage)?.remove(held_marker(name).as_str()).map_err(storage)?;
    }
    tx.commit().map_err(storage)
}

/// The blocks the entries of `entries` fill, with their counts.
fn expected(entries: &impl ReadableTable<StoredKey, &'static [u8]>) -> Result<Pending> {
    let mut out = Pending::new();
    for (tag, _) in CLASSES {
        let (lo, hi) = ([tag], [tag + 1]);
        for item in entries.range::<&[u8]>(lo.as_slice()..hi.as_slice()).map_err(storage)? {
            hold(&mut out, item.map_err(storage)?.0.value(), 1);
        }
    }
    Ok(out)
}

/// Counts every entry of `entries` into `table` (emptied first): the blocks written.
pub(super) fn fill(
    path: &str,
    entries: &impl ReadableTable<StoredKey, &'static [u8]>,
    table: &mut CountsTable<'_>,
) -> Result<u64> {
    table.retain(|_, _| false).map_err(storage)?;
    let blocks = expected(entries)?;
    let n = blocks.len() as u64;
    write(path, table, blocks)?;
    Ok(n)
}

/// How the counts (the table's, with the changes held in memory) differ from the entries:
/// one message per block that differs, and the number of blocks held.
pub(super) fn check(
    path: &str,
    entries: &impl ReadableTable<StoredKey, &'static [u8]>,
    table: Option<&impl ReadableTable<StoredKey, &'static [u8]>>,
    changes: &[(Block, i64)],
) -> Result<(Vec<String>, u64)> {
    let mut want = expected(entries)?;
    let mut have: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    if let Some(table) = table {
        for item in table.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            have.insert(k.value().to_vec(), held(path, v.value())?);
        }
    }
    let blocks = have.len() as u64;
    for (b, delta) in changes {
        *have.entry(b.to_vec()).or_insert(0) += delta;
    }
    let mut problems = Vec::new();
    for (k, have) in have {
        let n = Block::try_from(k.as_slice()).ok().and_then(|b| want.remove(&b)).unwrap_or(0);
        if have != n {
            problems.push(format!("block {} of the counted index holds {have}, its entries number {n}", hex(&k)));
        }
    }
    for (b, n) in want {
        problems.push(format!("block {} of the counted index is missing; its entries number {n}", hex(&b)));
    }
    Ok((problems, blocks))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The class boundaries a range is cut at, so each piece lies in one class or outside all.
fn boundaries() -> impl Iterator<Item = Vec<u8>> {
    CLASSES.iter().flat_map(|(tag, _)| [vec![*tag], vec![tag + 1]])
}

/// Counts the entries of `entries` in `range` (each entry once), adding up the blocks of
/// `counts` inside it: the count, and the entries and blocks read.
pub(super) fn count(
    index: &IndexDesc,
    entries: &impl ReadableTable<StoredKey, &'static [u8]>,
    counts: &impl ReadableTable<StoredKey, &'static [u8]>,
    changes: &[(Block, i64)],
    range: &KeyRange,
) -> Result<(u64, u64)> {
    let blocks = Blocks { index: index.path, entries, counts, changes };
    let mut pieces = Vec::new();
    let mut rest = range.clone();
    for cut in boundaries() {
        let above = match &rest.0 {
            Bound::Included(lo) | Bound::Excluded(lo) => cut > *lo,
            Bound::Unbounded => true,
        };
        let below = match &rest.1 {
            Bound::Included(hi) | Bound::Excluded(hi) => cut < *hi,
            Bound::Unbounded => true,
        };
        if above && below {
            pieces.push((rest.0, Bound::Excluded(cut.clone())));
            rest = (Bound::Included(cut), rest.1);
        }
    }
    pieces.push(rest);
    let (mut n, mut read) = (0i64, 0u64);
    for piece in pieces.iter().filter(|p| index::non_empty(p)) {
        let class = match &piece.0 {
            Bound::Included(lo) | Bound::Excluded(lo) => lo.first().and_then(|&tag| Some((tag, shifts_of(tag)?))),
            Bound::Unbounded => None,
        };
        let (c, r) = match class {
            Some((tag, shifts)) => blocks.in_class(tag, shifts, piece.clone(), 0)?,
            None => walk(entries, piece)?,
        };
        n += c;
        read += r;
    }
    let n = u64::try_from(n).map_err(|_| damaged(index.path, &format!("add up to {n}")))?;
    Ok((n, read))
}

/// The entries in `range`, read one by one.
fn walk(entries: &impl ReadableTable<StoredKey, &'static [u8]>, range: &KeyRange) -> Result<(i64, u64)> {
    let n = index::count_in(entries, std::slice::from_ref(range), usize::MAX)?;
    Ok((n as i64, n as u64))
}

/// What a count reads: the entries, the counts table, and the changes held in memory.
struct Blocks<'a, E, C> {
    index: &'a str,
    entries: &'a E,
    counts: &'a C,
    changes: &'a [(Block, i64)],
}

impl<E, C> Blocks<'_, E, C>
where
    E: ReadableTable<StoredKey, &'static [u8]>,
    C: ReadableTable<StoredKey, &'static [u8]>,
{
    /// [`count`] of a range inside one class, from blocks of `level` down.
    fn in_class(&self, tag: u8, shifts: &[u32; LEVELS], range: KeyRange, level: usize) -> Result<(i64, u64)> {
        if level == LEVELS {
            return walk(self.entries, &range);
        }
        let shift = shifts[level];
        let last = 1u64 << (64 - shift);
        // The first block whose every key is in the range, and the block past the last one.
        let first = match &range.0 {
            Bound::Included(lo) | Bound::Excluded(lo) => {
                let n = position(lo) >> shift;
                let start = block_start(tag, n, shift);
                let inside = if matches!(range.0, Bound::Included(_)) { start >= *lo } else { start > *lo };
                if inside {
                    n
                } else {
                    n + 1
                }
            }
            Bound::Unbounded => 0,
        };
        let end = match &range.1 {
            Bound::Included(hi) | Bound::Excluded(hi) if hi.first().is_some_and(|&t| t == tag) => {
                let n = position(hi) >> shift;
                if block_start(tag, n, shift) <= *hi {
                    Some(n)
                } else {
                    n.checked_sub(1)
                }
            }
            _ => Some(last),
        };
        let Some(end) = end.filter(|&end| first < end) else {
            return self.in_class(tag, shifts, range, level + 1);
        };
        let (lo, hi) = (block(level, tag, first), block(level, tag, end));
        let (mut n, mut read) = (held_in(self.changes, &lo, &hi), 0u64);
        for item in self.counts.range::<&[u8]>(lo.as_slice()..hi.as_slice()).map_err(storage)? {
            n += held(self.index, item.map_err(storage)?.1.value())?;
            read += 1;
        }
        let below = (range.0, Bound::Excluded(block_start(tag, first, shift)));
        if index::non_empty(&below) {
            let (c, r) = self.in_class(tag, shifts, below, level + 1)?;
            n += c;
            read += r;
        }
        if end < last {
            let above = (Bound::Included(block_start(tag, end, shift)), range.1);
            if index::non_empty(&above) {
                let (c, r) = self.in_class(tag, shifts, above, level + 1)?;
                n += c;
                read += r;
            }
        }
        Ok((n, read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::order::encoded;
    use crate::core::value::Value;
    use redb::{ReadableDatabase, TableDefinition};

    const ENTRIES: TableDefinition<StoredKey, &[u8]> = TableDefinition::new("entries");
    const COUNTS: TableDefinition<StoredKey, &[u8]> = TableDefinition::new("counts");
    const INDEX: IndexDesc = IndexDesc { path: "f", unique: false, covering: false, counted: true };

    /// A small xorshift generator: the same cases on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A value from the kinds a counted index meets: dense and sparse integers of both signs,
    /// integers past 2^53, doubles, dates a few hours or years apart, and other classes.
    fn value(rng: &mut Rng) -> Value {
        use chrono::TimeZone;
        match rng.below(10) {
            0..=2 => Value::Int64(rng.below(5_000) as i64),
            3 => Value::Int64(rng.below(200_000) as i64 - 100_000),
            4 => Value::Int64((1i64 << 53) + rng.below(64) as i64 * if rng.below(2) == 0 { 1 } else { -1 }),
            5 => Value::Double((rng.below(1 << 20) as f64 - (1 << 19) as f64) / 37.0),
            6 => {
                let ms = 1_700_000_000_000i64 + (rng.below(400) as i64 - 200) * 3_600_000 + rng.below(1000) as i64;
                Value::DateTime(chrono::Utc.timestamp_millis_opt(ms).unwrap())
            }
            7 => Value::DateTime(chrono::Utc.timestamp_millis_opt(rng.below(1 << 42) as i64 - (1 << 41)).unwrap()),
            8 => Value::String(format!("t{}", rng.below(50))),
            _ => match rng.below(3) {
                0 => Value::Null,
                1 => Value::Bool(rng.below(2) == 0),
                _ => Value::Double(f64::NAN),
            },
        }
    }

    /// A bound's key: a value's encoding, a block's start, a class's edge, or a truncation.
    fn bound_key(rng: &mut Rng) -> Vec<u8> {
        let v = encoded(&value(rng));
        match rng.below(6) {
            0 | 1 => v,
            2 => {
                let mut v = v;
                v.extend_from_slice(&rng.below(300).to_be_bytes()[5..]);
                v
            }
            3 => match shifts_of(v[0]) {
                Some(shifts) => {
                    let shift = shifts[rng.below(LEVELS as u64) as usize];
                    block_start(v[0], position(&v) >> shift, shift)
                }
                None => v,
            },
            4 => {
                let cut = rng.below(v.len() as u64 + 1) as usize;
                v[..cut].to_vec()
            }
            _ => [[0x10], [0x11], [0x80], [0x81], [0x00], [0xFF]][rng.below(6) as usize].to_vec(),
        }
    }

    fn bound(rng: &mut Rng) -> Bound<Vec<u8>> {
        match rng.below(9) {
            0 => Bound::Unbounded,
            1..=4 => Bound::Included(bound_key(rng)),
            _ => Bound::Excluded(bound_key(rng)),
        }
    }

    #[test]
    fn counts_kept_entry_by_entry_are_the_counts_filled_at_once_and_every_range_adds_up_as_read() {
        let db = redb::Builder::new().create_with_backend(redb::backends::InMemoryBackend::new()).unwrap();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut live: Vec<Vec<u8>> = Vec::new();
        // Changes held in memory, not written to the table (as a store holds them).
        let mut kept: Vec<(Block, i64)> = Vec::new();
        for round in 0..4 {
            let tx = db.begin_write().unwrap();
            {
                let mut entries = tx.open_table(ENTRIES).unwrap();
                let mut counts = tx.open_table(COUNTS).unwrap();
                let mut pending = Pending::new();
                for i in 0..3_000u64 {
                    let (key, delta) = if !live.is_empty() && rng.below(4) == 0 {
                        let gone = live.swap_remove(rng.below(live.len() as u64) as usize);
                        entries.remove(gone.as_slice()).unwrap();
                        (gone, -1)
                    } else {
                        let mut key = encoded(&value(&mut rng));
                        key.extend_from_slice(&(round * 10_000 + i).to_be_bytes());
                        entries.insert(key.as_slice(), [].as_slice()).unwrap();
                        live.push(key.clone());
                        (key, 1)
                    };
                    // A third written one by one, a third added up first, a third held.
                    match i % 3 {
                        0 => {
                            let mut one = Pending::new();
                            hold(&mut one, &key, delta);
                            write("f", &mut counts, one).unwrap();
                        }
                        1 => hold(&mut pending, &key, delta),
                        _ => {
                            let mut one = Pending::new();
                            hold(&mut one, &key, delta);
                            merge(&mut kept, &one);
                        }
                    }
                }
                write("f", &mut counts, pending).unwrap();
            }
            tx.commit().unwrap();

            let tx = db.begin_read().unwrap();
            let entries = tx.open_table(ENTRIES).unwrap();
            let counts = tx.open_table(COUNTS).unwrap();
            let (problems, held) = check("f", &entries, Some(&counts), &kept).unwrap();
            assert!(problems.is_empty(), "{problems:?}");
            assert!(held > 0);
            assert!(!kept.is_empty() && kept.windows(2).all(|w| w[0].0 < w[1].0) && kept.iter().all(|(_, d)| *d != 0));
            let mut wide = 0;
            for _ in 0..1_000 {
                let range = (bound(&mut rng), bound(&mut rng));
                let want = index::count_in(&entries, std::slice::from_ref(&range), usize::MAX).unwrap() as u64;
                let (n, read) = count(&INDEX, &entries, &counts, &kept, &range).unwrap();
                assert_eq!(n, want, "{range:?}");
                // Entries of other classes are read; those in blocks mostly are not.
                let classes: Vec<KeyRange> = boundaries()
                    .collect::<Vec<_>>()
                    .chunks(2)
                    .map(|c| (Bound::Included(c[0].clone()), Bound::Excluded(c[1].clone())))
                    .collect();
                let in_blocks = index::intersect(&classes, std::slice::from_ref(&range));
                let in_blocks = index::count_in(&entries, &in_blocks, usize::MAX).unwrap() as u64;
                if in_blocks > 1_000 {
                    wide += 1;
                    let others = want - in_blocks;
                    assert!(
                        read < others + in_blocks / 2,
                        "{range:?}: {read} read for {in_blocks} in blocks, {others} other"
                    );
                }
            }
            assert!(wide > 25, "{wide} wide ranges");
        }
        // Filled at once from the entries: the same blocks as those kept with the held ones
        // written.
        let tx = db.begin_write().unwrap();
        {
            let entries = tx.open_table(ENTRIES).unwrap();
            let mut counts = tx.open_table(TableDefinition::<StoredKey, &[u8]>::new("filled")).unwrap();
            fill("f", &entries, &mut counts).unwrap();
            let mut kept_table = tx.open_table(COUNTS).unwrap();
            write("f", &mut kept_table, kept).unwrap();
            let kept = kept_table;
            let rows = |t: &CountsTable<'_>| -> Vec<(Vec<u8>, Vec<u8>)> {
                t.iter().unwrap().map(|i| i.unwrap()).map(|(k, v)| (k.value().to_vec(), v.value().to_vec())).collect()
            };
            assert_eq!(rows(&kept), rows(&counts));
        }
        tx.abort().unwrap();
    }

    #[test]
    fn a_range_of_a_thousand_consecutive_integers_reads_a_few_dozen_blocks_and_entries() {
        let db = redb::Builder::new().create_with_backend(redb::backends::InMemoryBackend::new()).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut entries = tx.open_table(ENTRIES).unwrap();
            let mut counts = tx.open_table(COUNTS).unwrap();
            for n in 0..100_000i64 {
                let mut key = encoded(&Value::Int64(n));
                key.extend_from_slice(&n.to_be_bytes());
                entries.insert(key.as_slice(), [].as_slice()).unwrap();
                let mut one = Pending::new();
                hold(&mut one, &key, 1);
                write("f", &mut counts, one).unwrap();
            }
        }
        tx.commit().unwrap();
        let tx = db.begin_read().unwrap();
        let (entries, counts) = (tx.open_table(ENTRIES).unwrap(), tx.open_table(COUNTS).unwrap());
        let mut most = 0;
        for a in (0..99_000).step_by(997) {
            let range = (Bound::Included(encoded(&Value::Int64(a))), Bound::Excluded(encoded(&Value::Int64(a + 1000))));
            let (n, read) = count(&INDEX, &entries, &counts, &[], &range).unwrap();
            assert_eq!(n, 1000);
            most = most.max(read);
        }
        // Entries below two apart, and at most 15 blocks a side at each of the three finer sizes.
        assert!(most <= 2 + 6 * 15 + 16, "{most} read");
    }
}
