//! Related selections and JOIN strategies on MongoDB, wall time per operation (round trips
//! dominate), each side measured in the same run. `ratio <name> <value> <max allowed>` lines
//! are goals the default path must meet; `note <name> <value>` lines compare forms nonrel does
//! not run by default, for context:
//!
//! - `select_related_vs_hand_mongodb` (ratio): a query of 100 posts with their 100 distinct
//!   authors (`select_related` as the handle runs it by default: one `aggregate` with
//!   `$lookup`) over the same result by a `$lookup` pipeline written by hand with the driver
//!   (`$match`, `$sort` by `_id`, `$lookup` of the author), each post and author decoded with
//!   the models' own decoders: the least any implementation asks of the server and decodes;
//! - `select_related_lookup_vs_key_read` (ratio): 100 parents, the default `$lookup` over
//!   `RelatedStrategy::KeyRead` (a `find`, then a `find` of the authors with `$in`);
//! - `join_lookup_related_vs_two_step` (ratio): posts whose author has a given name, by the
//!   default JOIN form (`$lookup` from the users) over the two-step join (the author's key,
//!   then one `$in` on the reference);
//! - `join_selective_*`, `join_broad_*`: the same when a local condition leaves 100 posts
//!   (`n < 100` and the author's name), and when the related condition matches every user
//!   and the query takes the first 10 posts by `n`;
//! - `join_copy_vs_two_step` (ratio): the lookup through a denormalized copy over the
//!   two-step join;
//! - `join_two_step_vs_lookup` (note): the two-step join over the same result by one
//!   `$lookup` aggregation written by hand (from the matching users to their posts: the form
//!   that can use both indexes);
//! - `join_lookup_parent_vs_two_step` and its `_selective_`/`_broad_` forms (notes):
//!   `JoinStrategy::Lookup` (from the posts) over the two-step join.
//!
//! Needs `MONGODB_URI`; `scripts/bench` starts a server when it is unset. Alone:
//! `cargo bench -p nonrel-runtime --features mongodb --bench joins`.

mod related;

use bson::doc;
use criterion::Criterion;
use nonrel_runtime::mongo::mongodb::options::ClientOptions;
use nonrel_runtime::mongo::{JoinStrategy, RelatedStrategy};
use nonrel_runtime::{Database, Key, Model, Mongo, Ref};
// `User_fields` holds the field markers that `denormalize(author.name)` names.
use related::{measure, select_related, Post, User, User_fields, POSTS_PER_USER, USERS};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The same posts with a copy of the author's name.
#[derive(Model, Debug, Clone)]
#[model(collection = "copied_posts", denormalize(author.name))]
struct CopiedPost {
    #[field(key)]
    id: Option<Key<CopiedPost>>,
    #[field(index)]
    n: i64,
    #[field(index)]
    author: Ref<User>,
    body: String,
}

async fn load(db: &Database<Mongo>) {
    db.sync_indexes().await.expect("indexes");
    let keys = related::load(db).await;
    let mut copied: Vec<CopiedPost> = (0..USERS * POSTS_PER_USER)
        .map(|n| CopiedPost { id: None, n, author: keys[(n % USERS) as usize].clone().into(), body: "p".repeat(200) })
        .collect();
    db.save_many(&mut copied).await.expect("copied posts");
}

/// The posts with `n < parents`, each with its author, by a `$lookup` pipeline written by
/// hand with the driver: every post and author decoded with the models' own decoders.
async fn select_related_by_hand(db: &Database<Mongo>, parents: i64) -> Vec<(Post, User)> {
    let pipeline = vec![
        doc! { "$match": { "n": { "$lt": parents } } },
        doc! { "$sort": { "_id": 1 } },
        doc! { "$lookup": { "from": "users", "localField": "author", "foreignField": "_id", "as": "author_" } },
    ];
    let mut cursor = db.collection::<Post>().aggregate(pipeline).await.expect("aggregate");
    let mut out = Vec::with_capacity(parents as usize);
    while cursor.advance().await.expect("cursor") {
        let doc = cursor.current();
        let post = Post::decode(None, doc.as_bytes()).expect("post decodes");
        let authors = doc.get_array("author_").expect("a $lookup array");
        let author = authors.into_iter().next().expect("an author").expect("an element");
        let author = author.as_document().expect("a document");
        out.push((post, User::decode(None, author.as_bytes()).expect("author decodes")));
    }
    out
}

