//! Cursor pages and transactions, reported as `ratio <name> <ours/baseline> <max allowed>`
//! lines (lower is better), and `note <name> <ours/baseline>` lines for the controls (context,
//! no target):
//!
//! - `page_1000_vs_page_1_<backend>`: page 1,000 (20 a page) read through its cursor / page 1
//!   of the same query (ordered by an indexed field, descending, with ties), at most 1.2;
//! - `offset_page_1000_vs_page_1_<backend>` (a note): the same page read with
//!   `offset(19_980)` / page 1, the control that shows what the cursor saves;
//! - `transaction_vs_plain_embedded`: a transaction that reads and writes one record / the
//!   same `get` and `save` without one, on a database file, at most 2.
//!
//! `PAGES_ONLY=embedded` or `PAGES_ONLY=mongo` runs one backend (`scripts/bench` runs each
//! in its stage); the MongoDB part needs `MONGODB_URI` and the `mongodb` feature. Alone:
//! `cargo bench -p nonrel-runtime --features mongodb --bench pages`.

#[path = "../foundation/report.rs"]
mod report;

use criterion::Criterion;
use nonrel_runtime::{Backend, Database, Key, Model, Redb};
use report::Ratio;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};
use tokio::runtime::Runtime;

/// Records in the paged collection: more than 1,000 pages of 20.
const RECORDS: i64 = 25_000;
const PAGE: usize = 20;
const DEEP: usize = 1_000;

#[derive(Model, Debug, Clone)]
#[model(collection = "bench_pages")]
struct Article {
    #[field(key)]
    id: Option<Key<Article>>,
    /// Two records share each score: the key breaks the ties.
    #[field(index)]
    score: i64,
    title: String,
    body: String,
}

#[derive(Model, Debug, Clone)]
#[model(collection = "bench_counters")]
struct Counter {
    #[field(key)]
    name: String,
    n: i64,
    note: String,
}

fn article(i: i64) -> Article {
    Article { id: None, score: (i * 7919) % (RECORDS / 2), title: format!("article {i}"), body: "x".repeat(200) }
}

fn ordered<B: Backend>(db: &Database<B>) -> nonrel_runtime::QueryBuilder<'_, B, Article> {
    db.query::<Article>().order_by(Article::score().desc())
}

async fn load<B: Backend>(db: &Database<B>) {
    for start in (0..RECORDS).step_by(5_000) {
        let mut batch: Vec<Article> = (start..(start + 5_000).min(RECORDS)).map(article).collect();
        db.save_many(&mut batch).await.expect("save_many");
    }
}

/// The cursor that reads page `DEEP`: the cursor of the last record of page `DEEP - 1`, and
/// a check that it reads what offset reads.
async fn deep_cursor<B: Backend>(db: &Database<B>) -> String {
    let before = (DEEP - 1) * PAGE;
    let last = ordered(db).offset(before - 1).limit(1).all().await.expect("offset").remove(0);
    let cursor = ordered(db).page(PAGE).cursor_of(&last).expect("cursor");
    let by_cursor = ordered(db).page(PAGE).after(cursor.clone()).await.expect("page");
    let by_offset = ordered(db).offset(before).limit(PAGE).all().await.expect("offset page");
    let keys = |v: &[Article]| v.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&by_cursor.items), keys(&by_offset), "the cursor reads page {DEEP}");
    cursor
}

fn pages<B: Backend>(c: &mut Criterion, rt: &Runtime, db: &Database<B>, backend: &str) {
    let cursor = rt.block_on(deep_cursor(db));
    let mut g = c.benchmark_group(format!("pages_{backend}"));
    g.bench_function("page_1", |b| b.to_async(rt).iter(|| async { black_box(ordered(db).page(PAGE).await.unwrap()) }));
    g.bench_function("page_1000_cursor", |b| {
        b.to_async(rt).iter(|| async { black_box(ordered(db).page(PAGE).after(cursor.as_str()).await.unwrap()) })
    });
    g.bench_function("page_1000_offset", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(ordered(db).offset((DEEP - 1) * PAGE).limit(PAGE).all().await.unwrap()) })
    });
    g.finish();
}

