//! Concurrent writers: updates by query lose no increment (optimistic read-modify-write on
//! `if_seq_no`/`if_primary_term`), and of many records saved at once with one unique value
//! exactly one gets it.

mod support;

use nonrel_runtime::{Database, ErrorKind, Model};
use std::sync::Arc;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "cc_counters")]
struct Counter {
    #[field(key)]
    id: i64,
    group: String,
    n: i64,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "cc_handles")]
struct Handle {
    #[field(key)]
    id: i64,
    #[field(unique)]
    nick: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_by_query_lose_no_increment() {
    let db = Arc::new(Database::new(support::backend("cc").await));
    let mut counters: Vec<Counter> = (1..=3).map(|id| Counter { id, group: "g".into(), n: 0 }).collect();
    db.save_many(&mut counters).await.unwrap();
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let done = db.query::<Counter>().filter(Counter::group().eq("g")).update().inc(Counter::n(), 1).await;
                assert_eq!(done.unwrap().modified, 3);
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    for id in 1..=3 {
        assert_eq!(db.get::<Counter>(id).await.unwrap().unwrap().n, 16, "counter {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_of_many_concurrent_savers_gets_a_unique_value() {
    let db = Arc::new(Database::new(support::backend("cu").await));
    db.sync_indexes().await.unwrap();
    let savers: Vec<_> = (1..=12)
        .map(|id| {
            let db = db.clone();
            tokio::spawn(async move { db.save(&mut Handle { id, nick: "same".into() }).await.map(|_| ()) })
        })
        .collect();
    let mut won = 0;
    for s in savers {
        match s.await.unwrap() {
            Ok(()) => won += 1,
            Err(e) => assert_eq!(e.kind(), ErrorKind::UniqueViolation, "{e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(db.query::<Handle>().filter(Handle::nick().eq("same")).count().await.unwrap(), 1);
    assert!(db.integrity_check().await.unwrap().is_ok());
}
