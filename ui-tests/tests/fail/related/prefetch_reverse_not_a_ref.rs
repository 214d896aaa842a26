use nonrel_runtime::{Database, Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    name: String,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
    author: Ref<User>,
}

async fn f(db: Database<nonrel_runtime::Redb>) {
    let _ = db.query::<User>().prefetch_reverse(Post::title()).rows().await;
}

fn main() {
    let _ = f;
}
