//! A transaction's future is `Send` (it can be spawned); pages and cascades compile as
//! documented.

use nonrel_runtime::{Database, Redb, Key, Model, Page, Ref, Result};

#[derive(Model, Debug)]
struct Counter {
    #[field(key)]
    name: String,
    n: i64,
}

#[derive(Model, Debug)]
struct Hit {
    #[field(key)]
    id: Option<Key<Hit>>,
    #[field(index, on_delete = cascade)]
    counter: Ref<Counter>,
    #[field(on_delete = cascade)]
    also: Option<Ref<Counter>>,
    #[field(on_delete = keep)]
    seen_by: Vec<Ref<Counter>>,
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

async fn bump(db: &Database<Redb>, name: &str) -> Result<i64> {
    let name = name.to_owned();
    let name = &name;
    assert_send(db.transaction(move |tx| async move {
        let mut c = tx.get::<Counter>(name.as_str()).await?.unwrap_or(Counter { name: name.clone(), n: 0 });
        c.n += 1;
        let key = tx.save(&mut c).await?;
        tx.insert(&mut Hit { id: None, counter: key.into(), also: None, seen_by: vec![] }).await?;
        Ok(c.n)
    }))
    .tries(5)
    .await
}

async fn pages(db: &Database<Redb>, after: Option<&str>) -> Result<Page<Hit>> {
    let page = db.query::<Hit>().order_by(Hit::counter().asc()).page(20);
    match after {
        Some(c) => page.after(c).await,
        None => page.await,
    }
}

fn main() {
    let db = Database::in_memory().unwrap();
    let _ = assert_send(bump(&db, "home"));
    let _ = assert_send(pages(&db, None));
}
