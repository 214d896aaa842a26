use nonrel_runtime::{Database, Redb, Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    username: String,
    age: u8,
}

#[derive(Model)]
struct Tag {
    #[field(key)]
    id: Option<Key<Tag>>,
    name: String,
}

#[derive(Model)]
#[model(join_in_memory(author))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

async fn f(db: &Database<Redb>) {
    let _ = db.query::<Post>().filter(Post::author().join(Tag::name()).eq("rust")).all().await;
}

fn main() {}