/// Checks that the hand-written pipeline finds what `select_related` does.
async fn check_by_hand(db: &Database<Mongo>) {
    let rows = db
        .query::<Post>()
        .filter(Post::n().lt(100))
        .select_related(Post::author())
        .rows()
        .await
        .expect("select_related");
    let ours: Vec<(i64, String)> = rows
        .iter()
        .map(|r| (r.record.n, r.related(Post::author()).expect("decodes").expect("an author").name))
        .collect();
    let theirs: Vec<(i64, String)> =
        select_related_by_hand(db, 100).await.into_iter().map(|(p, u)| (p.n, u.name)).collect();
    assert_eq!(ours.len(), 100);
    assert_eq!(ours, theirs, "the hand-written pipeline finds other records");
}

async fn two_step(db: &Database<Mongo>) -> usize {
    let found = db.query::<Post>().filter(Post::author().join(User::name()).eq("user 7")).all().await.expect("join");
    assert_eq!(found.len(), POSTS_PER_USER as usize);
    found.len()
}

/// Posts among the first 100 whose author is "user 7" (one post).
async fn selective(db: &Database<Mongo>) -> usize {
    let found = db
        .query::<Post>()
        .filter(Post::n().lt(100))
        .filter(Post::author().join(User::name()).eq("user 7"))
        .all()
        .await
        .expect("join");
    assert_eq!(found.len(), 1);
    found.len()
}

