//! What the `tracing` feature costs when no subscriber is installed, reported as
//! `ratio tracing_off_<op> <with spans / switched off> <max allowed>` lines (lower is better):
//! save, get and an index-served query on an embedded database in memory, with span emission
//! compiled in and on but no subscriber, against the same operations with emission switched
//! off at run time (`nonrel_runtime::trace::set_enabled(false)`), in one process. Each
//! operation runs in four rounds (spans, off, off, spans) and each side's fastest sample makes
//! the ratio, so a slower stretch of the shared machine favours neither. At most 1.02 each.
//!
//! `cargo bench -p nonrel-runtime --features tracing --bench tracing`.

use criterion::Criterion;
use nonrel_bench_support::{output_dir, print, rounds, Ratio};
use nonrel_runtime::{Database, Key, Model, Redb};
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};
use tokio::runtime::Runtime;

#[derive(Model, Debug, Clone)]
#[model(collection = "bench_traced")]
struct Post {
    #[field(key)]
    id: i64,
    #[field(index)]
    views: i64,
    title: String,
}

const RECORDS: i64 = 1_000;

const RATIOS: &[Ratio] = &[
    Ratio { name: "tracing_off_save", group: "tracing_save", target: 1.02 },
    Ratio { name: "tracing_off_get", group: "tracing_get", target: 1.02 },
    Ratio { name: "tracing_off_query", group: "tracing_query", target: 1.02 },
];

/// `iters` operations `op` with span emission as `spans` says: their wall time.
async fn timed<F: std::future::Future>(spans: bool, iters: u64, mut op: impl FnMut(i64) -> F) -> Duration {
    nonrel_runtime::trace::set_enabled(spans);
    let start = Instant::now();
    for i in 0..iters {
        black_box(op((i % RECORDS as u64) as i64).await);
    }
    start.elapsed()
}

fn bench_all(c: &mut Criterion, rt: &Runtime, db: &Database<Redb>) {
    let save = |spans: bool| {
        move |iters| {
            timed(spans, iters, move |i| async move {
                let mut p = Post { id: i, views: i % 50, title: "a title".into() };
                db.save(&mut p).await.unwrap()
            })
        }
    };
    rounds(c, rt, "tracing_save", save(true), save(false));
    let get = |spans: bool| {
        move |iters| {
            timed(spans, iters, move |i| async move {
                db.get::<Post>(Key::from_value(nonrel_runtime::KeyValue::Int(i))).await.unwrap()
            })
        }
    };
    rounds(c, rt, "tracing_get", get(true), get(false));
    let query = |spans: bool| {
        move |iters| {
            timed(spans, iters, move |_| async move {
                db.query::<Post>().filter(Post::views().eq(7i64)).limit(10).all().await.unwrap()
            })
        }
    };
    rounds(c, rt, "tracing_query", query(true), query(false));
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let db = Database::in_memory().unwrap();
    let mut posts: Vec<Post> = (0..RECORDS).map(|i| Post { id: i, views: i % 50, title: "a title".into() }).collect();
    rt.block_on(db.save_many(&mut posts)).unwrap();
    let since = SystemTime::now();
    let out = output_dir(env!("CARGO_TARGET_TMPDIR"));
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    bench_all(&mut c, &rt, &db);
    nonrel_runtime::trace::set_enabled(true);
    c.final_summary();
    print(&out, since, RATIOS);
}
