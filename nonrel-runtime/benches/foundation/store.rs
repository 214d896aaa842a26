//! Get by key and an indexed equality query on the embedded backend, against the same reads
//! written by hand on redb.
//!
//! Each database is built once with nonrel (`save_many`, 5,000 records per write
//! transaction), closed, and copied byte for byte; nonrel reads the original and the
//! hand-written baseline reads the copy (redb allows one handle per file), so both see the
//! same pages. Both sides run inside the same current-thread tokio runtime loop
//! (criterion's `to_async`).

use crate::model::{hand_decode, Grouped, Item};
use criterion::{Criterion, SamplingMode};
use nonrel_runtime::{Database, Key, Model, Redb};
use redb::{ReadableDatabase, TableDefinition};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;
use tokio::runtime::Runtime;

type Bytes<'a> = TableDefinition<'a, nonrel_runtime::StoredKey, &'static [u8]>;

/// nonrel's layout (embedded/store.rs) of model `M`'s tables: `records:<collection>`, key
/// bytes -> BSON document; `index:<collection>:<path>`, value ++ key -> key, or for a
/// covering index `covering:<collection>:<path>`, value ++ key -> document ++ key.
pub struct Tables {
    records: String,
    group: String,
    covering: bool,
}

impl Tables {
    fn of<M: Model>() -> Self {
        let index = M::DESC.index_on("group").expect("group is indexed");
        let kind = if index.covering { "covering" } else { "index" };
        let c = M::DESC.collection;
        Tables { records: format!("records:{c}"), group: format!("{kind}:{c}:group"), covering: index.covering }
    }
}

/// Records saved per write transaction while loading.
const BATCH: i64 = 5_000;
/// Records per value of the indexed field (what every query returns).
const PER_VALUE: i64 = 10;

/// A database written by nonrel and an identical copy opened with plain redb.
pub struct Fixture<M: Model> {
    pub db: Database<Redb>,
    pub raw: redb::Database,
    pub tables: Tables,
    pub keys: Vec<Key<M>>,
    pub values: i64,
}

/// Builds `records` records with `values` distinct values of the indexed field under `dir`.
pub fn fixture<M: Grouped>(rt: &Runtime, dir: &Path, name: &str, records: i64, values: i64) -> Fixture<M> {
    let started = Instant::now();
    let path = dir.join(format!("{name}.redb"));
    let raw_path = dir.join(format!("{name}-raw.redb"));
    let mut keys = Vec::with_capacity(records as usize);
    {
        let db = Database::open(&path).expect("create database");
        for start in (0..records).step_by(BATCH as usize) {
            let mut batch: Vec<M> = (start..(start + BATCH).min(records)).map(|i| M::make(i, values)).collect();
            keys.extend(rt.block_on(db.save_many(&mut batch)).expect("save_many"));
        }
    }
    std::fs::copy(&path, &raw_path).expect("copy database");
    let db = Database::open(&path).expect("reopen database");
    let raw = redb::Database::open(&raw_path).expect("open copy with redb");
    eprintln!("built {name}: {records} records in {:.1?}", started.elapsed());
    Fixture { db, raw, tables: Tables::of::<M>(), keys, values }
}

/// `KeyValue::Int(n).to_storage()` (key.rs): tag 0x10, then n with its sign bit flipped, big-endian.
fn int_key(n: i64) -> [u8; 9] {
    let mut k = [0x10; 9];
    k[1..].copy_from_slice(&((n as u64) ^ (1 << 63)).to_be_bytes());
    k
}

/// The index prefix of every entry whose value is the integer `v` (embedded/keys.rs):
/// class tag 0x10 (numbers), the double's order key, then the integer's distance from the
/// double (0 here: |v| < 2^53), sign-flipped. The prefix ends in 0x00, so the first key past
/// every entry with this prefix is the prefix with its last byte set to 0x01.
fn group_prefix(v: i64) -> ([u8; 17], [u8; 17]) {
    let bits = (v as f64).to_bits();
    let order = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    let mut lo = [0u8; 17];
    lo[0] = 0x10;
    lo[1..9].copy_from_slice(&order.to_be_bytes());
    lo[9..].copy_from_slice(&(1u64 << 63).to_be_bytes());
    let mut hi = lo;
    hi[16] = 0x01;
    (lo, hi)
}

