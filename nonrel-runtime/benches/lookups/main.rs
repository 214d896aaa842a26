//! Emulated lookups (F14) on the embedded backend, reported as `ratio` lines like the
//! foundation benchmarks:
//!
//! - `icontains_index_scaling`: an `icontains` through its declared index returning the same
//!   10 records from 100,000 records / from 10,000 (target 1.5: the index scan reads what the
//!   result needs, not the collection);
//! - `save_5_emulated_indexes`: `db.save` of a record whose model declares 5 emulated
//!   lookups with one index entry each (`iexact`, `endswith` on its title, `year`, `month`,
//!   `week_day` on its date) / the same save without them (target 2.0); each save is one
//!   durable write transaction on a file, as in an application. The single saves are paired:
//!   every iteration saves one record of each variant in turn, each into its own file, and a
//!   benchmark times only its own, so all sides meet the same load and disk;
//! - note `save_with_icontains`: the same with `icontains`, `iexact`, `endswith`, `year` and
//!   `month`: `icontains` adds one index entry per character of the title (its grams), so
//!   its cost grows with the text;
//! - notes `save_many_*`: the same records saved 1,000 per write transaction, where the
//!   commit no longer dominates and the index work shows.
//!
//! Run with `cargo bench -p nonrel-runtime --bench lookups` (or `scripts/bench`).

#[path = "../foundation/report.rs"]
mod report;

use criterion::{BatchSize, Criterion, SamplingMode};
use nonrel_runtime::{Database, DateTime, Key, Model, Redb, Utc};
use report::Ratio;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use tokio::runtime::Runtime;

const RATIOS: &[Ratio] = &[
    Ratio {
        name: "icontains_index_scaling",
        ours: "icontains_100k/nonrel",
        baseline: "icontains_10k/nonrel",
        target: Some(1.5),
    },
    Ratio {
        name: "save_5_emulated_indexes",
        ours: "save/5_emulated_indexes",
        baseline: "save/no_index",
        target: Some(2.0),
    },
    Ratio { name: "save_with_icontains", ours: "save/with_icontains", baseline: "save/no_index", target: None },
    Ratio {
        name: "save_many_with_icontains",
        ours: "save_many_1000/with_icontains",
        baseline: "save_many_1000/no_index",
        target: None,
    },
    Ratio {
        name: "save_many_5_emulated_indexes",
        ours: "save_many_1000/5_emulated_indexes",
        baseline: "save_many_1000/no_index",
        target: None,
    },
];

/// A post whose title declares `icontains`, `iexact` and `endswith`, and whose date declares
/// `year` and `month`.
#[derive(Model, Clone)]
#[model(collection = "bench_lookup_posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index(icontains, iexact, endswith))]
    title: String,
    body: String,
    #[field(index(year, month))]
    published: DateTime<Utc>,
    views: i64,
}

/// The same post with 5 emulated lookups of one index entry each.
#[derive(Model, Clone)]
#[model(collection = "bench_dated_posts")]
struct DatedPost {
    #[field(key)]
    id: Option<Key<DatedPost>>,
    #[field(index(iexact, endswith))]
    title: String,
    body: String,
    #[field(index(year, month, week_day))]
    published: DateTime<Utc>,
    views: i64,
}

/// The same post with no index.
#[derive(Model, Clone)]
#[model(collection = "bench_plain_posts")]
struct PlainPost {
    #[field(key)]
    id: Option<Key<PlainPost>>,
    title: String,
    body: String,
    published: DateTime<Utc>,
    views: i64,
}

const SYLLABLES: [&str; 16] =
    ["ka", "lo", "mi", "nu", "pe", "ra", "so", "ti", "ve", "du", "go", "ha", "je", "bi", "fo", "cu"];

/// A title of four made-up words (letters that never spell the needle).
fn title(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut words = Vec::with_capacity(4);
    for _ in 0..4 {
        let w: String = (0..3)
            .map(|_| {
                x = x.rotate_left(7).wrapping_mul(0x2545_F491_4F6C_DD1D);
                SYLLABLES[(x >> 60) as usize]
            })
            .collect();
        words.push(w);
    }
    let mut t = words.join(" ");
    t[..1].make_ascii_uppercase();
    t
}

/// Records 0..n, ten of which (spread evenly) mention the needle.
fn post(i: u64, n: u64) -> Post {
    let mut title = title(i);
    if i % (n / 10) == n / 20 {
        title.push_str(" Zyxwvut");
    }
    let published = DateTime::from_timestamp(1_600_000_000 + (i as i64) * 3_600, 0).expect("a date");
    Post { id: None, title, body: "A body of ordinary length for a post.".into(), published, views: i as i64 }
}

fn plain(p: &Post) -> PlainPost {
    PlainPost { id: None, title: p.title.clone(), body: p.body.clone(), published: p.published, views: p.views }
}

