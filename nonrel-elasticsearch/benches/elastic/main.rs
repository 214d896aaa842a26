//! The Elasticsearch backend's benchmarks: nonrel against the same requests written by hand
//! with `reqwest` and `serde_json` on the same index layout (same mapping, same `_source`),
//! against the same server, measured in one run and reported as
//! `ratio <name> <ours/by hand> <max allowed>` lines.
//!
//! - `elastic_save_cpu`: `db.save` of an existing record the handle wrote before (one
//!   `_bulk` with `if_seq_no`/`if_primary_term` at the version it knows) / the same request;
//! - `elastic_get_cpu`: `db.get` (one `_mget`) / the same `_mget` decoded with serde;
//! - `elastic_query_page_cpu`: an equality filter ordered by another field, 10 rows (one
//!   `_search`) / the same `_search` decoded with serde;
//! - `elastic_save_many_100_cpu`: `db.save_many` of 100 existing records (one `_bulk` at the
//!   versions known from the last write) / the same request.
//!
//! Each measures this process's CPU time per operation (the server is another process on
//! the machine, so wall time would mostly measure it), in four rounds (nonrel, by hand, by
//! hand, nonrel) whose fastest sample per side makes the ratio; `time` lines give the wall
//! time per operation for context.
//!
//! Needs `ELASTICSEARCH_URL` (`scripts/servers.sh start` starts an Elasticsearch-compatible
//! server). Alone: `cargo bench -p nonrel-elasticsearch --bench elastic`.

mod hand;

use criterion::Criterion;
use hand::Hand;
use nonrel_bench_support::{cpu_now, output_dir, print, rounds, Ratio};
use nonrel_elasticsearch::Elastic;
use nonrel_runtime::{Database, Key, Model};
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::runtime::Runtime;

/// The benchmarked model: seven stored fields besides its ObjectId key.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bench_items")]
struct Item {
    #[field(key)]
    pub id: Option<Key<Item>>,
    #[field(index)]
    pub group: i64,
    pub n: i64,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub score: f64,
    pub tags: Vec<String>,
}

/// Records loaded on each side.
const RECORDS: i64 = 2_000;
/// Groups of `group`: a query page reads the first 10 of `RECORDS / GROUPS` by `n`.
const GROUPS: i64 = 20;
/// Records of one `save_many`.
const BATCH: usize = 100;

const TAGS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

/// Record number `i`.
fn item(i: i64) -> Item {
    Item {
        id: None,
        group: i % GROUPS,
        n: (i * 7919) % RECORDS,
        name: format!("User Number {i}"),
        email: format!("user.number.{i}@example.com"),
        active: i % 3 != 0,
        score: i as f64 * 0.25 + 0.5,
        tags: (0..2 + i % 2).map(|t| TAGS[((i + t) % 4) as usize].to_owned()).collect(),
    }
}

const RATIOS: &[Ratio] = &[
    Ratio { name: "elastic_save_cpu", group: "elastic_save", target: 1.1 },
    Ratio { name: "elastic_get_cpu", group: "elastic_get", target: 1.1 },
    Ratio { name: "elastic_query_page_cpu", group: "elastic_query_page", target: 1.1 },
    Ratio { name: "elastic_save_many_100_cpu", group: "elastic_save_many_100", target: 1.1 },
];

/// The cluster's URL, from `ELASTICSEARCH_URL`.
fn url() -> String {
    std::env::var("ELASTICSEARCH_URL").unwrap_or_else(|_| {
        panic!(
            "ELASTICSEARCH_URL is not set: run `scripts/servers.sh start` and `source .servers/env` \
             (it starts osmem-server, an Elasticsearch-compatible server), or set ELASTICSEARCH_URL \
             to an Elasticsearch 8 or OpenSearch 2 cluster"
        )
    })
}

