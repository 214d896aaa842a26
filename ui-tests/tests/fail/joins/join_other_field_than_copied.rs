use nonrel_runtime::{Database, Redb, Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    username: String,
    age: u8,
}

#[derive(Model)]
#[model(denormalize(author.username))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

async fn posts_by_age(db: &Database<Redb>) {
    let _ = db.query::<Post>().filter(Post::author().join(User::age()).gt(30u8)).all().await;
}

fn main() {}
