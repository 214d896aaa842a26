use nonrel_runtime::{Database, Redb, Key, Model};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
}

async fn author(db: &Database<Redb>, post: Key<Post>) -> nonrel_runtime::Result<Option<User>> {
    db.get::<User>(post).await
}

fn main() {
    let _ = author;
}
