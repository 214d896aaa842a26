//! Calls to the Datastore API per operation, counted by the handle, against what a
//! hand-written client sends for the same entities.

mod support;

use nonrel_runtime::{Database, Key, Model};
use std::future::Future;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rpc_notes")]
struct Note {
    #[field(key)]
    id: Option<Key<Note>>,
    #[field(index)]
    tag: String,
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_per_operation() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    let mut before = ds.rpc_counts();
    let mut step = |what: &str, expected: (u64, u64, u64, u64)| {
        let now = ds.rpc_counts();
        let d = now - before;
        before = now;
        let got = (d.lookup, d.commit, d.run_query + d.run_aggregation_query, d.begin_transaction);
        assert_eq!(got, expected, "{what}: (lookup, commit, query, beginTransaction)");
    };
    // A new record: one commit (the key is made here, no `allocateIds`), as by hand.
    let mut a = Note { id: None, tag: "x".into(), n: 1 };
    db.save(&mut a).await.unwrap();
    step("insert with an automatic key", (0, 1, 0, 0));
    // A save over a stored record keeps fields other programs wrote: read and write in one
    // transaction (beginTransaction, lookup, commit).
    a.n = 2;
    db.save(&mut a).await.unwrap();
    step("save of a stored record", (1, 1, 0, 1));
    let mut many: Vec<Note> = (0..10).map(|i| Note { id: None, tag: "y".into(), n: i }).collect();
    db.save_many(&mut many).await.unwrap();
    step("save_many of 10 new records", (0, 1, 0, 0));
    assert_eq!(db.get::<Note>(a.id.clone().unwrap()).await.unwrap(), Some(a.clone()));
    step("get", (1, 0, 0, 0));
    let found = db.query::<Note>().filter(Note::tag().eq("y")).all().await.unwrap();
    assert_eq!(found.len(), 10);
    step("indexed query", (0, 0, 1, 0));
    assert_eq!(db.query::<Note>().filter(Note::tag().eq("y")).count_upto(3).await.unwrap(), 3);
    step("count_upto on an index", (0, 0, 1, 0));
    let keys: Vec<Key<Note>> = many.iter().map(|n| n.id.clone().unwrap()).collect();
    assert_eq!(db.delete_many::<Note, _>(keys).await.unwrap(), 10);
    step("delete_many of 10", (0, 1, 0, 0));
}

/// Updates by query run as read-modify-write transactions: every matching record is changed
/// exactly once, and a record changed by another write meanwhile is not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_are_transactional_read_modify_writes() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    let mut notes: Vec<Note> = (0..5).map(|i| Note { id: None, tag: "u".into(), n: i }).collect();
    db.save_many(&mut notes).await.unwrap();
    let before = ds.rpc_counts();
    let counts = db.query::<Note>().filter(Note::tag().eq("u")).update().inc(Note::n(), 10).await.unwrap();
    assert_eq!((counts.matched, counts.modified), (5, 5));
    let d = ds.rpc_counts() - before;
    assert_eq!(
        (d.run_query, d.begin_transaction, d.lookup, d.commit),
        (1, 1, 1, 1),
        "one batch: query, then one transaction"
    );
    let mut ns: Vec<i64> = db.query::<Note>().all().await.unwrap().into_iter().map(|n| n.n).collect();
    ns.sort();
    assert_eq!(ns, vec![10, 11, 12, 13, 14]);
}