fn transactions(c: &mut Criterion, rt: &Runtime, db: &Database<Redb>) {
    rt.block_on(db.save(&mut Counter { name: "hits".into(), n: 0, note: "y".repeat(100) })).unwrap();
    let mut g = c.benchmark_group("tx_embedded");
    g.bench_function("plain", |b| {
        b.to_async(rt).iter(|| async {
            let mut c = db.get::<Counter>("hits").await.unwrap().unwrap();
            c.n += 1;
            black_box(db.save(&mut c).await.unwrap())
        })
    });
    g.bench_function("transaction", |b| {
        b.to_async(rt).iter(|| async {
            black_box(
                db.transaction(|tx| async move {
                    let mut c = tx.get::<Counter>("hits").await?.unwrap();
                    c.n += 1;
                    tx.save(&mut c).await
                })
                .await
                .unwrap(),
            )
        })
    });
    g.finish();
}

const EMBEDDED: &[Ratio] = &[
    Ratio {
        name: "page_1000_vs_page_1_embedded",
        ours: "pages_embedded/page_1000_cursor",
        baseline: "pages_embedded/page_1",
        target: Some(1.2),
    },
    Ratio {
        name: "offset_page_1000_vs_page_1_embedded",
        ours: "pages_embedded/page_1000_offset",
        baseline: "pages_embedded/page_1",
        target: None,
    },
    Ratio {
        name: "transaction_vs_plain_embedded",
        ours: "tx_embedded/transaction",
        baseline: "tx_embedded/plain",
        target: Some(2.0),
    },
];

#[cfg(feature = "mongodb")]
const MONGO: &[Ratio] = &[
    Ratio {
        name: "page_1000_vs_page_1_mongodb",
        ours: "pages_mongodb/page_1000_cursor",
        baseline: "pages_mongodb/page_1",
        target: Some(1.2),
    },
    Ratio {
        name: "offset_page_1000_vs_page_1_mongodb",
        ours: "pages_mongodb/page_1000_offset",
        baseline: "pages_mongodb/page_1",
        target: None,
    },
];

fn embedded(c: &mut Criterion, rt: &Runtime, dir: &std::path::Path) -> Vec<&'static Ratio> {
    let started = Instant::now();
    let db = Database::open(dir.join("pages.redb")).expect("open");
    rt.block_on(load(&db));
    eprintln!("built the embedded fixture: {RECORDS} records in {:.1?}", started.elapsed());
    pages(c, rt, &db, "embedded");
    transactions(c, rt, &db);
    EMBEDDED.iter().collect()
}

#[cfg(feature = "mongodb")]
fn mongo(c: &mut Criterion, rt: &Runtime) -> Vec<&'static Ratio> {
    let Ok(uri) = std::env::var("MONGODB_URI") else {
        eprintln!("MONGODB_URI is unset: the MongoDB page ratios are not measured");
        return Vec::new();
    };
    let name = format!("nonrel_bench_pages_{}", std::process::id());
    let db = rt.block_on(Database::connect(&uri, &name)).expect("connect");
    let started = Instant::now();
    rt.block_on(async {
        db.sync_indexes().await.expect("sync_indexes");
        load(&db).await;
    });
    eprintln!("built the MongoDB fixture: {RECORDS} records in {:.1?}", started.elapsed());
    pages(c, rt, &db, "mongodb");
    let _ = rt.block_on(async { db.backend().database().drop().await });
    MONGO.iter().collect()
}

#[cfg(not(feature = "mongodb"))]
fn mongo(_: &mut Criterion, _: &Runtime) -> Vec<&'static Ratio> {
    eprintln!("built without the mongodb feature: the MongoDB page ratios are not measured");
    Vec::new()
}

fn main() {
    let since = SystemTime::now();
    let out = report::output_dir();
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let only = std::env::var("PAGES_ONLY").unwrap_or_default();
    let mut ratios = Vec::new();
    if only.is_empty() || only == "embedded" {
        ratios.extend(embedded(&mut c, &rt, dir.path()));
    }
    if only.is_empty() || only == "mongo" {
        ratios.extend(mongo(&mut c, &rt));
    }
    c.final_summary();
    report::print(&out, since, &ratios, &[]);
}
