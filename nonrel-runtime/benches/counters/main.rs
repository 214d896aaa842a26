//! Maintained counts (`#[model(count_by(author))]`) on the embedded backend, reported as a
//! `ratio` line like the other store benchmarks:
//!
//! - `count_by_1m_vs_1k`: `query().filter(Post::author().eq(a)).count()`, answered from the
//!   author's counter, at 1,000,000 records / at 1,000 (target 1.2: one counter entry is
//!   read at any size, so the count costs the same).
//!
//! The big collection is loaded with `save_many` in batches of 10,000 records (one write
//! transaction each). `COUNTERS_BIG` and `COUNTERS_SMALL` override the sizes for a quick
//! run (the ratio then says less).
//!
//! Run with `cargo bench -p nonrel-runtime --bench counters` (or `scripts/bench`).

use criterion::Criterion;
use nonrel_bench_support::{output_dir, print, rounds, spread, Ratio};
use nonrel_runtime::{Database, Key, Model, Redb};
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

const RATIOS: &[Ratio] = &[Ratio { name: "count_by_1m_vs_1k", group: "count_by", target: 1.2 }];

/// Authors the posts are spread over.
const AUTHORS: u64 = 100;

#[derive(Model, Clone)]
#[model(collection = "bench_counted_posts", count_by(author))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: String,
    title: String,
}

fn size(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A database of `n` posts over [`AUTHORS`] authors.
fn fixture(rt: &tokio::runtime::Runtime, n: u64) -> Database<Redb> {
    let db = Database::in_memory().expect("database");
    rt.block_on(async {
        let mut i = 0;
        while i < n {
            let end = (i + 10_000).min(n);
            let mut batch: Vec<Post> = (i..end)
                .map(|j| Post { id: None, author: format!("author {}", j % AUTHORS), title: format!("post {j}") })
                .collect();
            db.save_many(&mut batch).await.expect("save_many");
            i = end;
        }
    });
    db
}

/// `iters` counts of one author each, spread over the authors.
async fn counts(db: &Database<Redb>, iters: u64) -> Duration {
    let authors: Vec<String> = (0..iters).map(|i| format!("author {}", spread(i, AUTHORS))).collect();
    let start = Instant::now();
    for a in &authors {
        black_box(db.query::<Post>().filter(Post::author().eq(a.as_str())).count().await.expect("count"));
    }
    start.elapsed()
}

fn main() {
    let since = SystemTime::now();
    let out = output_dir(env!("CARGO_TARGET_TMPDIR"));
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("tokio runtime");
    let big = fixture(&rt, size("COUNTERS_BIG", 1_000_000));
    let small = fixture(&rt, size("COUNTERS_SMALL", 1_000));
    rounds(&mut c, &rt, "count_by", |iters| counts(&big, iters), |iters| counts(&small, iters));
    c.final_summary();
    print(&out, since, RATIOS);
}