/// A transaction reading one record and writing it back: the read outside any Datastore
/// transaction, then at commit `beginTransaction`, the same read again in it (the versions
/// checked) and the `commit`. Written by hand the same work is three calls (the first read
/// inside the transaction): nonrel reads outside it so that an attempt holds no Datastore
/// locks while the program's closure runs, and pays one `lookup` for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_per_transaction() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    let mut a = Note { id: None, tag: "t".into(), n: 1 };
    db.save(&mut a).await.unwrap();
    let key = a.id.clone().unwrap();
    let before = ds.rpc_counts();
    db.transaction(|tx| {
        let key = key.clone();
        async move {
            let mut note = tx.get::<Note>(key).await?.expect("stored");
            note.n += 1;
            tx.save(&mut note).await?;
            Ok(())
        }
    })
    .await
    .unwrap();
    let d = ds.rpc_counts() - before;
    assert_eq!((d.begin_transaction, d.lookup, d.commit, d.total()), (1, 2, 1, 4));
    assert_eq!(db.get::<Note>(a.id.clone().unwrap()).await.unwrap().unwrap().n, 2);
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rpc_plain")]
struct Plain {
    #[field(key)]
    id: i64,
    tag: String,
}

/// A save reads the stored record in the transaction it begins; when that record cannot be
/// read (here a value type nonrel does not write), the save fails naming model and key, and
/// the transaction is rolled back at once: another client's write of the same entity does
/// not wait on a lock left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_fails_in_a_transaction_leaves_no_lock_behind() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    let entity = |tag: &str| {
        format!(r#"{{"upsert":{{"key":{{"path":[{{"kind":"rpc_plain","id":"7"}}]}},"properties":{{"tag":{tag}}}}}}}"#)
    };
    support::raw_commit(&ds, entity(r#"{"geoPointValue":{"latitude":1.5,"longitude":2.5}}"#)).await;
    let before = ds.rpc_counts();
    let err = db.save(&mut Plain { id: 7, tag: "new".into() }).await.unwrap_err();
    assert_eq!(err.kind(), nonrel_runtime::ErrorKind::Decode, "{err}");
    let text = err.to_string();
    assert!(text.contains("Plain") && text.contains('7') && text.contains("geoPointValue"), "{text}");
    let d = ds.rpc_counts() - before;
    assert_eq!((d.begin_transaction, d.lookup, d.commit, d.rollback), (1, 1, 0, 1), "rolled back: {d:?}");
    // Another client writes the entity at once: no lock is held on it (a transaction left
    // open would hold this write until the store expires it, about a minute on the emulator).
    support::raw_commit(&ds, entity(r#"{"stringValue":"fixed"}"#)).await;
    assert_eq!(db.get::<Plain>(7).await.unwrap().unwrap().tag, "fixed");
    db.save(&mut Plain { id: 7, tag: "new".into() }).await.unwrap();
    assert_eq!(db.get::<Plain>(7).await.unwrap().unwrap().tag, "new");
}

/// A save dropped while it waits on the store (a timeout around it, say) after its
/// transaction began still rolls that transaction back, so no lock outlives it; and the
/// record can be written at once afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_dropped_midway_rolls_its_transaction_back() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    db.save(&mut Plain { id: 8, tag: "old".into() }).await.unwrap();
    let before = ds.rpc_counts();
    let mut record = Plain { id: 8, tag: "dropped".into() };
    {
        let mut save = Box::pin(db.save(&mut record));
        // Poll the save until its transaction has begun and its read is under way.
        std::future::poll_fn(|cx| {
            let d = ds.rpc_counts() - before;
            if d.begin_transaction == 1 && d.lookup == 1 {
                return std::task::Poll::Ready(());
            }
            match save.as_mut().poll(cx) {
                std::task::Poll::Ready(r) => panic!("the save ended before its read was sent: {r:?}"),
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        })
        .await;
    }
    // The rollback runs on a task of its own: wait for it to be sent (a bounded wait).
    for _ in 0..500 {
        if (ds.rpc_counts() - before).rollback == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let d = ds.rpc_counts() - before;
    assert_eq!((d.begin_transaction, d.commit, d.rollback), (1, 0, 1), "{d:?}");
    db.save(&mut Plain { id: 8, tag: "new".into() }).await.unwrap();
    assert_eq!(db.get::<Plain>(8).await.unwrap().unwrap().tag, "new");
    let d = ds.rpc_counts() - before;
    assert_eq!(d.rollback, 1, "the second save committed without help: {d:?}");
}
