//! The embedded backend shares one read transaction among the reads made while nothing is
//! written: every read must still see every write committed before it began, on the
//! thread that wrote and on every other.

use nonrel_runtime::{Database, Model, Redb};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "snapshot_items")]
struct Item {
    #[field(key)]
    id: i64,
    #[field(index)]
    group: i64,
    n: i64,
}

/// What the database answers about `id` and `group`, read every way a read goes.
async fn seen(db: &Database<Redb>, id: i64, group: i64) -> (Option<Item>, Vec<i64>, u64, u64) {
    let got = db.get::<Item>(id).await.unwrap();
    let in_group = db.query::<Item>().filter(Item::group().eq(group)).all().await.unwrap();
    let count = db.query::<Item>().filter(Item::group().eq(group)).count().await.unwrap();
    let all = db.query::<Item>().count().await.unwrap();
    (got, in_group.iter().map(|i| i.id).collect(), count, all)
}

#[tokio::test]
async fn every_read_sees_the_writes_committed_before_it() {
    let db = Database::in_memory().unwrap();
    let mut oracle: BTreeMap<i64, Item> = BTreeMap::new();
    // A fixed walk through saves, overwrites that move a record between groups, and deletes,
    // each followed at once by reads (which share a transaction until the next write).
    for step in 0..400i64 {
        let id = (step * 37) % 53;
        let group = (step * 11) % 5;
        if step % 7 == 3 {
            db.delete::<Item>(id).await.unwrap();
            oracle.remove(&id);
        } else {
            let mut item = Item { id, group, n: step };
            db.save(&mut item).await.unwrap();
            oracle.insert(id, item);
        }
        for g in 0..5 {
            // Twice: the second read shares the first one's transaction.
            for _ in 0..2 {
                let (got, ids, count, all) = seen(&db, id, g).await;
                assert_eq!(got, oracle.get(&id).cloned(), "step {step}: get {id}");
                let expected: Vec<i64> = oracle.values().filter(|i| i.group == g).map(|i| i.id).collect();
                assert_eq!(ids, expected, "step {step}: group {g}");
                assert_eq!(count, expected.len() as u64, "step {step}: count of group {g}");
                assert_eq!(all, oracle.len() as u64, "step {step}: count of all");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_and_readers_on_other_threads_see_what_committed_before_they_read() {
    let db = Arc::new(Database::in_memory().unwrap());
    let writers = 4i64;
    let per_writer = 150i64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                let id = w * 10_000 + i;
                db.save(&mut Item { id, group: w, n: i }).await.unwrap();
                // A writer's next read sees its write, however other reads share transactions.
                assert_eq!(db.get::<Item>(id).await.unwrap().map(|x| x.n), Some(i), "writer {w} item {i}");
                let mine = db.query::<Item>().filter(Item::group().eq(w)).count().await.unwrap();
                assert_eq!(mine, i as u64 + 1, "writer {w} after item {i}");
            }
        }));
    }
    // Readers meanwhile: the total only grows, and a record read once is read again.
    for r in 0..2 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = 0;
            for _ in 0..300 {
                let now = db.query::<Item>().count().await.unwrap();
                assert!(now >= last, "reader {r}: {now} after {last}");
                last = now;
                let ids: Vec<i64> = db.query::<Item>().limit(5).all().await.unwrap().iter().map(|i| i.id).collect();
                for id in ids {
                    assert!(db.get::<Item>(id).await.unwrap().is_some(), "reader {r}: {id} vanished");
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(db.query::<Item>().count().await.unwrap(), (writers * per_writer) as u64);
}
