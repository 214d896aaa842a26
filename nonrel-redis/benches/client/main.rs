//! The Redis backend's benchmarks: nonrel against the same operations written by hand with
//! redis-rs on the same data layout (the same keys, the same commands: one script or one
//! `MGET` per operation, two scripts for an update by query), against the same server,
//! measured in one run and reported as `ratio <name> <ours/hand> <max allowed>` lines.
//!
//! - `redis_{save,get,query_10,update}_cpu`: this process's CPU time per operation (the
//!   server is another process, and both sides ask it for the same work, so the ratio is
//!   nonrel's client CPU against the hand-written client's);
//! - `redis_indexed_eq_scaling`: the wall time of an indexed equality query returning 10
//!   records from 200,000 records against from 20,000 (the index range read follows the
//!   result, not the collection).
//!
//! The hand-written side is what an application would write on this layout: a serde struct
//! encoded as BSON (`bson`), the index members built with the runtime's order-preserving
//! value encoding (the layout's), and its own Lua scripts through `redis::Script`.
//!
//! Needs `REDIS_URL`. Alone: `cargo bench -p nonrel-redis --bench redis`.
//!
//! With `REDIS_BENCH_DRIVE=<n>` set, the binary runs no criterion group: it loads the same
//! records, runs each CPU benchmark's operation `n` times per side in its own function
//! (`drive_ours_save`, `drive_hand_save`, ... `drive_hand_update`), and exits, so an
//! instruction counter can compare the two sides per operation, e.g.
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*drive_*'
//! --dump-after='*drive_*' <bench binary>`.

mod drive;
mod hand;
mod model;

use criterion::Criterion;
use model::{record, Rec, GROUP_SIZE};
use nonrel_bench_support::{cpu_now, output_dir, print, rounds, Ratio};
use nonrel_redis::Redis;
use nonrel_runtime::{Database, Key};
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::runtime::Runtime;

const RATIOS: &[Ratio] = &[
    Ratio { name: "redis_save_cpu", group: "redis_save", target: 1.1 },
    Ratio { name: "redis_get_cpu", group: "redis_get", target: 1.1 },
    Ratio { name: "redis_query_10_cpu", group: "redis_query_10", target: 1.1 },
    Ratio { name: "redis_update_cpu", group: "redis_update", target: 1.1 },
    Ratio { name: "redis_indexed_eq_scaling", group: "redis_indexed_eq_10", target: 1.3 },
];

/// Records each side of the CPU benchmarks holds.
const RECORDS: i64 = 10_000;

/// The server's address, from `REDIS_URL`.
fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "REDIS_URL is not set: start a server (`redis-server --port 6379 --save ''`, or \
             `scripts/servers.sh start` and `source .servers/env`) and set REDIS_URL=redis://127.0.0.1:6379/"
        )
    })
}

/// The i-th index of a sequence that spreads over `n` without locality.
fn spread(i: u64, n: i64) -> i64 {
    (i.wrapping_mul(7919) % n as u64) as i64
}

/// Loads records `from..to` through nonrel, 1,000 per script.
async fn load(db: &Database<Redis>, from: i64, to: i64) {
    let mut i = from;
    while i < to {
        let end = (i + 1000).min(to);
        let mut batch: Vec<Rec> = (i..end).map(record).collect();
        db.save_many(&mut batch).await.expect("load");
        i = end;
    }
}

fn main() {
    let since = SystemTime::now();
    let out = output_dir(env!("CARGO_TARGET_TMPDIR"));
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20)
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let url = redis_url();
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let tag = format!("bench-{}-{stamp}", std::process::id());
    let redis = rt.block_on(Redis::connect(&url)).unwrap_or_else(|e| panic!("{e}"));
    let ours = redis.with_prefix(&format!("{tag}-nonrel")).expect("prefix");
    let db = Database::new(ours);
    let hand = rt.block_on(hand::Hand::connect(&url, &format!("{tag}-hand")));

    let drive_n =
        std::env::var("REDIS_BENCH_DRIVE").ok().map(|n| n.parse::<u64>().expect("REDIS_BENCH_DRIVE: a count"));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(load(&db, 0, RECORDS));
        rt.block_on(hand.load(0, RECORDS));
        rt.block_on(check(&db, &hand));
        if let Some(n) = drive_n {
            drive::all(&rt, &db, &hand, n);
            return;
        }
        save(&mut c, &rt, &db, &hand);
        get(&mut c, &rt, &db, &hand);
        query_10(&mut c, &rt, &db, &hand);
        update(&mut c, &rt, &db, &hand);
        scaling(&mut c, &rt, &redis, &tag);
    }));
    rt.block_on(hand::remove(&url, &tag));
    if let Err(panic) = run {
        std::panic::resume_unwind(panic);
    }
    if drive_n.is_some() {
        return;
    }
    c.final_summary();
    print(&out, since, RATIOS);
    println!("note redis_indexed_eq_10: its nonrel rounds read from 200,000 records, its hand rounds from 20,000");
}

/// Both sides answer the same: the same records for a group, the same record by key.
async fn check(db: &Database<Redis>, hand: &hand::Hand) {
    let ours = db.query::<Rec>().filter(Rec::group().eq(3)).limit(GROUP_SIZE as usize).all().await.expect("query");
    let theirs = hand.query_group(3).await;
    assert_eq!(ours.len(), GROUP_SIZE as usize);
    assert_eq!(ours.iter().map(model::twin).collect::<Vec<_>>(), theirs);
    let one = db.get(&Key::<Rec>::from(17i64)).await.expect("get").expect("record 17");
    assert_eq!(model::twin(&one), hand.get(17).await);
}

