//! The Elasticsearch backend has no transactions: `db.transaction` does not compile on it.

use nonrel_elasticsearch::Elastic;
use nonrel_runtime::{Database, Model, Result};

#[derive(Model)]
struct Counter {
    #[field(key)]
    name: String,
    n: i64,
}

async fn bump(db: Database<Elastic>) -> Result<()> {
    db.transaction(|tx| async move {
        let mut c = tx.get::<Counter>("hits").await?.unwrap();
        c.n += 1;
        tx.save(&mut c).await?;
        Ok(())
    })
    .await
}

fn main() {}
