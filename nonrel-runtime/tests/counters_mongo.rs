//! Maintained counts on MongoDB: counter documents written in the transaction of every write
//! through a counted collection. Every write path keeps the counts equal to counting the
//! records, a count of a declared grouping is one command at any size, a damaged counter is
//! reported and rebuilt, a grouping declared after records counts records until rebuilt, and
//! concurrent writers (and a rebuild beside them) leave the counts exact.

mod support;

use nonrel_runtime::backend::{Backend, SwapItem};
use nonrel_runtime::mongo::mongodb::bson::{doc, spec::BinarySubtype, Binary, Document};
use nonrel_runtime::{Database, Key, Model, Mongo, Query};
use support::{monitored, take};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "mc_posts", count_by(author), count_by("author", "live"), count_by())]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: String,
    live: bool,
    words: u32,
}

fn post(author: &str, live: bool, words: u32) -> Post {
    Post { id: None, author: author.into(), live, words }
}

/// A collection without counters: its writes keep their one command.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "mc_plain_notes")]
struct Note {
    #[field(key)]
    id: Option<Key<Note>>,
    author: String,
}

/// The same collection, as a program that declares no counter stores it.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "mc_later")]
struct Plain {
    #[field(key)]
    id: Option<Key<Plain>>,
    author: String,
}

/// A later version of the program that counts by author.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "mc_later", count_by(author))]
struct Counted {
    #[field(key)]
    id: Option<Key<Counted>>,
    author: String,
}

const AUTHORS: [&str; 3] = ["ann", "bob", "cy"];

/// Every declared count, against the same count read from the records (a condition no
/// grouping answers, true of every record).
async fn assert_counts(db: &Database<Mongo>, ctx: &str) {
    let records = |q: Query<Post>| q.filter(Post::words().gte(0u32));
    let all = db.query::<Post>().count().await.unwrap();
    assert_eq!(all, db.query::<Post>().with(records(Query::new())).count().await.unwrap(), "total: {ctx}");
    for a in AUTHORS {
        let got = db.query::<Post>().filter(Post::author().eq(a)).count().await.unwrap();
        let by_author = Query::<Post>::new().filter(Post::author().eq(a));
        let want = db.query::<Post>().with(records(by_author)).count().await.unwrap();
        assert_eq!(got, want, "author {a}: {ctx}");
        assert_eq!(db.count_by(Post::author(), a).await.unwrap(), want, "count_by author {a}: {ctx}");
        let upto = db.query::<Post>().filter(Post::author().eq(a)).count_upto(1).await.unwrap();
        assert_eq!(upto, want.min(1), "count_upto author {a}: {ctx}");
        for live in [false, true] {
            let got = db.query::<Post>().filter(Post::author().eq(a)).filter(Post::live().eq(live)).count();
            let both = Query::<Post>::new().filter(Post::author().eq(a)).filter(Post::live().eq(live));
            let want = db.query::<Post>().with(records(both)).count().await.unwrap();
            assert_eq!(got.await.unwrap(), want, "author {a}, live {live}: {ctx}");
        }
    }
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{ctx}: {:?}", report.problems);
}

/// The stored document of a record, as compare-and-set expects it.
async fn stored(db: &Database<Mongo>, key: &Key<Post>) -> Vec<u8> {
    let rows = db.backend().get_many(Post::DESC, vec![key.value().clone()]).await.unwrap();
    rows.into_iter().next().flatten().expect("stored")
}