/// Hand-written get: one read transaction, the records table, one lookup, decoded in place.
fn raw_get(raw: &redb::Database, tables: &Tables, n: i64) -> Option<crate::model::SerdeItem> {
    let tx = raw.begin_read().expect("begin_read");
    let table = tx.open_table(Bytes::new(&tables.records)).expect("open_table");
    let doc = table.get(int_key(n).as_slice()).expect("get")?;
    Some(hand_decode(doc.value()).expect("decode"))
}

/// Hand-written indexed equality: range over the index prefix, get each record, decode it;
/// on a covering index, decode the document each entry holds instead.
fn raw_query(raw: &redb::Database, tables: &Tables, v: i64) -> Vec<crate::model::SerdeItem> {
    let tx = raw.begin_read().expect("begin_read");
    let index = tx.open_table(Bytes::new(&tables.group)).expect("open index");
    let (lo, hi) = group_prefix(v);
    let mut out = Vec::new();
    if tables.covering {
        for entry in index.range::<&[u8]>(lo.as_slice()..hi.as_slice()).expect("range") {
            let (_, held) = entry.expect("entry");
            let held = held.value();
            let len = i32::from_le_bytes(held[..4].try_into().expect("length")) as usize;
            out.push(hand_decode(&held[..len]).expect("decode"));
        }
        return out;
    }
    let records = tx.open_table(Bytes::new(&tables.records)).expect("open records");
    for entry in index.range::<&[u8]>(lo.as_slice()..hi.as_slice()).expect("range") {
        // The entry's key is the value's 17 bytes, then the record key.
        let (entry, _) = entry.expect("entry");
        let pk = &entry.value()[lo.len()..];
        let doc = records.get(pk).expect("get").expect("indexed record exists");
        out.push(hand_decode(doc.value()).expect("decode"));
    }
    out
}

/// The i-th key or value of a sequence that spreads over `n` without locality.
fn spread(i: u64, n: i64) -> i64 {
    (i.wrapping_mul(7919) % n as u64) as i64
}

fn check<M: Grouped>(rt: &Runtime, f: &Fixture<M>) {
    let v = f.values / 2;
    let ours = rt.block_on(f.db.query::<M>().filter(M::in_group(v)).all()).expect("query");
    let theirs = raw_query(&f.raw, &f.tables, v);
    assert_eq!(ours.len() as i64, PER_VALUE, "each value should have {PER_VALUE} records");
    let names = |n: Vec<&str>| n.into_iter().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(names(theirs.iter().map(|t| t.name.as_str()).collect()), names(ours.iter().map(M::name).collect()));
    let got = rt.block_on(f.db.get(&f.keys[3])).expect("get").expect("record 3");
    assert_eq!(raw_get(&f.raw, &f.tables, 4).expect("record 4").name, got.name());
}

pub fn get(c: &mut Criterion, rt: &Runtime, f: &Fixture<Item>) {
    check(rt, f);
    let n = f.keys.len() as i64;
    let mut g = c.benchmark_group("get");
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("nonrel", |b| {
        let mut i = 0u64;
        b.to_async(rt).iter(|| {
            i += 1;
            let key = &f.keys[spread(i, n) as usize];
            async move { f.db.get(key).await.expect("get").expect("found") }
        })
    });
    g.bench_function("redb_by_hand", |b| {
        let mut i = 0u64;
        b.to_async(rt).iter(|| {
            i += 1;
            // Automatic keys are 1..=n, in save order.
            let key = spread(i, n) + 1;
            async move { raw_get(&f.raw, &f.tables, key).expect("found") }
        })
    });
    g.finish();
}

/// The query on a fixture as `nonrel<suffix>` and `redb_by_hand<suffix>` in group
/// `query_<size>`.
pub fn query<M: Grouped>(c: &mut Criterion, rt: &Runtime, f: &Fixture<M>, size: &str, suffix: &str) {
    check(rt, f);
    let values = f.values;
    let mut g = c.benchmark_group(format!("query_{size}"));
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function(format!("nonrel{suffix}"), |b| {
        let mut i = 0u64;
        b.to_async(rt).iter(|| {
            i += 1;
            let v = spread(i, values);
            async move { black_box(f.db.query::<M>().filter(M::in_group(v)).all().await.expect("query")) }
        })
    });
    g.bench_function(format!("redb_by_hand{suffix}"), |b| {
        let mut i = 0u64;
        b.to_async(rt).iter(|| {
            i += 1;
            let v = spread(i, values);
            async move { black_box(raw_query(&f.raw, &f.tables, v)) }
        })
    });
    g.finish();
}

/// Records with `PER_VALUE` records per value of the indexed field.
pub fn values_for(records: i64) -> i64 {
    records / PER_VALUE
}
