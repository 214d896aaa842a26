//! Rebuilding indexes writes every entity again (so properties declared indexed after the
//! entity was written get indexed) without losing a write made meanwhile.

mod support;

use nonrel_runtime::{Database, Key, Model};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rebuild_counters")]
struct Counter {
    #[field(key)]
    id: Option<Key<Counter>>,
    #[field(index)]
    group: String,
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_rewrites_every_record_beside_live_writes() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    let mut counters: Vec<Counter> =
        (0..120).map(|i| Counter { id: None, group: format!("g{}", i % 3), n: 0 }).collect();
    db.save_many(&mut counters).await.unwrap();
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                db.query::<Counter>().filter(Counter::group().eq("g1")).update().inc(Counter::n(), 1).await.unwrap();
            }
        })
    };
    let before = ds.rpc_counts();
    let written = db.rebuild_indexes().await.unwrap();
    let d = ds.rpc_counts() - before;
    writer.await.unwrap();
    assert!(written >= 120, "every record written again: {written}");
    assert!(d.commit >= 1 && d.lookup >= 1, "{d:?}");
    let all = db.query::<Counter>().all().await.unwrap();
    assert_eq!(all.len(), 120);
    for c in &all {
        let expected = if c.group == "g1" { 5 } else { 0 };
        assert_eq!(c.n, expected, "no increment lost: {c:?}");
    }
    assert_eq!(db.query::<Counter>().filter(Counter::group().eq("g2")).count().await.unwrap(), 40);
}
