//! Denormalized copies and MongoDB transactions (F9, F15): a transaction that writes a
//! record whose fields are copied notes the fan-out in the outbox inside the transaction, so
//! a crash right after the commit leaves a note the next handle finishes; and a holder saved
//! in a transaction while its related record is renamed never keeps the older copy.
//!
//! The crash is made deterministic by a backend that wraps MongoDB and fails every call
//! after a commit, as a process killed there would stop: the fan-out after the commit never
//! runs.

mod support;

use nonrel_runtime::backend::{PutItem, SwapItem, Swapped, UpdateOp, WriteMode};
use nonrel_runtime::capability::Transactions;
use nonrel_runtime::query::Plan;
use nonrel_runtime::{
    Backend, Database, Error, ErrorKind, IntegrityReport, Key, KeyKind, KeyValue, Model, ModelDesc, Mongo, Ref, Result,
    Row, UpdateCounts,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "txc_authors")]
struct Author {
    #[field(key)]
    id: i64,
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "txc_posts", denormalize(author.name))]
struct Post {
    #[field(key)]
    id: i64,
    title: String,
    author: Ref<Author>,
}

/// MongoDB, dead (every call fails) from the first commit after `armed` is set.
#[derive(Clone)]
struct Dying {
    inner: Mongo,
    armed: Arc<AtomicBool>,
    dead: Arc<AtomicBool>,
}

impl Dying {
    fn alive(&self) -> Result<()> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Storage, "the process died after the commit"));
        }
        Ok(())
    }
}

impl Backend for Dying {
    const NAME: &'static str = "dying MongoDB";
    const OUTBOX_IN_WRITE: bool = Mongo::OUTBOX_IN_WRITE;

    type Joins = <Mongo as Backend>::Joins;
    type CaseInsensitive = <Mongo as Backend>::CaseInsensitive;
    type Regex = <Mongo as Backend>::Regex;
    type DateParts = <Mongo as Backend>::DateParts;
    type FullText = <Mongo as Backend>::FullText;
    const AUTO_KEY: KeyKind = Mongo::AUTO_KEY;
    const MAX_IN_VALUES: usize = Mongo::MAX_IN_VALUES;

    async fn put(&self, model: &'static ModelDesc, items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        self.alive()?;
        self.inner.put(model, items, mode).await
    }

    async fn get(&self, model: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        self.alive()?;
        self.inner.get(model, key).await
    }

    async fn get_many(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        self.alive()?;
        self.inner.get_many(model, keys).await
    }

    async fn swap(&self, model: &'static ModelDesc, items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
        self.alive()?;
        self.inner.swap(model, items).await
    }

    async fn delete(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        self.alive()?;
        self.inner.delete(model, keys).await
    }

    async fn query(&self, model: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        self.alive()?;
        self.inner.query(model, plan).await
    }

    async fn count(&self, model: &'static ModelDesc, plan: Plan, upto: Option<u64>) -> Result<u64> {
        self.alive()?;
        self.inner.count(model, plan, upto).await
    }

    async fn update(&self, model: &'static ModelDesc, plan: Plan, ops: Vec<UpdateOp>) -> Result<UpdateCounts> {
        self.alive()?;
        self.inner.update(model, plan, ops).await
    }

    async fn sync_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        self.inner.sync_indexes(models).await
    }

    async fn integrity_check(&self, models: Vec<&'static ModelDesc>) -> Result<IntegrityReport> {
        self.inner.integrity_check(models).await
    }

    async fn rebuild_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        self.inner.rebuild_indexes(models).await
    }
}

impl Transactions for Dying {
    type Session = <Mongo as Transactions>::Session;

    async fn begin(&self) -> Result<Self::Session> {
        self.alive()?;
        self.inner.begin().await
    }

    async fn tx_get(&self, s: &mut Self::Session, m: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        self.inner.tx_get(s, m, key).await
    }

