//! OR on the embedded backend, reported as `ratio <name> <value> <max allowed>` lines (lower
//! is better):
//!
//! - `or_vs_two_queries`: an OR of two indexed equality conditions against the two single
//!   queries run one after the other (the runtime runs each branch through its index and
//!   merges the rows). At most 1.2.
//! - `or_200k_vs_20k`: the same OR on 200,000 records against 20,000, each branch matching
//!   the same 20 records at both sizes: an OR of indexed conditions never scans. At most 1.3.
//!
//! Each comparison runs in four rounds (ours, theirs, theirs, ours) and each side's fastest
//! sample makes the ratio. `BOOLEAN_BIG` sets the large size.
//!
//! `cargo bench -p nonrel-runtime --bench boolean`.

use criterion::Criterion;
use nonrel_bench_support::{output_dir, print, rounds, Ratio};
use nonrel_runtime::{Database, Model, Redb};
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};
use tokio::runtime::Runtime;

#[derive(Model, Debug, Clone)]
#[model(collection = "bench_bool")]
struct Order {
    #[field(key)]
    id: i64,
    #[field(index)]
    status: i64,
    #[field(index)]
    customer: i64,
    note: String,
}

/// Records per value of each indexed field, at every size.
const PER_VALUE: i64 = 20;

const RATIOS: &[Ratio] = &[
    Ratio { name: "or_vs_two_queries", group: "or_vs_two_queries", target: 1.2 },
    Ratio { name: "or_200k_vs_20k", group: "or_scaling", target: 1.3 },
];

fn orders(rt: &Runtime, n: i64) -> Database<Redb> {
    let db = Database::in_memory().unwrap();
    let values = n / PER_VALUE;
    for start in (0..n).step_by(10_000) {
        let mut batch: Vec<Order> = (start..(start + 10_000).min(n))
            .map(|i| Order { id: i, status: i % values, customer: (i * 7 + 3) % values, note: format!("order {i}") })
            .collect();
        rt.block_on(db.save_many(&mut batch)).unwrap();
    }
    db
}

/// `iters` runs of `op`: their wall time.
async fn timed<F: std::future::Future>(iters: u64, mut op: impl FnMut(i64) -> F) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        black_box(op(i as i64).await);
    }
    start.elapsed()
}

async fn or_query(db: &Database<Redb>, i: i64) -> usize {
    let values = 1_000;
    let (a, b) = (i % values, (i * 13 + 5) % values);
    db.query::<Order>().filter(Order::status().eq(a) | Order::customer().eq(b)).all().await.unwrap().len()
}

async fn two_queries(db: &Database<Redb>, i: i64) -> usize {
    let values = 1_000;
    let (a, b) = (i % values, (i * 13 + 5) % values);
    let first = db.query::<Order>().filter(Order::status().eq(a)).all().await.unwrap();
    let second = db.query::<Order>().filter(Order::customer().eq(b)).all().await.unwrap();
    first.len() + second.len()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let big: i64 = std::env::var("BOOLEAN_BIG").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let small_db = orders(&rt, 20_000);
    let big_db = orders(&rt, big);
    let since = SystemTime::now();
    let out = output_dir(env!("CARGO_TARGET_TMPDIR"));
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let db = &small_db;
    rounds(
        &mut c,
        &rt,
        "or_vs_two_queries",
        |iters| timed(iters, move |i| or_query(db, i)),
        |iters| timed(iters, move |i| two_queries(db, i)),
    );
    let big = &big_db;
    rounds(
        &mut c,
        &rt,
        "or_scaling",
        |iters| timed(iters, move |i| or_query(big, i)),
        |iters| timed(iters, move |i| or_query(db, i)),
    );
    c.final_summary();
    print(&out, since, RATIOS);
}
