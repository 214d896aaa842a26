//! Related selections on the embedded backend (a file store), wall time per operation,
//! both sides measured in the same run and reported as `ratio <name> <value> <max allowed>`:
//!
//! - `select_related_100_vs_1_embedded`: a query of 100 posts with their 100 distinct
//!   authors (`select_related`: the query, then one batched key read) over the same query
//!   of 1 post with its author.
//!
//! Alone: `cargo bench -p nonrel-runtime --bench joins_embedded`.

use criterion::Criterion;
use nonrel_runtime::{Database, Embedded, Key, Model, Ref};
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Model, Debug, Clone)]
#[model(collection = "users")]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    #[field(index)]
    name: String,
    bio: String,
}

#[derive(Model, Debug, Clone)]
#[model(collection = "posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    n: i64,
    #[field(index)]
    author: Ref<User>,
    body: String,
}

const USERS: i64 = 1_000;
const POSTS_PER_USER: i64 = 10;

/// Times `op` with criterion; returns the fastest per-operation time seen.
fn measure<F, Fut>(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, op: F) -> f64
where
    F: Fn() -> Fut,
    Fut: Future<Output = usize>,
{
    let best = Rc::new(Cell::new(f64::MAX));
    let seen = best.clone();
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                std::hint::black_box(rt.block_on(op()));
                let one = t.elapsed();
                seen.set(seen.get().min(one.as_secs_f64() * 1e9));
                total += one;
            }
            total
        })
    });
    best.get()
}

async fn load(db: &Database<Embedded>) {
    let mut users: Vec<User> =
        (0..USERS).map(|i| User { id: None, name: format!("user {i}"), bio: "b".repeat(200) }).collect();
    let keys = db.save_many(&mut users).await.expect("users");
    let mut posts: Vec<Post> = (0..USERS * POSTS_PER_USER)
        .map(|n| Post { id: None, n, author: keys[(n % USERS) as usize].clone().into(), body: "p".repeat(200) })
        .collect();
    db.save_many(&mut posts).await.expect("posts");
}

async fn select_related(db: &Database<Embedded>, parents: usize) -> usize {
    let rows = db
        .query::<Post>()
        .filter(Post::n().lt(parents as i64))
        .select_related(Post::author())
        .rows()
        .await
        .expect("select_related");
    assert_eq!(rows.len(), parents);
    assert!(rows.iter().all(|r| r.related(Post::author()).expect("decodes").is_some()));
    rows.len()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(dir.path().join("joins.redb")).expect("open");
    rt.block_on(load(&db));
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    let one = measure(&mut c, &rt, "embedded/select_related/1", || select_related(&db, 1));
    let hundred = measure(&mut c, &rt, "embedded/select_related/100", || select_related(&db, 100));
    let plain = measure(&mut c, &rt, "embedded/query/100", || async {
        db.query::<Post>().filter(Post::n().lt(100)).all().await.expect("query").len()
    });
    c.final_summary();
    println!(
        "time embedded/select_related/1 {:.1}us embedded/select_related/100 {:.1}us embedded/query/100 {:.1}us (fastest)",
        one / 1e3,
        hundred / 1e3,
        plain / 1e3
    );
    println!("ratio select_related_100_vs_1_embedded {:.3} 3", hundred / one);
}