/// Both sides: nonrel on one index prefix, the hand-written client on another, same records.
struct Sides {
    db: Database<Elastic>,
    hand: Hand,
    /// The records as nonrel saved them (with their keys).
    items: Vec<Item>,
}

impl Sides {
    async fn load(url: &str) -> Sides {
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let prefix = format!("nonrel_bench_{}_{stamp}", std::process::id());
        let es = Elastic::connect(url, &prefix)
            .await
            .unwrap_or_else(|e| panic!("cannot reach Elasticsearch at {url}: {e}; run scripts/servers.sh start"));
        let index = es.index(<Item as Model>::DESC);
        let db = Database::new(es);
        let mut items: Vec<Item> = (0..RECORDS).map(item).collect();
        for chunk in items.chunks_mut(500) {
            db.save_many(chunk).await.expect("load nonrel's records");
        }
        let hand = Hand::new(url, &index, &format!("{index}_hand")).await;
        hand.load(&items).await;
        Sides { db, hand, items }
    }

    /// Both sides give the same answers, and the sources are the same documents.
    async fn check(&self) {
        let it = &self.items[7];
        let key = it.id.clone().expect("saved");
        assert_eq!(self.db.get(&key).await.expect("get").as_ref(), Some(it));
        assert_eq!(self.hand.get(&hand::id(&key)).await.map(|h| h.into_item(key.clone())).as_ref(), Some(it));
        assert_eq!(
            self.hand.source(&self.hand.nonrel_index, &key).await,
            self.hand.source(&self.hand.index, &key).await
        );
        let ours: Vec<Item> = self.page(3).await;
        let theirs: Vec<Item> = self.hand.page(3).await.into_iter().map(|(k, h)| h.into_item(k)).collect();
        assert_eq!(ours.len(), 10);
        assert_eq!(ours, theirs, "the query pages differ");
    }

    async fn page(&self, group: i64) -> Vec<Item> {
        self.db
            .query::<Item>()
            .filter(Item::group().eq(group))
            .order_by(Item::n().asc())
            .limit(10)
            .all()
            .await
            .expect("query page")
    }

    async fn drop_indexes(&self) {
        self.hand.drop_indexes().await;
    }
}

/// The i-th index of a sequence that spreads over `n` without locality.
fn spread(i: u64, n: usize) -> usize {
    (i.wrapping_mul(7919) % n as u64) as usize
}

