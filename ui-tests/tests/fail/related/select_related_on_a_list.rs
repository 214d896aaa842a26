use nonrel_runtime::{Database, Key, Model, Ref};

#[derive(Model)]
struct Tag {
    #[field(key)]
    name: String,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    tags: Vec<Ref<Tag>>,
}

async fn f(db: Database<nonrel_runtime::Redb>) {
    let _ = db.query::<Post>().select_related(Post::tags()).rows().await;
}

fn main() {
    let _ = f;
}
