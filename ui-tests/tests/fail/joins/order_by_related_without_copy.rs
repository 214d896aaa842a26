use nonrel_runtime::{Database, Redb, Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    username: String,
    age: u8,
}

#[derive(Model)]
#[model(join_in_memory(author))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

async fn posts_by_author(db: &Database<Redb>) {
    let _ = db.query::<Post>().order_by(Post::author().join(User::username()).asc()).all().await;
}

fn main() {}