/// Save one new record (automatic-free: the key is given): `db.save` against the hand
/// script writing the record, its index entries and the key-set member after the unique check.
fn save(c: &mut Criterion, rt: &Runtime, db: &Database<Redis>, hand: &hand::Hand) {
    let (mut i, mut j) = (1_000_000i64, 1_000_000i64);
    let ours = |iters: u64| {
        let mut recs: Vec<Rec> = (i..i + iters as i64).map(record).collect();
        i += iters as i64;
        async move {
            let start = cpu_now();
            for r in &mut recs {
                db.save(r).await.expect("nonrel save");
            }
            cpu_now().saturating_sub(start)
        }
    };
    let theirs = |iters: u64| {
        let recs: Vec<_> = (j..j + iters as i64).map(|k| (k, model::twin(&record(k)))).collect();
        j += iters as i64;
        async move {
            let start = cpu_now();
            for (k, r) in &recs {
                hand.save(*k, r).await;
            }
            cpu_now().saturating_sub(start)
        }
    };
    rounds(c, rt, "redis_save", ours, theirs);
}

/// Get one record by key: `db.get` against `MGET` and serde.
fn get(c: &mut Criterion, rt: &Runtime, db: &Database<Redis>, hand: &hand::Hand) {
    let (mut i, mut j) = (0u64, 0u64);
    let ours = |iters: u64| {
        let keys: Vec<Key<Rec>> = (i..i + iters).map(|k| Key::from(spread(k, RECORDS))).collect();
        i += iters;
        async move {
            let start = cpu_now();
            for key in &keys {
                black_box(db.get(key).await.expect("nonrel get").expect("record"));
            }
            cpu_now().saturating_sub(start)
        }
    };
    let theirs = |iters: u64| {
        let keys: Vec<i64> = (j..j + iters).map(|k| spread(k, RECORDS)).collect();
        j += iters;
        async move {
            let start = cpu_now();
            for k in keys {
                black_box(hand.get(k).await);
            }
            cpu_now().saturating_sub(start)
        }
    };
    rounds(c, rt, "redis_get", ours, theirs);
}

/// The 10 records of a group through its index: `query().filter(group == g).limit(10)`
/// against the hand script reading the index range and the records, and serde.
fn query_10(c: &mut Criterion, rt: &Runtime, db: &Database<Redis>, hand: &hand::Hand) {
    let groups = RECORDS / GROUP_SIZE;
    let (mut i, mut j) = (0u64, 0u64);
    let ours = |iters: u64| {
        let first = i;
        i += iters;
        async move {
            let start = cpu_now();
            for k in first..first + iters {
                let q = db.query::<Rec>().filter(Rec::group().eq(spread(k, groups))).limit(10);
                black_box(q.all().await.expect("nonrel query"));
            }
            cpu_now().saturating_sub(start)
        }
    };
    let theirs = |iters: u64| {
        let first = j;
        j += iters;
        async move {
            let start = cpu_now();
            for k in first..first + iters {
                black_box(hand.query_group(spread(k, groups)).await);
            }
            cpu_now().saturating_sub(start)
        }
    };
    rounds(c, rt, "redis_query_10", ours, theirs);
}

/// Set one field of the record with a unique SKU: `query().filter(sku == s).update().set`
/// against the hand-written read (index range and record), serde, and compare-and-set write.
fn update(c: &mut Criterion, rt: &Runtime, db: &Database<Redis>, hand: &hand::Hand) {
    let (mut i, mut j) = (0u64, 0u64);
    let ours = |iters: u64| {
        let skus: Vec<(String, i64)> = (i..i + iters).map(|k| (model::sku(spread(k, RECORDS)), k as i64)).collect();
        i += iters;
        async move {
            let start = cpu_now();
            for (sku, qty) in &skus {
                let done = db.query::<Rec>().filter(Rec::sku().eq(sku.as_str())).update().set(Rec::qty(), *qty).await;
                assert_eq!(done.expect("nonrel update").matched, 1);
            }
            cpu_now().saturating_sub(start)
        }
    };
    let theirs = |iters: u64| {
        let skus: Vec<(String, i64)> = (j..j + iters).map(|k| (model::sku(spread(k, RECORDS)), k as i64)).collect();
        j += iters;
        async move {
            let start = cpu_now();
            for (sku, qty) in &skus {
                hand.set_qty(sku, *qty).await;
            }
            cpu_now().saturating_sub(start)
        }
    };
    rounds(c, rt, "redis_update", ours, theirs);
}

/// An indexed equality query returning 10 records, wall time, from 200,000 records (`nonrel`
/// rounds) against from 20,000 (`hand` rounds: here the baseline is the small collection).
fn scaling(c: &mut Criterion, rt: &Runtime, redis: &Redis, tag: &str) {
    let small = Database::new(redis.with_prefix(&format!("{tag}-small")).expect("prefix"));
    let large = Database::new(redis.with_prefix(&format!("{tag}-large")).expect("prefix"));
    rt.block_on(load(&small, 0, 20_000));
    rt.block_on(load(&large, 0, 200_000));
    let timed = |db: Database<Redis>, groups: i64| {
        let mut i = 0u64;
        move |iters: u64| {
            let first = i;
            i += iters;
            let db = db.clone();
            async move {
                let start = Instant::now();
                for k in first..first + iters {
                    let q = db.query::<Rec>().filter(Rec::group().eq(spread(k, groups)));
                    let rows = q.all().await.expect("query");
                    assert_eq!(rows.len(), GROUP_SIZE as usize);
                    black_box(rows);
                }
                start.elapsed()
            }
        }
    };
    rounds(c, rt, "redis_indexed_eq_10", timed(large, 200_000 / GROUP_SIZE), timed(small, 20_000 / GROUP_SIZE));
}
