//! Related selections on the embedded backend, which reads them in the query's read
//! transaction (or, for a query that may scan, by one batched key read after it), checked
//! against an oracle: the same query without selections, then each row's references read
//! one by one with `get`. Seeded random data (dangling and absent references, repeated
//! authors, equal values of the indexed field) and random queries (index ranges, `in`
//! lookups, order, offset, limit, scans, fields left out of the related records).
//!
//! `NONREL_SELECT_CASES` sets the number of queries (300 by default), `NONREL_SELECT_SEED`
//! the seed.

use nonrel_runtime::{Database, Key, Model, Redb, Ref};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "sre_users")]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    name: String,
    bio: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "sre_posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    n: i64,
    author: Ref<User>,
    editor: Option<Ref<User>>,
    body: String,
}

/// A small xorshift generator: the same seed gives the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Users (some deleted afterwards, so references to them dangle) and posts referring to
/// them, with values of `n` that repeat.
async fn seed(db: &Database<Redb>, rng: &mut Rng) {
    let mut users: Vec<User> =
        (0..40).map(|i| User { id: None, name: format!("user {i}"), bio: format!("bio {i}") }).collect();
    let keys = db.save_many(&mut users).await.unwrap();
    let mut posts: Vec<Post> = (0..150)
        .map(|i| Post {
            id: None,
            n: rng.below(60) as i64 - 10,
            author: keys[rng.below(keys.len() as u64) as usize].clone().into(),
            editor: (rng.below(3) > 0).then(|| keys[rng.below(keys.len() as u64) as usize].clone().into()),
            body: format!("post {i}"),
        })
        .collect();
    db.save_many(&mut posts).await.unwrap();
    for key in keys.iter().step_by(7) {
        assert!(db.delete::<User>(key.clone()).await.unwrap());
    }
}

/// A user as a query leaving out `bio` loads it: its default.
fn without_bio(user: User) -> User {
    User { bio: String::new(), ..user }
}

#[test]
fn selections_match_reading_each_reference() {
    let seed_value = env("NONREL_SELECT_SEED", 0x5e1e_c7ed);
    let cases = env("NONREL_SELECT_CASES", 300);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let mut rng = Rng(seed_value | 1);
        let db = Database::in_memory().unwrap();
        seed(&db, &mut rng).await;
        for case in 0..cases {
            let (lo, width) = (rng.below(70) as i64 - 15, rng.below(40) as i64);
            let mut q = db.query::<Post>();
            let shape = rng.below(4);
            q = match shape {
                0 => q.filter(Post::n().gte(lo)).filter(Post::n().lt(lo + width)),
                1 => q.filter(Post::n().is_in((0..1 + rng.below(5)).map(|_| rng.below(60) as i64 - 10))),
                2 => q.filter(Post::n().lte(lo)),
                // No indexed condition: a scan.
                _ => q.filter(Post::body().startswith("post 1")),
            };
            if rng.below(2) == 0 {
                q = q.order_by(if rng.below(2) == 0 { Post::n().desc() } else { Post::n().asc() });
            }
            if rng.below(3) == 0 {
                q = q.offset(rng.below(5) as usize);
            }
            if rng.below(3) == 0 {
                q = q.limit(rng.below(20) as usize);
            }
            let plain = q.clone().all().await.unwrap();
            let (author, editor, defer) = match rng.below(4) {
                0 => (true, false, false),
                1 => (false, true, false),
                2 => (true, true, false),
                _ => (true, true, true),
            };
            let mut selected = q;
            if author {
                selected = selected.select_related(Post::author());
            }
            if editor {
                selected = selected.select_related(Post::editor());
            }
            if defer {
                selected = selected.defer_related(User::bio());
            }
            let rows = selected.rows().await.unwrap();
            let what = format!("case {case} (seed {seed_value:#x}, shape {shape}, author {author}, editor {editor})");
            assert_eq!(rows.iter().map(|r| r.record.clone()).collect::<Vec<_>>(), plain, "{what}: the records");
            for row in &rows {
                let project = |u: Option<User>| if defer { u.map(without_bio) } else { u };
                let expected = project(db.get::<User>(row.record.author.key().clone()).await.unwrap());
                let got = row.related(Post::author()).unwrap();
                assert_eq!(got, if author { expected } else { None }, "{what}: the author of {:?}", row.record.id);
                let expected = match &row.record.editor {
                    Some(r) => project(db.get::<User>(r.key().clone()).await.unwrap()),
                    None => None,
                };
                let got = row.related(Post::editor()).unwrap();
                assert_eq!(got, if editor { expected } else { None }, "{what}: the editor of {:?}", row.record.id);
            }
        }
    });
}