#[tokio::test]
async fn every_write_path_keeps_the_counts() {
    let db = support::fresh_mongo().await;
    assert_counts(&db, "empty").await;

    let a = db.save(&mut post("ann", true, 1)).await.unwrap();
    let b = db.insert(&mut post("bob", false, 2)).await.unwrap();
    assert_counts(&db, "save and insert").await;

    let mut many: Vec<Post> = (0..12).map(|i| post(AUTHORS[i % 3], i % 2 == 0, i as u32)).collect();
    let keys = db.save_many(&mut many).await.unwrap();
    assert_counts(&db, "save_many").await;

    // Saves that move records between groups, in one save_many (one of them twice).
    let mut moved = many[..4].to_vec();
    for p in &mut moved {
        p.author = "cy".into();
        p.live = !p.live;
    }
    let mut again = moved[0].clone();
    again.author = "bob".into();
    moved.push(again);
    db.save_many(&mut moved).await.unwrap();
    assert_counts(&db, "moving save_many").await;

    // A failed insert (the key exists) writes no count either.
    let mut dup = post("ann", true, 9);
    dup.id = Some(a.clone());
    assert!(db.insert(&mut dup).await.is_err());
    assert_counts(&db, "refused insert").await;

    assert!(db.delete(&b).await.unwrap());
    assert!(!db.delete(&b).await.unwrap());
    assert_eq!(db.delete_many(keys[4..7].iter().chain([&keys[4]])).await.unwrap(), 3);
    assert_counts(&db, "delete and delete_many").await;

    // Compare-and-set: one moved, one deleted, one stale (left alone).
    let (x, y, z) = (&keys[7], &keys[8], &keys[9]);
    let mut to_bob = Vec::new();
    post("bob", true, 7).encode(&mut to_bob).unwrap();
    let mut stale = stored(&db, z).await;
    stale.push(0);
    let items = vec![
        SwapItem { key: x.value().clone(), expected: stored(&db, x).await, doc: Some(to_bob.clone()) },
        SwapItem { key: y.value().clone(), expected: stored(&db, y).await, doc: None },
        SwapItem { key: z.value().clone(), expected: stale, doc: Some(to_bob) },
    ];
    let done = db.backend().swap(Post::DESC, items).await.unwrap();
    assert_eq!(done[..2], [nonrel_runtime::backend::Swapped::Written, nonrel_runtime::backend::Swapped::Written]);
    assert!(matches!(done[2], nonrel_runtime::backend::Swapped::Changed(_)));
    assert_counts(&db, "compare-and-set").await;

    // Updates by query: of a counted field (moves records), and of another (native).
    let moved = db.query::<Post>().filter(Post::author().eq("cy")).update().set(Post::author(), "ann").await.unwrap();
    assert!(moved.matched > 0);
    assert_counts(&db, "update of a counted field").await;
    db.query::<Post>().filter(Post::live().eq(true)).update().set(Post::live(), false).await.unwrap();
    assert_counts(&db, "update of a counted field of a pair").await;
    db.query::<Post>().filter(Post::author().eq("ann")).update().inc(Post::words(), 1u32).await.unwrap();
    assert_counts(&db, "update of an uncounted field").await;

    // A transaction: its writes count when it commits, and not when it fails.
    let (key, gone) = (a.clone(), keys[10].clone());
    db.transaction(move |tx| {
        let (key, gone) = (key.clone(), gone.clone());
        async move {
            tx.save(&mut post("bob", true, 3)).await?;
            tx.insert(&mut post("cy", false, 4)).await?;
            let mut p = tx.get(key.clone()).await?.expect("saved");
            p.author = "bob".into();
            tx.save(&mut p).await?;
            tx.delete(gone).await?;
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_counts(&db, "transaction").await;
    let failed: nonrel_runtime::Result<()> = db
        .transaction(move |tx| async move {
            tx.save(&mut post("cy", true, 5)).await?;
            Err(nonrel_runtime::Error::new(nonrel_runtime::ErrorKind::Unsupported, "give up"))
        })
        .await;
    assert!(failed.is_err());
    assert_counts(&db, "failed transaction").await;
}

#[tokio::test]
async fn a_count_is_one_read_at_any_size_and_a_counted_write_one_transaction() {
    for n in [30usize, 3000] {
        let (db, seen) = monitored("mcount").await;
        let mut batch: Vec<Post> = (0..n).map(|i| post(AUTHORS[i % 3], i % 2 == 0, i as u32)).collect();
        db.save_many(&mut batch).await.unwrap();
        take(&seen);
        let ann = db.query::<Post>().filter(Post::author().eq("ann")).count().await.unwrap();
        assert_eq!(ann, n.div_ceil(3) as u64);
        assert_eq!(take(&seen), ["find"], "{n} records: one read of the group and its marker");
        let both = db.query::<Post>().filter(Post::live().eq(true)).filter(Post::author().eq("bob")).count();
        assert_eq!(both.await.unwrap(), (0..n).filter(|i| i % 3 == 1 && i % 2 == 0).count() as u64);
        assert_eq!(db.query::<Post>().count().await.unwrap(), n as u64);
        assert_eq!(db.query::<Post>().filter(Post::author().eq("cy")).count_upto(2).await.unwrap(), 2);
        assert_eq!(take(&seen), ["find", "find", "find"]);
        // Not a grouping: the records are counted.
        db.query::<Post>().filter(Post::words().gte(10u32)).count().await.unwrap();
        assert_eq!(take(&seen), ["aggregate"]);
    }

    let (db, seen) = monitored("mwrite").await;
    let key = db.insert(&mut post("ann", true, 1)).await.unwrap();
    assert_eq!(take(&seen), ["insert", "update", "commitTransaction"], "insert, $inc, commit");
    let mut p = db.get(&key).await.unwrap().unwrap();
    take(&seen);
    p.author = "bob".into();
    db.save(&mut p).await.unwrap();
    assert_eq!(take(&seen), ["find", "update", "update", "commitTransaction"], "read, write, $inc, commit");
    db.delete(&key).await.unwrap();
    assert_eq!(take(&seen), ["find", "delete", "update", "commitTransaction"]);
    // A collection without counters keeps its one command per write.
    let note = db.save(&mut Note { id: None, author: "ann".into() }).await.unwrap();
    assert_eq!(take(&seen), ["update"]);
    db.delete(&note).await.unwrap();
    assert_eq!(take(&seen), ["delete"]);
    // An update that cannot change a counted field is its one command in a transaction.
    db.query::<Post>().filter(Post::author().eq("ann")).update().inc(Post::words(), 1u32).await.unwrap();
    assert_eq!(take(&seen), ["update", "commitTransaction"]);
}

/// The `_id` of a group's counter document.
fn group_id(collection: &str, counter: &str, values: &[nonrel_runtime::Value]) -> Document {
    let bytes: Vec<u8> = values.iter().flat_map(nonrel_runtime::order::encoded).collect();
    doc! { "c": collection, "k": counter, "g": Binary { subtype: BinarySubtype::Generic, bytes } }
}

#[tokio::test]
async fn a_damaged_counter_is_reported_and_rebuilt() {
    let db = support::fresh_mongo().await;
    let mut batch: Vec<Post> = (0..9).map(|i| post(AUTHORS[i % 3], i % 2 == 0, i as u32)).collect();
    db.save_many(&mut batch).await.unwrap();
    assert!(db.integrity_check().await.unwrap().is_ok());
    // Through the driver: ann's counter gains two, and a group no record belongs to appears.
    let counters = db.backend().database().collection::<Document>("nonrel_counters");
    let ann = group_id("mc_posts", "author", &[nonrel_runtime::Value::String("ann".into())]);
    let done = counters.update_one(doc! { "_id": ann }, doc! { "$inc": { "n": 2i64 } }).await.unwrap();
    assert_eq!(done.modified_count, 1);
    let nobody = group_id("mc_posts", "author", &[nonrel_runtime::Value::String("zed".into())]);
    counters.insert_one(doc! { "_id": nobody, "n": 4i64 }).await.unwrap();
    assert_eq!(db.query::<Post>().filter(Post::author().eq("ann")).count().await.unwrap(), 5, "read from the counter");

    let report = db.integrity_check().await.unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    let problem = &report.problems[0];
    assert_eq!((problem.model, problem.index), ("Post", "author"));
    assert!(problem.message.contains("author = \"ann\"") && problem.message.contains("holds 5"), "{}", problem.message);
    assert!(problem.message.contains("records number 3"), "{}", problem.message);
    assert!(report.problems[1].message.contains("no record belongs to"), "{}", report.problems[1].message);

    db.rebuild_indexes().await.unwrap();
    assert!(db.integrity_check().await.unwrap().is_ok());
    assert_eq!(db.query::<Post>().filter(Post::author().eq("ann")).count().await.unwrap(), 3);
    assert_eq!(db.query::<Post>().filter(Post::author().eq("zed")).count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_grouping_declared_after_records_counts_records_until_rebuilt() {
    let mut old: Vec<Plain> = ["ann", "bob", "ann"].iter().map(|a| Plain { id: None, author: (*a).into() }).collect();
    // A database the older program wrote to, never synced by the newer one.
    let fresh = Mongo::connect(&support::mongodb_uri(), &support::fresh_name("mlater2")).await.unwrap();
    let db2 = Database::new(fresh);
    db2.save_many(&mut old).await.unwrap();
    let count_ann = || db2.query::<Counted>().filter(Counted::author().eq("ann")).count();
    assert_eq!(count_ann().await.unwrap(), 2, "not built: counted from the records");
    // A write through the counting model counts, but the grouping stays unbuilt.
    db2.save(&mut Counted { id: None, author: "ann".into() }).await.unwrap();
    assert_eq!(count_ann().await.unwrap(), 3);
    let report = db2.integrity_check().await.unwrap();
    assert!(report.problems.iter().any(|p| p.index == "author" && p.message.contains("not built")), "{report:?}");
    // sync_indexes on a collection with records does not mark it.
    db2.sync_indexes().await.unwrap();
    assert_eq!(count_ann().await.unwrap(), 3);
    db2.rebuild_indexes().await.unwrap();
    assert!(db2.integrity_check().await.unwrap().is_ok());
    assert_eq!(count_ann().await.unwrap(), 3);
    assert_eq!(db2.query::<Counted>().filter(Counted::author().eq("bob")).count().await.unwrap(), 1);

    // The same on a monitored database, counting its commands: records until rebuilt. Its
    // sync marked the empty collection's grouping built, so the older program's writes are
    // followed by removing every counter document, as if it had never synced.
    let (db, seen) = monitored("mlater").await;
    db.save_many(&mut old.iter().map(|p| Plain { id: None, author: p.author.clone() }).collect::<Vec<_>>())
        .await
        .unwrap();
    let _ = db.backend().database().collection::<Document>("nonrel_counters").delete_many(doc! {}).await.unwrap();
    take(&seen);
    assert_eq!(db.query::<Counted>().filter(Counted::author().eq("ann")).count().await.unwrap(), 2);
    assert_eq!(take(&seen), ["find", "aggregate"], "the counters, then the records");
    db.rebuild_indexes().await.unwrap();
    take(&seen);
    assert_eq!(db.query::<Counted>().filter(Counted::author().eq("ann")).count().await.unwrap(), 2);
    assert_eq!(take(&seen), ["find"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_and_a_rebuild_leave_the_counts_exact() {
    let db = support::fresh_mongo().await;
    let mut seed: Vec<Post> = (0..20).map(|i| post(AUTHORS[i % 2], i % 2 == 0, i as u32)).collect();
    let seeded = db.save_many(&mut seed).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..6u32 {
        let db = db.clone();
        let seeded = seeded.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..15u32 {
                match (t + i) % 4 {
                    0 => {
                        db.save(&mut post("ann", i % 2 == 0, i)).await.unwrap();
                    }
                    1 => {
                        let key = &seeded[((t * 7 + i) % 20) as usize];
                        if let Some(mut p) = db.get(key).await.unwrap() {
                            p.author = if p.author == "ann" { "bob".into() } else { "ann".into() };
                            p.live = !p.live;
                            db.save(&mut p).await.unwrap();
                        }
                    }
                    2 => {
                        db.delete(&seeded[((t * 5 + i * 3) % 20) as usize]).await.unwrap();
                    }
                    _ => {
                        let q = db.query::<Post>().filter(Post::words().eq(i)).filter(Post::author().eq("bob"));
                        q.update().set(Post::author(), "ann").await.unwrap();
                    }
                }
            }
        }));
    }
    // A rebuild beside the writers.
    let rebuilt = {
        let db = db.clone();
        tokio::spawn(async move { db.rebuild_indexes().await.unwrap() })
    };
    for t in tasks {
        t.await.unwrap();
    }
    rebuilt.await.unwrap();
    assert_counts(&db, "after concurrent writers").await;
}
