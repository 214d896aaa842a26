use nonrel_runtime::{Database, Redb, Key, Model};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    name: String,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
}

async fn newest(db: &Database<Redb>) -> nonrel_runtime::Result<Vec<Post>> {
    db.query::<Post>().order_by(User::name().asc()).await
}

fn main() {
    let _ = newest;
}
