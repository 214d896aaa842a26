//! Cascades never delete a dependent that was moved to another record between the
//! cascade's read and its delete, nor that dependent's own dependents (F16).
//!
//! The race is made deterministic by a backend that wraps the embedded one: just before the
//! cascade's first delete it moves a dependent to another parent through another handle.

use nonrel_runtime::backend::{PutItem, SwapItem, Swapped, WriteMode};
use nonrel_runtime::query::Plan;
use nonrel_runtime::{
    Backend, Database, IntegrityReport, Key, KeyKind, KeyValue, Model, ModelDesc, Redb, Ref, Result, Row, UpdateCounts,
};
use std::sync::{Arc, Mutex};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "race_folders")]
struct Folder {
    #[field(key)]
    id: i64,
    #[field(index, on_delete = cascade)]
    parent: Option<Ref<Folder>>,
}

/// The embedded backend, moving a folder just before the next delete of any folder.
#[derive(Clone)]
struct Moving {
    inner: Redb,
    moved: Arc<Mutex<Option<Folder>>>,
}

impl Moving {
    /// Saves the pending move, if any, through a handle of its own.
    async fn race(&self) -> Result<()> {
        let moved = self.moved.lock().unwrap().take();
        if let Some(mut folder) = moved {
            Database::new(self.inner.clone()).save(&mut folder).await?;
        }
        Ok(())
    }
}

impl Backend for Moving {
    const NAME: &'static str = "moving embedded";
    const OUTBOX_IN_WRITE: bool = Redb::OUTBOX_IN_WRITE;

    type Joins = <Redb as Backend>::Joins;
    type CaseInsensitive = <Redb as Backend>::CaseInsensitive;
    type Regex = <Redb as Backend>::Regex;
    type DateParts = <Redb as Backend>::DateParts;
    type FullText = <Redb as Backend>::FullText;
    const AUTO_KEY: KeyKind = Redb::AUTO_KEY;
    const MAX_IN_VALUES: usize = Redb::MAX_IN_VALUES;

    async fn put(&self, model: &'static ModelDesc, items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        self.inner.put(model, items, mode).await
    }

    async fn get(&self, model: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        self.inner.get(model, key).await
    }

    async fn get_many(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        self.inner.get_many(model, keys).await
    }

    async fn swap(&self, model: &'static ModelDesc, items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
        self.race().await?;
        self.inner.swap(model, items).await
    }

    async fn delete(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        self.race().await?;
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

fn folder(id: i64, parent: Option<i64>) -> Folder {
    Folder { id, parent: parent.map(|p| Ref::new(Key::from_value(KeyValue::Int(p)))) }
}

/// Folders saved, and a racing handle that saves `moved` just before the first delete.
async fn setup(folders: &mut [Folder], moved: Folder) -> (Database<Redb>, Database<Moving>) {
    let embedded = Redb::in_memory().unwrap();
    let db = Database::new(embedded.clone());
    db.save_many(folders).await.unwrap();
    let racing = Database::new(Moving { inner: embedded, moved: Arc::new(Mutex::new(Some(moved))) });
    (db, racing)
}

async fn remaining(db: &Database<Redb>) -> Vec<Folder> {
    let mut all = db.query::<Folder>().all().await.unwrap();
    all.sort_by_key(|f| f.id);
    all
}

#[tokio::test]
async fn a_dependent_moved_between_the_read_and_the_delete_survives() {
    // 1 <- 2, 1 <- 3; 10 is another root. 3 moves to 10 once the cascade has read it.
    let mut folders = [folder(1, None), folder(2, Some(1)), folder(3, Some(1)), folder(10, None)];
    let (db, racing) = setup(&mut folders, folder(3, Some(10))).await;
    assert!(racing.delete::<Folder>(1).await.unwrap());
    assert_eq!(remaining(&db).await, [folder(3, Some(10)), folder(10, None)]);
}

#[tokio::test]
async fn the_dependents_of_a_moved_dependent_survive_with_it() {
    // 1 <- 2 <- 4 <- 5, 1 <- 3; 2 moves to 10 once the cascade has read it: 2, 4 and 5 stay.
    let mut folders = [
        folder(1, None),
        folder(2, Some(1)),
        folder(3, Some(1)),
        folder(4, Some(2)),
        folder(5, Some(4)),
        folder(10, None),
    ];
    let (db, racing) = setup(&mut folders, folder(2, Some(10))).await;
    assert!(racing.delete::<Folder>(1).await.unwrap());
    let left = remaining(&db).await;
    assert_eq!(left, [folder(2, Some(10)), folder(4, Some(2)), folder(5, Some(4)), folder(10, None)]);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

#[tokio::test]
async fn a_dependent_moved_to_another_record_being_deleted_goes_with_it() {
    // 1 <- 2, 1 <- 3; 3 moves under 2 once the cascade has read it: it still depends on a
    // record being deleted, so it goes too.
    let mut folders = [folder(1, None), folder(2, Some(1)), folder(3, Some(1)), folder(10, None)];
    let (db, racing) = setup(&mut folders, folder(3, Some(2))).await;
    assert!(racing.delete::<Folder>(1).await.unwrap());
    assert_eq!(remaining(&db).await, [folder(10, None)]);
    assert!(db.integrity_check().await.unwrap().is_ok());
}
