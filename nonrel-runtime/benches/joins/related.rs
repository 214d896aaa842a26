//! What the `select_related` benchmarks share on every backend: the models, the fixture,
//! the measured query and the timing loop (`joins` on MongoDB, `joins_embedded` on a file
//! store; the latter includes this file with `#[path]`).

use criterion::Criterion;
use nonrel_runtime::{Backend, Database, Key, Model, Ref};
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Model, Debug, Clone)]
#[model(collection = "users")]
pub struct User {
    #[field(key)]
    pub id: Option<Key<User>>,
    #[field(index)]
    pub name: String,
    pub bio: String,
}

/// Joined in two steps (no copy).
#[derive(Model, Debug, Clone)]
#[model(collection = "posts")]
pub struct Post {
    #[field(key)]
    pub id: Option<Key<Post>>,
    #[field(index)]
    pub n: i64,
    #[field(index)]
    pub author: Ref<User>,
    pub body: String,
}

pub const USERS: i64 = 1_000;
pub const POSTS_PER_USER: i64 = 10;

/// Times `op` with criterion; returns the fastest per-operation time seen, in ns.
pub fn measure<F, Fut>(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, op: F) -> f64
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

/// Saves `USERS` users and `POSTS_PER_USER` posts each (post `n` by user `n % USERS`, so the
/// first 100 posts have 100 distinct authors); returns the users' keys.
pub async fn load<B: Backend>(db: &Database<B>) -> Vec<Key<User>> {
    let mut users: Vec<User> =
        (0..USERS).map(|i| User { id: None, name: format!("user {i}"), bio: "b".repeat(200) }).collect();
    let keys = db.save_many(&mut users).await.expect("users");
    let mut posts: Vec<Post> = (0..USERS * POSTS_PER_USER)
        .map(|n| Post { id: None, n, author: keys[(n % USERS) as usize].clone().into(), body: "p".repeat(200) })
        .collect();
    db.save_many(&mut posts).await.expect("posts");
    keys
}

/// The posts with `n < parents`, each with its author (`select_related`), every author
/// decoded.
pub async fn select_related<B: Backend>(db: &Database<B>, parents: usize) -> usize {
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