/// The first 10 posts by `n` whose author's name starts with "user" (every user).
async fn broad(db: &Database<Mongo>) -> usize {
    let found = db
        .query::<Post>()
        .filter(Post::author().join(User::name()).startswith("user"))
        .order_by(Post::n().asc())
        .limit(10)
        .all()
        .await
        .expect("join");
    assert_eq!(found.iter().map(|p| p.n).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    found.len()
}

async fn copy(db: &Database<Mongo>) -> usize {
    let found = db
        .query::<CopiedPost>()
        .filter(CopiedPost::author().join(User::name()).eq("user 7"))
        .all()
        .await
        .expect("copy");
    assert_eq!(found.len(), POSTS_PER_USER as usize);
    found.len()
}

async fn lookup(db: &Database<Mongo>) -> usize {
    let pipeline = vec![
        doc! { "$match": { "name": "user 7" } },
        doc! { "$lookup": { "from": "posts", "localField": "_id", "foreignField": "author", "as": "posts" } },
        doc! { "$unwind": "$posts" },
        doc! { "$replaceRoot": { "newRoot": "$posts" } },
    ];
    let found: Vec<Post> = db.aggregate_from::<User, Post>(pipeline).await;
    assert_eq!(found.len(), POSTS_PER_USER as usize);
    found.len()
}

trait AggregateFrom {
    async fn aggregate_from<S: Model, M: Model>(&self, pipeline: Vec<bson::Document>) -> Vec<M>;
}

impl AggregateFrom for Database<Mongo> {
    /// A pipeline run on `S`'s collection whose results are `M` records.
    async fn aggregate_from<S: Model, M: Model>(&self, pipeline: Vec<bson::Document>) -> Vec<M> {
        let coll = self.collection::<S>();
        let mut cursor = coll.aggregate(pipeline).await.expect("aggregate");
        let mut out = Vec::new();
        while cursor.advance().await.expect("cursor") {
            out.push(M::decode(None, cursor.current().as_bytes()).expect("decodes"));
        }
        out
    }
}

fn main() {
    let uri = std::env::var("MONGODB_URI").expect("MONGODB_URI is set (scripts/bench starts a server)");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let name = format!("nonrel_bench_joins_{}_{stamp}", std::process::id());
    let options = rt.block_on(async { ClientOptions::parse(&uri).await }).expect("MONGODB_URI parses");
    let db = Database::new(rt.block_on(Mongo::connect_with(options, &name)).expect("connect"));
    rt.block_on(load(&db));
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    let with = |joins: JoinStrategy, related: RelatedStrategy| {
        Database::new(db.backend().clone().with_join_strategy(joins).with_related_strategy(related))
    };
    let key_read = with(JoinStrategy::TwoStep, RelatedStrategy::KeyRead);
    let two_steps = with(JoinStrategy::TwoStep, RelatedStrategy::Lookup);
    let from_parent = with(JoinStrategy::Lookup, RelatedStrategy::Lookup);
    let from_related = with(JoinStrategy::LookupFromRelated, RelatedStrategy::Lookup);
    rt.block_on(check_by_hand(&db));
    let hundred = measure(&mut c, &rt, "select_related/100", || select_related(&db, 100));
    let by_hand =
        measure(&mut c, &rt, "select_related_by_hand/100", || async { select_related_by_hand(&db, 100).await.len() });
    let hundred_kr = measure(&mut c, &rt, "select_related_key_read/100", || select_related(&key_read, 100));
    let two = measure(&mut c, &rt, "join/two_step", || two_step(&two_steps));
    let agg = measure(&mut c, &rt, "join/lookup", || lookup(&db));
    let parent = measure(&mut c, &rt, "join/lookup_parent", || two_step(&from_parent));
    let related = measure(&mut c, &rt, "join/lookup_related", || two_step(&from_related));
    let sel_two = measure(&mut c, &rt, "join_selective/two_step", || selective(&two_steps));
    let sel_parent = measure(&mut c, &rt, "join_selective/lookup_parent", || selective(&from_parent));
    let sel_related = measure(&mut c, &rt, "join_selective/lookup_related", || selective(&from_related));
    let broad_two = measure(&mut c, &rt, "join_broad/two_step", || broad(&two_steps));
    let broad_parent = measure(&mut c, &rt, "join_broad/lookup_parent", || broad(&from_parent));
    let broad_related = measure(&mut c, &rt, "join_broad/lookup_related", || broad(&from_related));
    let local = measure(&mut c, &rt, "join/copy", || copy(&db));
    rt.block_on(async { db.backend().database().drop().await }).expect("drop the benchmark database");
    c.final_summary();
    println!(
        "time select_related/100 {:.0}us select_related_by_hand/100 {:.0}us select_related_key_read/100 {:.0}us (fastest)",
        hundred / 1e3,
        by_hand / 1e3,
        hundred_kr / 1e3
    );
    println!(
        "time join/two_step {:.0}us join/lookup {:.0}us join/copy {:.0}us (fastest)",
        two / 1e3,
        agg / 1e3,
        local / 1e3
    );
    println!(
        "time join/lookup_parent {:.0}us join/lookup_related {:.0}us (fastest; nonrel's $lookup forms)",
        parent / 1e3,
        related / 1e3
    );
    println!(
        "time join_selective/two_step {:.0}us join_selective/lookup_parent {:.0}us join_selective/lookup_related {:.0}us (fastest)",
        sel_two / 1e3,
        sel_parent / 1e3,
        sel_related / 1e3
    );
    println!(
        "time join_broad/two_step {:.0}us join_broad/lookup_parent {:.0}us join_broad/lookup_related {:.0}us (fastest)",
        broad_two / 1e3,
        broad_parent / 1e3,
        broad_related / 1e3
    );
    println!("ratio select_related_vs_hand_mongodb {:.3} 1.1", hundred / by_hand);
    println!("ratio select_related_lookup_vs_key_read {:.3} 1", hundred / hundred_kr);
    println!("ratio join_lookup_related_vs_two_step {:.3} 1", related / two);
    println!("ratio join_selective_lookup_related_vs_two_step {:.3} 1", sel_related / sel_two);
    println!("ratio join_broad_lookup_related_vs_two_step {:.3} 1", broad_related / broad_two);
    println!("ratio join_copy_vs_two_step {:.3} 1", local / two);
    println!("note join_two_step_vs_lookup {:.3}", two / agg);
    println!("note join_lookup_parent_vs_two_step {:.3}", parent / two);
    println!("note join_selective_lookup_parent_vs_two_step {:.3}", sel_parent / sel_two);
    println!("note join_broad_lookup_parent_vs_two_step {:.3}", broad_parent / broad_two);
}
