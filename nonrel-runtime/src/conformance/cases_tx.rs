//! Transaction cases, for backends with the `Transactions` capability.
#![allow(missing_docs)]

use crate::backend::capability::Transactions;
use crate::{Database, Error, ErrorKind, Key, Query};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A named counter.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_tx_counters")]
pub struct Counter {
    #[field(key)]
    pub name: String,
    pub n: i64,
}

/// One line per increment, with an automatic key: written in the same transaction.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_tx_log")]
pub struct LogLine {
    #[field(key)]
    pub id: Option<Key<LogLine>>,
    #[field(index)]
    pub counter: String,
    #[field(unique)]
    pub stamp: String,
}

fn counter(name: &str, n: i64) -> Counter {
    Counter { name: name.into(), n }
}

/// N tasks each doing M read-modify-write increments in transactions end with exactly N x M,
/// and the log line each transaction writes beside its increment is there exactly N x M times.
pub async fn concurrent_increments_are_exact<B: Transactions>(db: &Database<B>) {
    const TASKS: usize = 6;
    const EACH: usize = 10;
    db.save(&mut counter("hits", 0)).await.unwrap();
    let tries = Arc::new(AtomicU32::new(0));
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let (db, tries) = (db.clone(), tries.clone());
        handles.push(tokio::spawn(async move {
            for i in 0..EACH {
                let tries = &tries;
                db.transaction(move |tx| async move {
                    tries.fetch_add(1, Ordering::Relaxed);
                    let mut c = tx.get::<Counter>("hits").await?.expect("the counter exists");
                    c.n += 1;
                    tx.save(&mut c).await?;
                    let mut line = LogLine { id: None, counter: "hits".into(), stamp: format!("{t}-{i}") };
                    tx.insert(&mut line).await?;
                    Ok(c.n)
                })
                .tries(500)
                .await
                .expect("the transaction commits within its tries");
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let total = (TASKS * EACH) as i64;
    assert_eq!(db.get::<Counter>("hits").await.unwrap().unwrap().n, total);
    let lines = db.query::<LogLine>().filter(LogLine::counter().eq("hits")).count().await.unwrap();
    assert_eq!(lines, total as u64, "one log line per committed increment");
    let distinct: std::collections::HashSet<_> =
        db.query::<LogLine>().all().await.unwrap().into_iter().map(|l| l.id.unwrap()).collect();
    assert_eq!(distinct.len(), total as usize, "automatic keys are distinct");
    assert!(tries.load(Ordering::Relaxed) >= total as u32);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// Inside a transaction reads see its writes; an error drops every write.
pub async fn transactions_see_their_writes_and_roll_back<B: Transactions>(db: &Database<B>) {
    db.save(&mut counter("kept", 1)).await.unwrap();
    let err = db
        .transaction(|tx| async move {
            tx.save(&mut counter("new", 5)).await?;
            assert_eq!(tx.get::<Counter>("new").await?, Some(counter("new", 5)));
            assert!(tx.delete::<Counter>("kept").await?);
            assert_eq!(tx.get::<Counter>("kept").await?, None);
            let mut line = LogLine { id: None, counter: "new".into(), stamp: "s1".into() };
            tx.save(&mut line).await?;
            let found = tx.query(Query::<LogLine>::new().filter(LogLine::counter().eq("new"))).await?;
            assert_eq!(found, vec![line]);
            Err::<(), _>(Error::new(ErrorKind::Unsupported, "changed my mind"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.message(), "changed my mind");
    assert_eq!(db.get::<Counter>("new").await.unwrap(), None, "nothing of the attempt is kept");
    assert_eq!(db.get::<Counter>("kept").await.unwrap(), Some(counter("kept", 1)));
    assert_eq!(db.query::<LogLine>().count().await.unwrap(), 0);

    let n = db
        .transaction(|tx| async move {
            tx.save(&mut counter("a", 1)).await?;
            tx.save(&mut counter("b", 2)).await?;
            Ok(tx.query(Query::<Counter>::new().filter(Counter::n().gte(1))).await?.len())
        })
        .await
        .unwrap();
    assert_eq!(n, 3, "the query sees the committed record and the attempt's two");
    assert_eq!(db.query::<Counter>().count().await.unwrap(), 3);
}

/// A transaction that conflicts on every try gives up after its tries with a `Conflict`
/// error naming the model; the concurrent writes are kept, the transaction's are not.
pub async fn transactions_that_keep_conflicting_give_up<B: Transactions>(db: &Database<B>) {
    db.save(&mut counter("hot", 0)).await.unwrap();
    let runs = AtomicU32::new(0);
    let (runs_ref, outside) = (&runs, db);
    let err = db
        .transaction(move |tx| async move {
            let run = runs_ref.fetch_add(1, Ordering::Relaxed) as i64 + 1;
            let mut c = tx.get::<Counter>("hot").await?.expect("exists");
            // A write outside the transaction, between its read and its write.
            outside.save(&mut counter("hot", 1000 * run)).await?;
            c.n += 1;
            tx.save(&mut c).await?;
            Ok(())
        })
        .tries(3)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(err.model(), Some("Counter"), "{err}");
    assert!(err.to_string().contains("3 tries"), "{err}");
    assert_eq!(runs.load(Ordering::Relaxed), 3);
    assert_eq!(db.get::<Counter>("hot").await.unwrap().unwrap().n, 3000, "the outside writes are kept");

    // Other errors are not retried.
    let runs = AtomicU32::new(0);
    let runs = &runs;
    let err = db
        .transaction(move |tx| async move {
            runs.fetch_add(1, Ordering::Relaxed);
            tx.insert(&mut counter("hot", 1)).await
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DuplicateKey, "{err}");
    assert_eq!(runs.load(Ordering::Relaxed), 1);
}

/// A unique violation inside a transaction fails it whole.
pub async fn transaction_unique_violation_writes_nothing<B: Transactions>(db: &Database<B>) {
    let mut first = LogLine { id: None, counter: "c".into(), stamp: "taken".into() };
    db.save(&mut first).await.unwrap();
    let err = db
        .transaction(|tx| async move {
            tx.save(&mut counter("side", 1)).await?;
            tx.save(&mut LogLine { id: None, counter: "c".into(), stamp: "taken".into() }).await?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation, "{err}");
    assert_eq!(err.model(), Some("LogLine"), "{err}");
    assert_eq!(db.get::<Counter>("side").await.unwrap(), None);
    assert_eq!(db.query::<LogLine>().count().await.unwrap(), 1);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// A write that commits between an attempt's read and its commit makes the attempt conflict
/// and run again on the new value. The two transactions are interleaved step by step: the
/// first reads, the second reads, writes and commits, then the first writes and commits. A
/// backend that did not check an attempt's reads (or writes) at commit would lose the second
/// transaction's update.
pub async fn interleaved_attempts_never_lose_an_update<B: Transactions>(db: &Database<B>) {
    use tokio::sync::Notify;
    db.save(&mut counter("race", 0)).await.unwrap();
    let (has_read, other_done) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let attempts = Arc::new(AtomicU32::new(0));
    let first = {
        let (db, has_read, other_done, attempts) = (db.clone(), has_read.clone(), other_done.clone(), attempts.clone());
        tokio::spawn(async move {
            let (has_read, other_done, attempts) = (&has_read, &other_done, &attempts);
            db.transaction(move |tx| async move {
                let attempt = attempts.fetch_add(1, Ordering::SeqCst);
                let mut c = tx.get::<Counter>("race").await?.expect("the counter exists");
                if attempt == 0 {
                    has_read.notify_one();
                    other_done.notified().await;
                }
                c.n += 1;
                tx.save(&mut c).await?;
                Ok(())
            })
            .tries(20)
            .await
        })
    };
    has_read.notified().await;
    db.transaction(|tx| async move {
        let mut c = tx.get::<Counter>("race").await?.expect("the counter exists");
        c.n += 10;
        tx.save(&mut c).await
    })
    .await
    .expect("the second transaction commits");
    other_done.notify_one();
    first.await.expect("task").expect("the first transaction commits on a later attempt");
    assert_eq!(db.get::<Counter>("race").await.unwrap().unwrap().n, 11, "both updates are kept");
    assert!(attempts.load(Ordering::SeqCst) >= 2, "the first attempt conflicted and ran again");
}
