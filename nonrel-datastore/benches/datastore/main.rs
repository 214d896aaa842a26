//! The Datastore backend's benchmarks: nonrel against the same operations written by hand
//! with the same client crates (hyper, serde_json) on the same entities, against the same
//! emulator, measured in one run and reported as `ratio <name> <ours/hand> <max allowed>`:
//! `datastore_{save,get,query_10,page}_cpu` are this process's CPU time per operation (the
//! emulator is another process and both sides ask it for the same work, one call each, so
//! the ratio is nonrel's client CPU against the hand-written client's).
//!
//! Needs `DATASTORE_EMULATOR_HOST`. Alone: `cargo bench -p nonrel-datastore --bench datastore`.

mod hand;
mod model;

use criterion::Criterion;
use hand::{Hand, HandRec};
use model::{record, Rec, GROUP_SIZE};
use nonrel_bench_support::{cpu_now, output_dir, print, rounds, spread, Ratio};
use nonrel_datastore::Datastore;
use nonrel_runtime::{Database, Key};
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::runtime::Runtime;

const RATIOS: &[Ratio] = &[
    Ratio { name: "datastore_save_cpu", group: "datastore_save", target: 1.1 },
    Ratio { name: "datastore_get_cpu", group: "datastore_get", target: 1.1 },
    Ratio { name: "datastore_query_10_cpu", group: "datastore_query_10", target: 1.1 },
    Ratio { name: "datastore_page_cpu", group: "datastore_page", target: 1.1 },
];

/// Records each side holds.
const RECORDS: i64 = 2_000;

fn host() -> String {
    std::env::var("DATASTORE_EMULATOR_HOST").unwrap_or_else(|_| {
        panic!(
            "DATASTORE_EMULATOR_HOST is not set: start the emulator (`gcloud emulators firestore start \
             --database-mode=datastore-mode --host-port=127.0.0.1:8081`, or `scripts/servers.sh start` and \
             `source .servers/env`) and set DATASTORE_EMULATOR_HOST=127.0.0.1:8081"
        )
    })
}

struct Sides {
    db: Database<Datastore>,
    keys: Vec<Key<Rec>>,
    /// Per group, the cursor after its first page of 10 (nonrel) and the 10th id (by hand).
    cursors: Vec<(String, i64)>,
    hand: Hand,
    next_id: AtomicI64,
}

fn groups() -> i64 {
    RECORDS / GROUP_SIZE
}

async fn load(host: &str) -> Sides {
    let stamp = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let db = Database::new(Datastore::new(host, &format!("bench-nonrel-{stamp}")));
    let hand = Hand::new(host, &format!("bench-hand-{stamp}"));
    let mut keys = Vec::new();
    let mut i = 0;
    while i < RECORDS {
        let end = (i + 500).min(RECORDS);
        let mut batch: Vec<Rec> = (i..end).map(record).collect();
        db.save_many(&mut batch).await.expect("load");
        keys.extend(batch.iter().map(|r| r.id.clone().expect("a key")));
        let hand_batch: Vec<HandRec> = (i..end).map(|j| HandRec::of(&record(j), j + 1)).collect();
        hand.insert(&hand_batch).await;
        i = end;
    }
    let mut cursors = Vec::new();
    for g in 0..groups() {
        let page = db.query::<Rec>().filter(Rec::group().eq(format!("g{g}"))).page(10).await.expect("page");
        cursors.push((page.next.expect("a next page"), g * GROUP_SIZE + 10));
    }
    Sides { db, keys, cursors, hand, next_id: AtomicI64::new(RECORDS + 1) }
}

/// Both sides read the same records.
async fn check(s: &Sides) {
    let ours = s.db.get::<Rec>(s.keys[7].clone()).await.expect("get").expect("found");
    let theirs = s.hand.get(8).await.expect("found");
    assert_eq!((ours.group, ours.n, ours.title, ours.tags), (theirs.group, theirs.n, theirs.title, theirs.tags));
    let ours = s.db.query::<Rec>().filter(Rec::group().eq("g3")).limit(10).all().await.expect("query");
    let theirs = s.hand.query("g3", 10, None).await;
    assert_eq!(ours.iter().map(|r| r.n).collect::<Vec<_>>(), theirs.iter().map(|r| r.n).collect::<Vec<_>>());
    let (cursor, after) = &s.cursors[3];
    let ours = s.db.query::<Rec>().filter(Rec::group().eq("g3")).page(10).after(cursor.clone()).await.expect("page");
    let theirs = s.hand.query("g3", 10, Some(*after)).await;
    assert_eq!(ours.items.iter().map(|r| r.n).collect::<Vec<_>>(), theirs.iter().map(|r| r.n).collect::<Vec<_>>());
}

async fn timed<F: std::future::Future>(iters: u64, mut op: impl FnMut(u64) -> F) -> Duration {
    let start = cpu_now();
    for i in 0..iters {
        black_box(op(i).await);
    }
    cpu_now() - start
}

fn bench_all(c: &mut Criterion, rt: &Runtime, s: &Sides) {
    let n = RECORDS as u64;
    rounds(
        c,
        rt,
        "datastore_save",
        |iters| timed(iters, |i| async move { s.db.save(&mut record(i as i64)).await.expect("save") }),
        |iters| {
            timed(iters, |i| async move {
                let id = s.next_id.fetch_add(1, Ordering::Relaxed);
                s.hand.insert(&[HandRec::of(&record(i as i64), id)]).await
            })
        },
    );
    rounds(
        c,
        rt,
        "datastore_get",
        |iters| timed(iters, |i| s.db.get::<Rec>(s.keys[spread(i, n) as usize].clone())),
        |iters| timed(iters, |i| s.hand.get(spread(i, n) as i64 + 1)),
    );
    let g = groups() as u64;
    rounds(
        c,
        rt,
        "datastore_query_10",
        |iters| {
            timed(iters, |i| async move {
                s.db.query::<Rec>().filter(Rec::group().eq(format!("g{}", spread(i, g)))).limit(10).all().await
            })
        },
        |iters| timed(iters, |i| async move { s.hand.query(&format!("g{}", spread(i, g)), 10, None).await }),
    );
    rounds(
        c,
        rt,
        "datastore_page",
        |iters| {
            timed(iters, |i| async move {
                let k = spread(i, g);
                let q = s.db.query::<Rec>().filter(Rec::group().eq(format!("g{k}")));
                q.page(10).after(s.cursors[k as usize].0.clone()).await
            })
        },
        |iters| {
            timed(iters, |i| async move {
                let k = spread(i, g);
                s.hand.query(&format!("g{k}"), 10, Some(s.cursors[k as usize].1)).await
            })
        },
    );
}

fn main() {
    let since = SystemTime::now();
    let out = output_dir(env!("CARGO_TARGET_TMPDIR"));
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let sides = rt.block_on(load(&host()));
    rt.block_on(check(&sides));
    bench_all(&mut c, &rt, &sides);
    print(&out, since, RATIOS);
}