fn dated(p: &Post) -> DatedPost {
    DatedPost { id: None, title: p.title.clone(), body: p.body.clone(), published: p.published, views: p.views }
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The single-save variants, each in its own database file.
struct Savers {
    dated: Database<Redb>,
    icontains: Database<Redb>,
    plain: Database<Redb>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Dated,
    Icontains,
    Plain,
}

const KINDS: [Kind; 3] = [Kind::Dated, Kind::Icontains, Kind::Plain];

impl Savers {
    fn save(&self, rt: &Runtime, kind: Kind, i: u64) {
        let p = post(i, 1_000_000);
        match kind {
            Kind::Dated => {
                black_box(rt.block_on(self.dated.save(&mut dated(&p))).expect("save"));
            }
            Kind::Icontains => {
                black_box(rt.block_on(self.icontains.save(&mut p.clone())).expect("save"));
            }
            Kind::Plain => {
                black_box(rt.block_on(self.plain.save(&mut plain(&p))).expect("save"));
            }
        };
    }
}

/// Benchmarks `save` of one variant, paired: each iteration saves one fresh record of every
/// variant in turn (each into its own file) and times only `own`'s. The compared sides thus
/// run in the same moments, on files that grow alike, so a neighbour's load or a slower
/// stretch of the disk reaches all of them instead of whichever group ran then.
fn bench_save(g: &mut Group<'_>, rt: &Runtime, savers: &Savers, counter: &mut u64, name: &str, own: Kind) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                *counter += 1;
                for kind in KINDS {
                    if kind == own {
                        let started = Instant::now();
                        savers.save(rt, kind, *counter);
                        timed += started.elapsed();
                    } else {
                        savers.save(rt, kind, *counter);
                    }
                }
            }
            timed
        })
    });
}

/// Benchmarks `save_many` of 1,000 fresh records made by `make`.
fn bench_save_many<M: Model>(g: &mut Group<'_>, rt: &Runtime, db: &Database<Redb>, name: &str, make: fn(&Post) -> M) {
    let mut i = 0u64;
    g.bench_function(name, |b| {
        b.to_async(rt).iter_batched(
            || {
                (0..1000)
                    .map(|_| {
                        i += 1;
                        make(&post(i, 1_000_000))
                    })
                    .collect::<Vec<_>>()
            },
            |mut batch| async move { black_box(db.save_many(&mut batch).await.expect("save_many")) },
            BatchSize::PerIteration,
        )
    });
}

fn fixture(rt: &Runtime, dir: &Path, n: u64) -> Database<Redb> {
    let started = Instant::now();
    let db = Database::open(dir.join(format!("icontains_{n}.redb"))).expect("open");
    for start in (0..n).step_by(5_000) {
        let mut batch: Vec<Post> = (start..(start + 5_000).min(n)).map(|i| post(i, n)).collect();
        rt.block_on(db.save_many(&mut batch)).expect("save_many");
    }
    eprintln!("built icontains_{n}: {n} records in {:.1?}", started.elapsed());
    db
}

fn icontains(c: &mut Criterion, rt: &Runtime, db: &Database<Redb>, size: &str) {
    let q = || db.query::<Post>().filter(Post::title().icontains("ZYXWVUT"));
    assert_eq!(q().explain().expect("explain").index, Some("_ix_title_grams"), "an index scan");
    assert_eq!(rt.block_on(q().all()).expect("query").len(), 10, "the same 10 records");
    let mut g = c.benchmark_group(format!("icontains_{size}"));
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("nonrel", |b| b.to_async(rt).iter(|| async { black_box(q().all().await.expect("query")) }));
    g.finish();
}

fn saves(c: &mut Criterion, rt: &Runtime, dir: &Path) {
    let open = |name: &str| Database::open(dir.join(format!("save_{name}.redb"))).expect("open");
    let savers = Savers { dated: open("dated"), icontains: open("icontains"), plain: open("plain") };
    let mut counter = 0;
    let mut g = c.benchmark_group("save");
    bench_save(&mut g, rt, &savers, &mut counter, "5_emulated_indexes", Kind::Dated);
    bench_save(&mut g, rt, &savers, &mut counter, "with_icontains", Kind::Icontains);
    bench_save(&mut g, rt, &savers, &mut counter, "no_index", Kind::Plain);
    g.finish();
    let db = Database::open(dir.join("save_many.redb")).expect("open");
    let mut g = c.benchmark_group("save_many_1000");
    g.sample_size(20);
    bench_save_many(&mut g, rt, &db, "5_emulated_indexes", dated);
    bench_save_many(&mut g, rt, &db, "with_icontains", Post::clone);
    bench_save_many(&mut g, rt, &db, "no_index", plain);
    g.finish();
}

fn main() {
    let since = SystemTime::now();
    let out = report::output_dir();
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    for (size, n) in [("10k", 10_000), ("100k", 100_000)] {
        let db = fixture(&rt, dir.path(), n);
        icontains(&mut c, &rt, &db, size);
    }
    saves(&mut c, &rt, dir.path());
    c.final_summary();
    report::print(&out, since, RATIOS, &[]);
}
