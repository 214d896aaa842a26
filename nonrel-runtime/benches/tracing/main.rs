//! What the `tracing` feature costs when no subscriber is installed, reported as
//! `ratio tracing_off_<op> <with spans / switched off> <max allowed>` lines (lower is better):
//! save, get and an index-served query on an embedded database in memory, with span emission
//! compiled in and on but no subscriber, against the same operations with emission switched
//! off at run time (`nonrel_runtime::trace::set_enabled(false)`), in one process. At most
//! 1.02 each.
//!
//! `cargo bench -p nonrel-runtime --features tracing --bench tracing`.

#[path = "../foundation/report.rs"]
mod report;

use criterion::Criterion;
use nonrel_runtime::{Database, Key, Model, Redb};
use report::Ratio;
use std::hint::black_box;
use std::time::{Duration, SystemTime};
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
    Ratio { name: "tracing_off_save", ours: "tracing/save_spans", baseline: "tracing/save_off", target: Some(1.02) },
    Ratio { name: "tracing_off_get", ours: "tracing/get_spans", baseline: "tracing/get_off", target: Some(1.02) },
    Ratio { name: "tracing_off_query", ours: "tracing/query_spans", baseline: "tracing/query_off", target: Some(1.02) },
];

/// The three operations, with emission as `spans` says, under `suffix`.
fn bench(c: &mut Criterion, rt: &Runtime, db: &Database<Redb>, spans: bool, suffix: &str) {
    let mut g = c.benchmark_group("tracing");
    g.measurement_time(Duration::from_secs(3));
    let mut i = 0;
    g.bench_function(format!("save_{suffix}"), |b| {
        nonrel_runtime::trace::set_enabled(spans);
        b.iter(|| {
            i = (i + 1) % RECORDS;
            let mut p = Post { id: i, views: i % 50, title: "a title".into() };
            rt.block_on(db.save(&mut p)).unwrap();
        })
    });
    g.bench_function(format!("get_{suffix}"), |b| {
        nonrel_runtime::trace::set_enabled(spans);
        b.iter(|| {
            i = (i + 1) % RECORDS;
            black_box(rt.block_on(db.get::<Post>(Key::from_value(nonrel_runtime::KeyValue::Int(i)))).unwrap());
        })
    });
    g.bench_function(format!("query_{suffix}"), |b| {
        nonrel_runtime::trace::set_enabled(spans);
        b.iter(|| {
            let q = db.query::<Post>().filter(Post::views().eq(7i64)).limit(10);
            black_box(rt.block_on(q.all()).unwrap());
        })
    });
    g.finish();
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let db = Database::in_memory().unwrap();
    let mut posts: Vec<Post> = (0..RECORDS).map(|i| Post { id: i, views: i % 50, title: "a title".into() }).collect();
    rt.block_on(db.save_many(&mut posts)).unwrap();
    let since = SystemTime::now();
    let out = report::output_dir();
    let mut c = Criterion::default().output_directory(&out).sample_size(30).configure_from_args();
    // Alternating sides, so that a slower stretch of the machine does not favour one.
    bench(&mut c, &rt, &db, false, "off");
    bench(&mut c, &rt, &db, true, "spans");
    nonrel_runtime::trace::set_enabled(true);
    c.final_summary();
    report::print(&out, since, RATIOS, &[]);
}
