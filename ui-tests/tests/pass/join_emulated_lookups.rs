//! Emulated lookups across a `Ref` on the embedded backend: the related field declares them.

use nonrel_runtime::{Database, DateTime, Redb, Key, Model, Ref, Utc};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    #[field(index(iexact, icontains, regex = "^a"))]
    username: String,
    #[field(index(year))]
    joined: DateTime<Utc>,
}

#[derive(Model)]
#[model(join_in_memory(author))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

async fn embedded(db: &Database<Redb>) {
    let by = || Post::author().join(User::username());
    let _ = db.query::<Post>().filter(by().iexact("ANN")).filter(by().icontains("n")).all().await;
    let _ = db.query::<Post>().filter(by().regex("^a")).count().await;
    let _ = db.query::<Post>().filter(Post::author().join(User::joined()).year(2024)).page(10).await;
}

fn main() {
    let _ = embedded;
}