fn bench_all(c: &mut Criterion, rt: &Runtime, s: &Sides) -> Vec<(String, Duration, Duration)> {
    let n = s.items.len();
    let mut walls = Vec::new();
    let mut wall = |name: &str, f: &dyn Fn() -> (Duration, Duration)| {
        let (a, b) = f();
        walls.push((name.to_string(), a, b));
    };

    // save: one existing record, changed.
    rounds(
        c,
        rt,
        "elastic_save",
        |iters| async move {
            let mut batch: Vec<Item> = (0..iters).map(|i| s.items[spread(i, n)].clone()).collect();
            let start = cpu_now();
            for it in &mut batch {
                it.n += 1;
                black_box(s.db.save(it).await.expect("save"));
            }
            cpu_now().saturating_sub(start)
        },
        |iters| async move {
            let mut batch: Vec<(Key<Item>, hand::HandItem)> = (0..iters)
                .map(|i| {
                    let it = &s.items[spread(i, n)];
                    (it.id.clone().expect("saved"), hand::HandItem::from_item(it))
                })
                .collect();
            let start = cpu_now();
            for (k, h) in &mut batch {
                h.n += 1;
                s.hand.save(&[(hand::id(k), &*h)]).await;
            }
            cpu_now().saturating_sub(start)
        },
    );
    wall("save", &|| {
        rt.block_on(async {
            let mut a = s.items[1].clone();
            let h = hand::HandItem::from_item(&a);
            let k = hand::id(a.id.as_ref().expect("saved"));
            let t = Instant::now();
            for _ in 0..20 {
                s.db.save(&mut a).await.expect("save");
            }
            let ours = t.elapsed() / 20;
            let t = Instant::now();
            for _ in 0..20 {
                s.hand.save(&[(k.clone(), &h)]).await;
            }
            (ours, t.elapsed() / 20)
        })
    });

    // get: one record by key.
    rounds(
        c,
        rt,
        "elastic_get",
        |iters| async move {
            let keys: Vec<Key<Item>> = (0..iters).map(|i| s.items[spread(i, n)].id.clone().expect("saved")).collect();
            let start = cpu_now();
            for k in &keys {
                black_box(s.db.get(k).await.expect("get").expect("found"));
            }
            cpu_now().saturating_sub(start)
        },
        |iters| async move {
            let keys: Vec<String> =
                (0..iters).map(|i| hand::id(s.items[spread(i, n)].id.as_ref().expect("saved"))).collect();
            let start = cpu_now();
            for k in &keys {
                black_box(s.hand.get(k).await.expect("found"));
            }
            cpu_now().saturating_sub(start)
        },
    );

    // query page: 10 rows of one group, ordered by `n`.
    rounds(
        c,
        rt,
        "elastic_query_page",
        |iters| async move {
            let start = cpu_now();
            for i in 0..iters {
                black_box(s.page((i % GROUPS as u64) as i64).await);
            }
            cpu_now().saturating_sub(start)
        },
        |iters| async move {
            let start = cpu_now();
            for i in 0..iters {
                black_box(s.hand.page((i % GROUPS as u64) as i64).await);
            }
            cpu_now().saturating_sub(start)
        },
    );
    wall("query_page", &|| {
        rt.block_on(async {
            let t = Instant::now();
            for g in 0..20 {
                black_box(s.page(g).await);
            }
            let ours = t.elapsed() / 20;
            let t = Instant::now();
            for g in 0..20 {
                black_box(s.hand.page(g).await);
            }
            (ours, t.elapsed() / 20)
        })
    });

    // save_many: 100 existing records, changed.
    rounds(
        c,
        rt,
        "elastic_save_many_100",
        |iters| async move {
            let mut batches: Vec<Vec<Item>> = (0..iters)
                .map(|b| (0..BATCH as u64).map(|i| s.items[spread(b * BATCH as u64 + i, n)].clone()).collect())
                .collect();
            let start = cpu_now();
            for batch in &mut batches {
                for it in batch.iter_mut() {
                    it.n += 1;
                }
                black_box(s.db.save_many(batch).await.expect("save_many"));
            }
            cpu_now().saturating_sub(start)
        },
        |iters| async move {
            let mut batches: Vec<Vec<(String, hand::HandItem)>> = (0..iters)
                .map(|b| {
                    (0..BATCH as u64)
                        .map(|i| {
                            let it = &s.items[spread(b * BATCH as u64 + i, n)];
                            (hand::id(it.id.as_ref().expect("saved")), hand::HandItem::from_item(it))
                        })
                        .collect()
                })
                .collect();
            let start = cpu_now();
            for batch in &mut batches {
                for (_, h) in batch.iter_mut() {
                    h.n += 1;
                }
                let refs: Vec<(String, &hand::HandItem)> = batch.iter().map(|(k, h)| (k.clone(), h)).collect();
                s.hand.save(&refs).await;
            }
            cpu_now().saturating_sub(start)
        },
    );
    walls
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
    let url = url();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let sides = rt.block_on(Sides::load(&url));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(sides.check());
        bench_all(&mut c, &rt, &sides)
    }));
    rt.block_on(sides.drop_indexes());
    let walls = run.unwrap_or_else(|p| std::panic::resume_unwind(p));
    c.final_summary();
    print(&out, since, RATIOS);
    for (name, ours, theirs) in walls {
        println!("time elastic_wall/{name} nonrel {ours:.1?} hand {theirs:.1?} per operation");
    }
}
