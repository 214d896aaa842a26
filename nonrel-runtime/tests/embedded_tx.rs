//! Transactions and pages on the embedded backend: the paths only it has.

use nonrel_runtime::{Database, ErrorKind, Key, Model, Query, Transaction};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "notes")]
struct Note {
    #[field(key)]
    id: Option<Key<Note>>,
    #[field(index)]
    rank: i64,
    text: String,
}

fn note(rank: i64, text: &str) -> Note {
    Note { id: None, rank, text: text.into() }
}

#[tokio::test]
async fn an_automatic_key_taken_outside_the_transaction_is_a_conflict_then_a_fresh_key() {
    let db = Database::in_memory().unwrap();
    let runs = AtomicU32::new(0);
    let (runs, outside) = (&runs, &db);
    let key = db
        .transaction(move |tx| async move {
            let run = runs.fetch_add(1, Ordering::Relaxed) + 1;
            let key = tx.save(&mut note(1, &format!("attempt {run}"))).await?;
            if run == 1 {
                // A save outside the transaction is handed the same automatic key first.
                let taken = outside.save(&mut note(2, "outside")).await?;
                assert_eq!(taken, key);
            }
            Ok(key)
        })
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::Relaxed), 2, "the first attempt conflicted");
    assert_eq!(db.get(&key).await.unwrap().unwrap().text, "attempt 2");
    let texts: Vec<String> = db.query::<Note>().all().await.unwrap().into_iter().map(|n| n.text).collect();
    assert_eq!(texts, ["outside", "attempt 2"], "nothing overwritten");
}

#[tokio::test]
async fn queries_in_a_transaction_see_its_writes_with_order_offset_and_limit() {
    let db = Database::in_memory().unwrap();
    let mut notes: Vec<Note> = (1..=10).map(|r| note(r * 10, &format!("n{r}"))).collect();
    db.save_many(&mut notes).await.unwrap();
    let third = notes[2].id.clone().unwrap();
    let fourth = notes[3].id.clone().unwrap();
    let third = &third;
    let fourth = &fourth;
    let texts = db
        .transaction(move |tx| async move {
            tx.save(&mut note(5, "new")).await?; // sorts first
            tx.delete(third).await?; // rank 30 goes
            let mut moved = tx.get(fourth).await?.unwrap();
            moved.rank = 1000; // sorts last
            tx.save(&mut moved).await?;
            let q = Query::<Note>::new().order_by(Note::rank().asc()).offset(1).limit(4);
            Ok(tx.query(q).await?.into_iter().map(|n| n.text).collect::<Vec<_>>())
        })
        .await
        .unwrap();
    assert_eq!(texts, ["n1", "n2", "n5", "n6"]);
    let after: Vec<String> = db
        .query::<Note>()
        .order_by(Note::rank().asc())
        .offset(1)
        .limit(4)
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.text)
        .collect();
    assert_eq!(after, texts, "the committed state is what the transaction saw");
    assert!(db.integrity_check().await.unwrap().is_ok());
}

#[tokio::test]
async fn a_handle_kept_past_its_transaction_is_an_error_not_a_write() {
    let db = Database::in_memory().unwrap();
    let kept: Mutex<Option<Transaction<nonrel_runtime::Redb>>> = Mutex::new(None);
    let kept_ref = &kept;
    db.transaction(move |tx| async move {
        *kept_ref.lock().unwrap() = Some(tx.clone());
        Ok(())
    })
    .await
    .unwrap();
    let tx = kept.lock().unwrap().take().unwrap();
    let err = tx.save(&mut note(1, "late")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("already ended"), "{err}");
    assert_eq!(db.query::<Note>().count().await.unwrap(), 0);
}

#[tokio::test]
async fn pages_keep_their_ordering_fields_under_only_and_defer() {
    let db = Database::in_memory().unwrap();
    let mut notes: Vec<Note> = (1..=9).map(|r| note(r % 3, &format!("n{r}"))).collect();
    db.save_many(&mut notes).await.unwrap();
    let all: Vec<Option<Key<Note>>> =
        db.query::<Note>().order_by(Note::rank().desc()).all().await.unwrap().into_iter().map(|n| n.id).collect();
    let q = || db.query::<Note>().order_by(Note::rank().desc()).only(Note::text());
    let first = q().page(4).await.unwrap();
    let second = q().page(4).after(first.next.unwrap()).await.unwrap();
    let keys: Vec<_> = first.items.iter().chain(&second.items).map(|n| n.id.clone()).collect();
    assert_eq!(keys, all[..8]);
    let deferred = db.query::<Note>().order_by(Note::rank().desc()).defer(Note::rank()).page(4).await.unwrap();
    assert!(deferred.next.is_some());
}

#[tokio::test]
async fn an_automatic_key_skips_the_keys_the_transaction_wrote() {
    let db = Database::in_memory().unwrap();
    let keys = db
        .transaction(|tx| async move {
            let mut given = note(1, "given");
            given.id = Some(Key::from_value(nonrel_runtime::KeyValue::Int(1)));
            let a = tx.save(&mut given).await?;
            let b = tx.save(&mut note(2, "automatic")).await?;
            Ok((a, b))
        })
        .await
        .unwrap();
    assert_ne!(keys.0, keys.1, "{keys:?}");
    let texts: Vec<String> = db.query::<Note>().all().await.unwrap().into_iter().map(|n| n.text).collect();
    assert_eq!(texts, ["given", "automatic"]);
}
