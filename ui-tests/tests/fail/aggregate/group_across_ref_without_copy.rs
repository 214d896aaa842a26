use nonrel_runtime::{Database, Key, Model, Redb, Ref};

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
    author: Ref<User>,
}

async fn per_author_name(db: &Database<Redb>) {
    // No `#[model(denormalize(author.name))]`: nothing to group by.
    let _ = db.query::<Post>().group_by(Post::author().join(User::name())).count().await;
}

fn main() {
    let _ = per_author_name;
}
