use nonrel_runtime::{Database, Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    name: String,
}

#[derive(Model)]
struct Tag {
    #[field(key)]
    name: String,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

// Posts refer to users, not to tags.
async fn f(db: Database<nonrel_runtime::Redb>) {
    let _ = db.query::<Tag>().prefetch_reverse(Post::author()).rows().await;
}

fn main() {
    let _ = f;
}
