//! A holder's denormalized copies on the embedded backend come from the related records as
//! the holder's own write transaction sees them (F15), so a rename that commits while a
//! holder is being saved, with the process dying right after the holder's write, leaves no
//! stale copy: there is no moment between the read of the related record and the write.
//!
//! The race is made deterministic by a backend that wraps the embedded one: just before the
//! holder's write it commits a rename (with its full fan-out) through another handle, and
//! just after the write it fails, as a process killed there would stop, so nothing the
//! runtime does after the write runs. A transaction gets the same rename between its save
//! and its commit.

use nonrel_runtime::backend::{PutItem, SwapItem, Swapped, WriteMode};
use nonrel_runtime::query::Plan;
use nonrel_runtime::{
    Backend, Database, Error, ErrorKind, IntegrityReport, Key, KeyKind, KeyValue, Model, ModelDesc, Redb, Ref, Result,
    Row, UpdateCounts,
};
use std::sync::{Arc, Mutex};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "race_authors")]
struct Author {
    #[field(key)]
    id: i64,
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "race_posts", denormalize(author.name))]
struct Post {
    #[field(key)]
    id: i64,
    /// The key again: queries cannot filter on the key, so updates of one record filter on this.
    one: i64,
    title: String,
    author: Ref<Author>,
}

/// The embedded backend, with a rename committed just before the next write of a post and a
/// failure just after it.
#[derive(Clone)]
struct Racing {
    inner: Redb,
    rename: Arc<Mutex<Option<Author>>>,
}

impl Racing {
    /// Commits the pending rename, if any, through a handle of its own (fan-out included).
    async fn race(&self, model: &ModelDesc) -> Result<bool> {
        if model.name != Post::DESC.name {
            return Ok(false);
        }
        let rename = self.rename.lock().unwrap().take();
        let Some(mut author) = rename else { return Ok(false) };
        Database::new(self.inner.clone()).save(&mut author).await?;
        Ok(true)
    }
}

fn killed() -> Error {
    Error::new(ErrorKind::Storage, "the process died after the write")
}

impl Backend for Racing {
    const NAME: &'static str = "racing embedded";
    const OUTBOX_IN_WRITE: bool = Redb::OUTBOX_IN_WRITE;

    type Joins = <Redb as Backend>::Joins;
    type CaseInsensitive = <Redb as Backend>::CaseInsensitive;
    type Regex = <Redb as Backend>::Regex;
    type DateParts = <Redb as Backend>::DateParts;
    type FullText = <Redb as Backend>::FullText;
    const AUTO_KEY: KeyKind = Redb::AUTO_KEY;
    const MAX_IN_VALUES: usize = Redb::MAX_IN_VALUES;

    async fn put(&self, model: &'static ModelDesc, items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        let raced = self.race(model).await?;
        let keys = self.inner.put(model, items, mode).await?;
        if raced {
            return Err(killed());
        }
        Ok(keys)
    }

    async fn get(&self, model: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        self.inner.get(model, key).await
    }

    async fn get_many(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        self.inner.get_many(model, keys).await
    }

    async fn swap(&self, model: &'static ModelDesc, items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
        self.inner.swap(model, items).await
    }

    async fn delete(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        self.inner.delete(model, keys).await
    }

    async fn query(&self, model: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        self.inner.query(model, plan).await
    }

    async fn count(&self, model: &'static ModelDesc, plan: Plan, upto: Option<u64>) -> Result<u64> {
        self.inner.count(model, plan, upto).await
    }

    async fn update(
        &self,
        model: &'static ModelDesc,
        plan: Plan,
        ops: Vec<nonrel_runtime::backend::UpdateOp>,
    ) -> Result<UpdateCounts> {
        let raced = self.race(model).await?;
        let counts = self.inner.update(model, plan, ops).await?;
        if raced {
            return Err(killed());
        }
        Ok(counts)
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

fn author(id: i64, name: &str) -> Author {
    Author { id, name: name.into() }
}

fn post(id: i64, title: &str, author: i64) -> Post {
    Post { id, one: id, title: title.into(), author: Ref::new(Key::from_value(KeyValue::Int(author))) }
}

/// Two authors and a post of the first, then a racing handle that renames `renamed`.
async fn setup(renamed: Author) -> (Database<Redb>, Database<Racing>) {
    let embedded = Redb::in_memory().unwrap();
    let db = Database::new(embedded.clone());
    db.save_many(&mut [author(1, "ann"), author(2, "bob")]).await.unwrap();
    db.save(&mut post(1, "first", 1)).await.unwrap();
    let racing = Database::new(Racing { inner: embedded, rename: Arc::new(Mutex::new(Some(renamed))) });
    (db, racing)
}

/// What a new handle finds after the "crash": pending fan-out finished, then no stale copy,
/// and the copy of post 1 holds `name`.
async fn assert_current(db: &Database<Redb>, name: &str) {
    let fresh = Database::new(db.backend().clone());
    fresh.finish_pending_copies().await.unwrap();
    let report = fresh.integrity_check().await.unwrap();
    assert!(report.is_ok(), "a stale copy is left after the crash: {report:?}");
    let found = fresh.query::<Post>().filter(Post::author().join(Author::name()).eq(name)).count().await.unwrap();
    assert_eq!(found, 1, "the copy holds {name:?}");
}

#[tokio::test]
async fn a_rename_racing_a_save_leaves_no_stale_copy() {
    let (db, racing) = setup(author(1, "ann renamed")).await;
    let err = racing.save(&mut post(1, "edited", 1)).await.unwrap_err();
    assert_eq!(err.to_string(), killed().to_string());
    assert_eq!(db.get::<Post>(1).await.unwrap().unwrap().title, "edited", "the post's write committed");
    assert_current(&db, "ann renamed").await;
}

#[tokio::test]
async fn a_rename_racing_a_batch_leaves_no_stale_copy() {
    let (db, racing) = setup(author(2, "bob renamed")).await;
    racing.save_many(&mut [post(1, "moved", 2), post(2, "second", 2)]).await.unwrap_err();
    let fresh = Database::new(db.backend().clone());
    fresh.finish_pending_copies().await.unwrap();
    let report = fresh.integrity_check().await.unwrap();
    assert!(report.is_ok(), "a stale copy is left after the crash: {report:?}");
    let found = fresh.query::<Post>().filter(Post::author().join(Author::name()).eq("bob renamed")).count().await;
    assert_eq!(found.unwrap(), 2);
}

#[tokio::test]
async fn a_rename_racing_an_update_of_the_reference_leaves_no_stale_copy() {
    let (db, racing) = setup(author(2, "bob renamed")).await;
    let update = racing
        .query::<Post>()
        .filter(Post::one().eq(1))
        .update()
        .set(Post::author(), Key::<Author>::from_value(KeyValue::Int(2)));
    update.await.unwrap_err();
    assert_current(&db, "bob renamed").await;
}

#[tokio::test]
async fn a_rename_between_a_transaction_save_and_its_commit_leaves_no_stale_copy() {
    let (db, _) = setup(author(1, "unused")).await;
    let outside = db.clone();
    db.transaction(move |tx| {
        let outside = outside.clone();
        async move {
            tx.save(&mut post(1, "in a transaction", 1)).await?;
            // Committed (and fanned out) while the transaction holding the old copy is open.
            outside.save(&mut author(1, "ann renamed")).await?;
            Ok(())
        }
    })
    .tries(1)
    .await
    .unwrap();
    assert_eq!(db.get::<Post>(1).await.unwrap().unwrap().title, "in a transaction");
    assert_current(&db, "ann renamed").await;
}