/// Queries of one or several values of an index, ordered by another field (the rows arrive
/// out of order, so with a limit the store keeps only the rows it may still return and
/// compacts the documents it holds) or in key order (the rows handed over by key as they are
/// read, as the entries come for one value, so a limit stops the reading), some
/// with a condition the index does not answer and fields of the rows left out, each row's
/// author read one by one as the oracle; the untyped view of the related records names the
/// same keys.
#[test]
fn limited_out_of_order_selections_match_reading_each_reference() {
    let seed_value = env("NONREL_SELECT_SEED", 0x5e1e_c7ed);
    let cases = env("NONREL_SELECT_CASES", 300) / 3;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let mut rng = Rng(seed_value.rotate_left(17) | 1);
        let db = Database::in_memory().unwrap();
        let mut users: Vec<User> =
            (0..30).map(|i| User { id: None, name: format!("user {i}"), bio: "b".repeat(i % 7) }).collect();
        let keys = db.save_many(&mut users).await.unwrap();
        let mut posts: Vec<Post> = (0..400)
            .map(|_| Post {
                id: None,
                n: rng.below(8) as i64,
                author: keys[rng.below(keys.len() as u64) as usize].clone().into(),
                editor: None,
                body: format!("post {}", rng.below(1000)),
            })
            .collect();
        db.save_many(&mut posts).await.unwrap();
        for key in keys.iter().step_by(5) {
            assert!(db.delete::<User>(key.clone()).await.unwrap());
        }
        for case in 0..cases {
            let values: Vec<i64> = (0..2 + rng.below(4)).map(|_| rng.below(8) as i64).collect();
            let mut q = match rng.below(4) {
                // One value of the index: its entries are in key order, read as they come.
                0 => db.query::<Post>().filter(Post::n().eq(values[0])),
                _ => db.query::<Post>().filter(Post::n().is_in(values)),
            };
            if rng.below(3) == 0 {
                // A condition the index does not answer, checked on each record read.
                q = q.filter(Post::body().startswith(format!("post {}", 1 + rng.below(9))));
            }
            q = match rng.below(3) {
                0 => q.order_by(Post::body().asc()),
                1 => q.order_by(Post::body().desc()),
                _ => q,
            };
            let (offset, limit) = (rng.below(5) as usize, 1 + rng.below(30) as usize);
            q = q.offset(offset).limit(limit);
            let shape = rng.below(3);
            q = match shape {
                0 => q.defer(Post::body()),
                1 => q.only(Post::author()),
                _ => q,
            };
            let plain = q.clone().all().await.unwrap();
            let rows = q.select_related(Post::author()).rows().await.unwrap();
            let what = format!("case {case} (seed {seed_value:#x}, offset {offset}, limit {limit}, shape {shape})");
            assert_eq!(rows.iter().map(|r| r.record.clone()).collect::<Vec<_>>(), plain, "{what}: the records");
            for row in &rows {
                let key = row.record.author.key().clone();
                let expected = db.get::<User>(key.clone()).await.unwrap();
                assert_eq!(row.related(Post::author()).unwrap(), expected, "{what}: the author of {:?}", row.record.id);
                assert_eq!(row.related.names().collect::<Vec<_>>(), ["author"], "{what}");
                let kept: Vec<_> = row.related.rows("author").map(|r| (r.key.cloned(), r.doc.is_empty())).collect();
                let want = if expected.is_some() { vec![(Some(key.value().clone()), false)] } else { Vec::new() };
                assert_eq!(kept, want, "{what}: the untyped view of {:?}", row.record.id);
                assert_eq!(row.related.is_empty(), expected.is_none(), "{what}");
            }
        }
    });
}