    async fn tx_put(
        &self,
        s: &mut Self::Session,
        m: &'static ModelDesc,
        item: PutItem,
        mode: WriteMode,
    ) -> Result<KeyValue> {
        self.inner.tx_put(s, m, item, mode).await
    }

    async fn tx_delete(&self, s: &mut Self::Session, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        self.inner.tx_delete(s, m, keys).await
    }

    async fn tx_query(&self, s: &mut Self::Session, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        self.inner.tx_query(s, m, plan).await
    }

    async fn commit(&self, s: Self::Session) -> Result<()> {
        self.inner.commit(s).await?;
        if self.armed.load(Ordering::SeqCst) {
            self.dead.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    async fn abort(&self, s: Self::Session) {
        self.inner.abort(s).await
    }
}

fn author(id: i64, name: &str) -> Author {
    Author { id, name: name.into() }
}

fn post(id: i64, title: &str, author: i64) -> Post {
    Post { id, title: title.into(), author: Ref::new(Key::from_value(KeyValue::Int(author))) }
}

/// Authors 1 and 2 and a post of each.
async fn setup() -> Database<Mongo> {
    let db = support::fresh_mongo().await;
    db.save_many(&mut [author(1, "ann"), author(2, "bob")]).await.unwrap();
    db.save_many(&mut [post(1, "first", 1), post(2, "second", 2)]).await.unwrap();
    db
}

/// A new handle finishes what is pending; then no copy is stale and the copies hold `names`.
async fn assert_current(db: &Database<Mongo>, names: &[&str]) {
    let fresh = Database::new(db.backend().clone());
    fresh.finish_pending_copies().await.unwrap();
    let report = fresh.integrity_check().await.unwrap();
    assert!(report.is_ok(), "a stale copy is left: {report:?}");
    for name in names {
        let found = fresh.query::<Post>().filter(Post::author().join(Author::name()).eq(*name)).count().await;
        assert_eq!(found.unwrap(), 1, "one post's copy holds {name:?}");
    }
}

#[tokio::test]
async fn a_crash_after_a_transaction_renames_leaves_its_fan_out_in_the_outbox() {
    let db = setup().await;
    let dying = Dying { inner: db.backend().clone(), armed: Arc::default(), dead: Arc::default() };
    let dying = Database::new(dying);
    dying.backend().armed.store(true, Ordering::SeqCst);
    let err = dying
        .transaction(|tx| async move {
            tx.save(&mut author(1, "ann renamed")).await?;
            tx.save(&mut author(2, "bob renamed")).await?;
            Ok(())
        })
        .tries(1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("died after the commit"), "{err}");
    assert_eq!(db.get::<Author>(1).await.unwrap().unwrap().name, "ann renamed", "the transaction committed");
    assert_current(&db, &["ann renamed", "bob renamed"]).await;
}

#[tokio::test]
async fn a_transaction_without_a_crash_leaves_the_outbox_empty() {
    let db = setup().await;
    db.transaction(|tx| async move { tx.save(&mut author(1, "ann renamed")).await.map(drop) }).await.unwrap();
    assert_eq!(db.finish_pending_copies().await.unwrap(), 0, "the fan-out removed its note");
    assert_current(&db, &["ann renamed", "bob"]).await;
}

#[tokio::test]
async fn a_holder_saved_in_a_transaction_while_its_record_is_renamed_keeps_no_older_copy() {
    let db = setup().await;
    let outside = db.clone();
    db.transaction(move |tx| {
        let outside = outside.clone();
        async move {
            tx.save(&mut post(3, "third", 1)).await?;
            // Committed, and fanned out, while the transaction holding the old copy is open.
            outside.save(&mut author(1, "ann renamed")).await?;
            Ok(())
        }
    })
    .tries(1)
    .await
    .unwrap();
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "a stale copy is left: {report:?}");
    let found = db.query::<Post>().filter(Post::author().join(Author::name()).eq("ann renamed")).count().await;
    assert_eq!(found.unwrap(), 2);
}
