//! `explain` on MongoDB: for each form of query (conditions, OR and NOT, conditions across a
//! `Ref`, counts with and without a declared counter, aggregates, distinct values) what runs
//! on the server, the command nonrel sends for it, and the indexes the server's plan reads.
//! Each explained command is also run, and gives the query's own answer.

mod support;

use nonrel_runtime::aggregate::Sum;
use nonrel_runtime::mongo::mongodb::bson::{Bson, Document};
use nonrel_runtime::mongo::{MongoExplain, MongoRuns};
use nonrel_runtime::{Database, Key, Model, Mongo, Query, Ref};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "ex_users")]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    #[field(index)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "ex_posts", count_by(author))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    title: String,
    #[field(index)]
    votes: i64,
    #[field(index)]
    author: Ref<User>,
    category: String,
}

/// A database with 3 users and 30 posts.
async fn filled() -> (Database<Mongo>, Vec<User>, Vec<Post>) {
    let db = support::fresh_mongo().await;
    let mut users: Vec<User> = ["ann", "bob", "cy"].iter().map(|n| User { id: None, name: n.to_string() }).collect();
    db.save_many(&mut users).await.unwrap();
    let mut posts: Vec<Post> = (0..30)
        .map(|i| Post {
            id: None,
            title: format!("t{}", i % 10),
            votes: i,
            author: Ref::from(users[i as usize % 3].key().unwrap()),
            category: ["go", "rust"][i as usize % 2].into(),
        })
        .collect();
    db.save_many(&mut posts).await.unwrap();
    (db, users, posts)
}

/// Whether `v` holds a document with a field named `name`, at any depth.
fn names(v: &Bson, name: &str) -> bool {
    match v {
        Bson::Document(d) => holds(d, name),
        Bson::Array(items) => items.iter().any(|i| names(i, name)),
        _ => false,
    }
}

fn holds(d: &Document, name: &str) -> bool {
    d.iter().any(|(k, v)| k == name || names(v, name))
}

fn reads_index_on(how: &MongoExplain, field: &str) -> bool {
    how.indexes.iter().any(|i| i.contains(field))
}

#[tokio::test]
async fn a_query_is_one_find_that_the_server_plans_on_its_index() {
    let (db, _, posts) = filled().await;
    let q = db.query::<Post>().filter(Post::title().eq("t3"));
    let how = q.explain().await.unwrap();
    assert_eq!(how.runs, MongoRuns::Find);
    assert_eq!(how.command.get_str("find").unwrap(), "ex_posts");
    assert!(reads_index_on(&how, "title"), "{:?}", how.server);
    assert_eq!(q.all().await.unwrap(), posts.iter().filter(|p| p.title == "t3").cloned().collect::<Vec<_>>());
    // Without an index on the field: a scan of the collection.
    let scan = db.query::<Post>().filter(Post::category().eq("go")).explain().await.unwrap();
    assert_eq!((scan.runs, scan.indexes.is_empty()), (MongoRuns::Find, true), "{:?}", scan.server);
    // A limit of 0: nothing runs.
    let none = db.query::<Post>().limit(0).explain().await.unwrap();
    assert_eq!((none.runs, none.command.is_empty()), (MongoRuns::Nothing, true));
}

#[tokio::test]
async fn ors_and_nots_are_one_find_with_or_and_nor() {
    let (db, _, posts) = filled().await;
    let q = db.query::<Post>().filter(Post::title().eq("t1") | Post::votes().gte(28));
    let how = q.explain().await.unwrap();
    assert_eq!(how.runs, MongoRuns::Find);
    assert!(holds(&how.command, "$or"), "{:?}", how.command);
    let want: Vec<Post> = posts.iter().filter(|p| p.title == "t1" || p.votes >= 28).cloned().collect();
    assert_eq!(q.all().await.unwrap(), want);
    let not = db.query::<Post>().filter(!Post::title().eq("t1")).explain().await.unwrap();
    assert!(holds(&not.command, "$nor"), "{:?}", not.command);
}

#[tokio::test]
async fn a_condition_across_a_ref_is_one_lookup_pipeline() {
    let (db, users, posts) = filled().await;
    let q = db.query::<Post>().filter(Post::author().join(User::name()).eq("bob"));
    let how = q.explain().await.unwrap();
    assert_eq!(how.runs, MongoRuns::Pipeline);
    assert!(how.command.contains_key("aggregate") && holds(&how.command, "$lookup"), "{:?}", how.command);
    let bob = Ref::from(users[1].key().unwrap());
    let want: Vec<Post> = posts.iter().filter(|p| p.author == bob).cloned().collect();
    assert_eq!(q.all().await.unwrap(), want);
    // Inside an OR, the runtime reads the related keys first: one find with `$in`.
    let or = db
        .query::<Post>()
        .filter(Post::author().join(User::name()).eq("bob").require() | Post::votes().eq(0))
        .explain()
        .await
        .unwrap();
    assert_eq!(or.runs, MongoRuns::Find);
    assert!(holds(&or.command, "$in"), "{:?}", or.command);
}

#[tokio::test]
async fn a_declared_count_reads_its_counter_and_others_count_records() {
    let (db, users, posts) = filled().await;
    let ann = Ref::from(users[0].key().unwrap());
    let by_ann = Query::<Post>::new().filter(Post::author().eq(ann.clone()));
    let how = db.backend().explain_count(&by_ann, None).await.unwrap();
    assert_eq!(how.runs, MongoRuns::Counter("author"));
    assert_eq!(how.command.get_str("find").unwrap(), "nonrel_counters");
    let want = posts.iter().filter(|p| p.author == ann).count() as u64;
    assert_eq!(db.query::<Post>().with(by_ann).count().await.unwrap(), want);
    let popular = Query::<Post>::new().filter(Post::votes().gte(20));
    let how = db.backend().explain_count(&popular, Some(5)).await.unwrap();
    assert_eq!(how.runs, MongoRuns::Count);
    assert!(reads_index_on(&how, "votes"), "{:?}", how.server);
    assert!(holds(&how.command, "$limit"), "{:?}", how.command);
}

#[tokio::test]
async fn aggregates_and_distinct_values_are_one_group_pipeline() {
    let (db, _, posts) = filled().await;
    let rust = db.query::<Post>().filter(Post::title().eq("t1"));
    let grouped = rust.group_by(Post::category()).aggregate(Sum(Post::votes()));
    let how = grouped.explain().await.unwrap().expect("a pipeline");
    assert_eq!(how.runs, MongoRuns::Pipeline);
    assert!(holds(&how.command, "$group") && holds(&how.command, "$match"), "{:?}", how.command);
    assert!(reads_index_on(&how, "title"), "{:?}", how.server);
    let groups = grouped.all().await.unwrap();
    let want: i64 = posts.iter().filter(|p| p.title == "t1").map(|p| p.votes).sum();
    assert_eq!(groups.iter().map(|(_, s)| *s).sum::<i64>(), want);
    let distinct = db.query::<Post>().explain_distinct(Post::category()).await.unwrap().expect("a pipeline");
    assert!(holds(&distinct.command, "$group"), "{:?}", distinct.command);
}
