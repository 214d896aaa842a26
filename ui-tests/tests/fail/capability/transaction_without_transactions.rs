//! A backend without the `Transactions` capability has no `transaction`.

use nonrel_runtime::backend::{PutItem, Row, UpdateCounts, UpdateOp, WriteMode};
use nonrel_runtime::capability::No;
use nonrel_runtime::query::Plan;
use nonrel_runtime::{Backend, Database, KeyKind, KeyValue, Model, ModelDesc, Result};

/// A store that can only write and read records one by one.
struct Plain;

impl Backend for Plain {
    const NAME: &'static str = "plain";
    type Joins = No;
    type CaseInsensitive = No;
    type Regex = No;
    type DateParts = No;
    type FullText = No;
    const AUTO_KEY: KeyKind = KeyKind::Int;
    async fn put(&self, _: &'static ModelDesc, _: Vec<PutItem>, _: WriteMode) -> Result<Vec<KeyValue>> {
        Ok(Vec::new())
    }
    async fn get_many(&self, _: &'static ModelDesc, k: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        Ok(vec![None; k.len()])
    }
    async fn delete(&self, _: &'static ModelDesc, _: Vec<KeyValue>) -> Result<u64> {
        Ok(0)
    }
    async fn query(&self, _: &'static ModelDesc, _: Plan) -> Result<Vec<Row>> {
        Ok(Vec::new())
    }
    async fn count(&self, _: &'static ModelDesc, _: Plan, _: Option<u64>) -> Result<u64> {
        Ok(0)
    }
    async fn update(&self, _: &'static ModelDesc, _: Plan, _: Vec<UpdateOp>) -> Result<UpdateCounts> {
        Ok(UpdateCounts::default())
    }
    async fn sync_indexes(&self, _: Vec<&'static ModelDesc>) -> Result<u64> {
        Ok(0)
    }
}

#[derive(Model)]
struct Counter {
    #[field(key)]
    name: String,
    n: i64,
}

async fn bump(db: Database<Plain>) -> Result<()> {
    db.transaction(|tx| async move {
        let mut c = tx.get::<Counter>("hits").await?.unwrap();
        c.n += 1;
        tx.save(&mut c).await?;
        Ok(())
    })
    .await
}

fn main() {
    let _ = bump(Database::new(Plain));
}
