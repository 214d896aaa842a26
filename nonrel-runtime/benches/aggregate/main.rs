//! Aggregates on the embedded backend (a file store) against the same pass written by hand
//! on redb, wall time per operation, both sides measured in the same run in paired rounds
//! (bench-support) and reported as `ratio <name> <value> <max allowed>`:
//!
//! - `aggregate_scan_vs_hand`: count, sum and average of an integer field over 100,000
//!   records (`aggregate((Count, Sum, Avg))`, one pass inside the store) against one read
//!   transaction iterating the records table and reading the field from each document's
//!   bytes with bson's raw reader;
//! - `aggregate_index_vs_hand`: the sum over the tenth of them one category holds, through
//!   the category's index, against the index range and a get of each record by hand.
//!
//! The database is built once with nonrel, closed and copied byte for byte; nonrel reads the
//! original and the hand-written side the copy (redb allows one handle per file).
//!
//! Alone: `cargo bench -p nonrel-runtime --bench aggregate`.

use criterion::Criterion;
use nonrel_bench_support::{output_dir, print, rounds, Ratio};
use nonrel_runtime::aggregate::{Avg, Count, Sum};
use nonrel_runtime::{Database, Key, Model, Redb};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::time::{Duration, Instant, SystemTime};

type Bytes<'a> = TableDefinition<'a, nonrel_runtime::StoredKey, &'static [u8]>;

const RECORDS: i64 = 100_000;

#[derive(Model, Debug, Clone)]
#[model(collection = "agg_items")]
struct Item {
    #[field(key)]
    id: Option<Key<Item>>,
    #[field(index)]
    category: String,
    views: i64,
    title: String,
    price: f64,
}

async fn load(db: &Database<Redb>) {
    let mut batch = Vec::with_capacity(10_000);
    for n in 0..RECORDS {
        batch.push(Item {
            id: None,
            category: format!("c{}", n % 10),
            views: (n * 7919) % 10_007,
            title: format!("item number {n}"),
            price: n as f64 / 4.0,
        });
        if batch.len() == 10_000 {
            db.save_many(&mut batch).await.expect("save");
            batch.clear();
        }
    }
}

async fn ours_scan(db: &Database<Redb>) -> (u64, i64, Option<f64>) {
    db.query::<Item>().aggregate((Count, Sum(Item::views()), Avg(Item::views()))).await.expect("aggregate")
}

async fn ours_index(db: &Database<Redb>) -> i64 {
    db.query::<Item>().filter(Item::category().eq("c3")).sum(Item::views()).await.expect("sum")
}

fn views_of(doc: &[u8]) -> Option<i64> {
    bson::RawDocument::from_bytes(doc).ok()?.get_i64("views").ok()
}

fn hand_scan(raw: &redb::Database) -> (u64, i64, Option<f64>) {
    let tx = raw.begin_read().expect("begin_read");
    let records = tx.open_table(Bytes::new("records:agg_items")).expect("records");
    let (mut n, mut sum, mut numbers) = (0u64, 0i64, 0u64);
    for item in records.iter().expect("iter") {
        let (_, doc) = item.expect("record");
        n += 1;
        if let Some(v) = views_of(doc.value()) {
            sum = sum.checked_add(v).expect("no overflow");
            numbers += 1;
        }
    }
    (n, sum, (numbers > 0).then(|| sum as f64 / numbers as f64))
}

/// The index range of the text value "c3" (class tag 0x20 for text, then the escaped bytes
/// and the 0x00 0x00 terminator; the record key follows, and the entry's value is empty), then
/// a get of each record.
fn hand_index(raw: &redb::Database) -> i64 {
    let tx = raw.begin_read().expect("begin_read");
    let index = tx.open_table(Bytes::new("index:agg_items:category")).expect("index");
    let records = tx.open_table(Bytes::new("records:agg_items")).expect("records");
    let prefix = nonrel_runtime::order::encoded(&nonrel_runtime::Value::from("c3"));
    let end = nonrel_runtime::order::successor(&prefix).expect("a successor");
    let mut sum = 0i64;
    for entry in index.range::<&[u8]>(prefix.as_slice()..end.as_slice()).expect("range") {
        // The entry's key is the value's encoding, then the record key.
        let (entry, _) = entry.expect("entry");
        let pk = &entry.value()[prefix.len()..];
        let doc = records.get(pk).expect("get").expect("indexed record exists");
        sum = sum.checked_add(views_of(doc.value()).expect("views")).expect("no overflow");
    }
    sum
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, raw_path) = (dir.path().join("agg.redb"), dir.path().join("agg-raw.redb"));
    {
        let db = Database::open(&path).expect("open");
        rt.block_on(load(&db));
    }
    std::fs::copy(&path, &raw_path).expect("copy database");
    let db = Database::open(&path).expect("reopen");
    let raw = redb::Database::open(&raw_path).expect("open the copy with redb");
    assert_eq!(rt.block_on(ours_scan(&db)), hand_scan(&raw), "the hand-written pass finds another answer");
    assert_eq!(rt.block_on(ours_index(&db)), hand_index(&raw), "the hand-written index sum finds another answer");

    let since = SystemTime::now();
    // Criterion writes its samples where `print` reads them, wherever the bench runs from.
    let out = output_dir(env!("CARGO_TARGET_TMPDIR"));
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args();
    let timed = |iters: u64, f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed()
    };
    rounds(
        &mut c,
        &rt,
        "aggregate_scan",
        |iters| {
            let db = &db;
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(ours_scan(db).await);
                }
                start.elapsed()
            }
        },
        |iters| {
            let d = timed(iters, &|| {
                std::hint::black_box(hand_scan(&raw));
            });
            async move { d }
        },
    );
    rounds(
        &mut c,
        &rt,
        "aggregate_index",
        |iters| {
            let db = &db;
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(ours_index(db).await);
                }
                start.elapsed()
            }
        },
        |iters| {
            let d = timed(iters, &|| {
                std::hint::black_box(hand_index(&raw));
            });
            async move { d }
        },
    );
    c.final_summary();
    print(
        &out,
        since,
        &[
            Ratio { name: "aggregate_scan_vs_hand", group: "aggregate_scan", target: 1.5 },
            Ratio { name: "aggregate_index_vs_hand", group: "aggregate_index", target: 1.5 },
        ],
    );
}
