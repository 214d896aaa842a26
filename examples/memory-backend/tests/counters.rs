//! Maintained counts on the template: a count that is one equality per field of a declared
//! grouping is answered from the counter without reading a record, at any size; writes of
//! every kind keep it equal to an oracle of the records, through a model sharing the
//! collection that declares no counter too; `rebuild_indexes` recomputes it.

use nonrel_memory::Memory;
use nonrel_runtime::{Database, Key, Model};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "posts", count_by(author), count_by("author", "live"), count_by())]
struct Post {
    #[field(key)]
    id: i64,
    author: String,
    live: bool,
}

/// The same collection as a program that declares no counter stores it.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "posts")]
struct Plain {
    #[field(key)]
    id: i64,
    author: String,
    live: bool,
}

const AUTHORS: [&str; 3] = ["ann", "bob", "cy"];

/// Every declared count against the oracle (key to author and flag), and how many records
/// the counts read.
async fn check(db: &Database<Memory>, oracle: &BTreeMap<i64, (&str, bool)>) -> u64 {
    let before = db.backend().records_counted.load(Relaxed);
    assert_eq!(db.query::<Post>().count().await.unwrap(), oracle.len() as u64);
    for a in AUTHORS {
        let want = oracle.values().filter(|(x, _)| *x == a).count() as u64;
        assert_eq!(db.count_by(Post::author(), a).await.unwrap(), want, "author {a}");
        let live = oracle.values().filter(|(x, l)| *x == a && *l).count() as u64;
        let query = db.query::<Post>().filter(Post::author().eq(a)).filter(Post::live().eq(true));
        assert_eq!(query.count().await.unwrap(), live, "author {a}, live");
        assert_eq!(db.query::<Post>().filter(Post::author().eq(a)).count_upto(1).await.unwrap(), want.min(1));
    }
    db.backend().records_counted.load(Relaxed) - before
}

#[tokio::test]
async fn a_declared_count_reads_no_record_at_any_size() {
    for n in [10_u64, 1000] {
        let db = Database::new(Memory::new());
        let oracle: BTreeMap<i64, (&str, bool)> =
            (0..n as i64).map(|i| (i, (AUTHORS[i as usize % 3], i % 2 == 0))).collect();
        let mut posts: Vec<Post> = oracle.iter().map(|(&id, &(a, live))| Post { id, author: a.into(), live }).collect();
        db.save_many(&mut posts).await.unwrap();
        assert_eq!(check(&db, &oracle).await, 0, "{n} records");
        // Not a declared grouping: the count reads every record.
        let not_declared = db.query::<Post>().filter(Post::live().eq(true)).count().await.unwrap();
        assert_eq!((not_declared, db.backend().records_counted.load(Relaxed)), (n.div_ceil(2), n));
    }
}

#[tokio::test]
async fn every_kind_of_write_keeps_the_counters() {
    let db = Database::new(Memory::new());
    let mut oracle = BTreeMap::new();
    for i in 0..12 {
        let (author, live) = (AUTHORS[i as usize % 3], i % 4 == 0);
        db.save(&mut Post { id: i, author: author.into(), live }).await.unwrap();
        oracle.insert(i, (author, live));
    }
    // A save that moves a record, a delete, an update by query.
    db.save(&mut Post { id: 0, author: "cy".into(), live: false }).await.unwrap();
    oracle.insert(0, ("cy", false));
    db.delete(Key::<Post>::from_value(nonrel_runtime::KeyValue::Int(1))).await.unwrap();
    oracle.remove(&1);
    db.query::<Post>().filter(Post::author().eq("bob")).update().set(Post::author(), "ann").await.unwrap();
    oracle.values_mut().filter(|(a, _)| *a == "bob").for_each(|p| p.0 = "ann");
    assert_eq!(check(&db, &oracle).await, 0);
    // A transaction keeps them; one that fails changes none.
    db.transaction(|tx| async move {
        tx.save(&mut Post { id: 2, author: "bob".into(), live: true }).await?;
        tx.delete(Key::<Post>::from_value(nonrel_runtime::KeyValue::Int(3))).await.map(drop)
    })
    .await
    .unwrap();
    oracle.insert(2, ("bob", true));
    oracle.remove(&3);
    let failed: nonrel_runtime::Result<()> = db
        .transaction(|tx| async move {
            tx.save(&mut Post { id: 50, author: "cy".into(), live: true }).await?;
            Err(nonrel_runtime::Error::new(nonrel_runtime::ErrorKind::Unsupported, "give up"))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(check(&db, &oracle).await, 0);
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[tokio::test]
async fn writes_through_a_model_without_counters_keep_the_collections_counters() {
    let db = Database::new(Memory::new());
    let mut oracle = BTreeMap::new();
    for (id, author) in [(1, "ann"), (2, "bob"), (3, "ann")] {
        db.save(&mut Plain { id, author: author.into(), live: true }).await.unwrap();
        oracle.insert(id, (author, true));
    }
    // `Plain` declares no counter, but `Post` shares its collection: the collection's first
    // record started `Post`'s counters, and every write through either model keeps them.
    assert_eq!(check(&db, &oracle).await, 0);
    db.save(&mut Post { id: 4, author: "cy".into(), live: false }).await.unwrap();
    oracle.insert(4, ("cy", false));
    assert_eq!(check(&db, &oracle).await, 0);
    assert!(db.integrity_check().await.unwrap().is_ok());
    db.save(&mut Plain { id: 1, author: "bob".into(), live: false }).await.unwrap();
    db.delete(Key::<Plain>::from_value(nonrel_runtime::KeyValue::Int(3))).await.unwrap();
    db.save(&mut Plain { id: 5, author: "dee".into(), live: true }).await.unwrap();
    oracle.insert(1, ("bob", false));
    oracle.remove(&3);
    oracle.insert(5, ("dee", true));
    assert_eq!(check(&db, &oracle).await, 0);
    assert_eq!(db.count_by(Post::author(), "dee").await.unwrap(), 1);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

#[tokio::test]
async fn rebuild_indexes_recomputes_the_counters() {
    let db = Database::new(Memory::new());
    let mut oracle = BTreeMap::new();
    for (id, author) in [(1, "ann"), (2, "bob"), (3, "ann")] {
        db.save(&mut Plain { id, author: author.into(), live: id == 2 }).await.unwrap();
        oracle.insert(id, (author, id == 2));
    }
    let before = db.integrity_check().await.unwrap();
    assert!(before.is_ok(), "{:?}", before.problems);
    db.rebuild_indexes().await.unwrap();
    assert_eq!(check(&db, &oracle).await, 0);
    // The report counts each counter's groups, before and after: 2 authors, 2 (author, live)
    // pairs, 1 total.
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.entries, before.entries);
    assert!(report.entries >= 5, "{}", report.entries);
}
