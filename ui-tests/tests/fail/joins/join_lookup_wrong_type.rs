use nonrel_runtime::{Database, Redb, Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    username: String,
    age: u8,
}

#[derive(Model)]
#[model(denormalize(author.age))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

async fn f(db: &Database<Redb>) {
    let _ = db.query::<Post>().filter(Post::author().join(User::age()).eq("thirty")).all().await;
    let _ = db.query::<Post>().filter(Post::author().join(User::age()).startswith("3")).all().await;
}

fn main() {}
