// Redis runs no regular expressions: a `regex` lookup runs through a declared pattern index.
use nonrel_redis::Redis;
use nonrel_runtime::{Database, Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index(regex = "^a.*z$"))]
    title: String,
    body: String,
}

async fn matching(db: &Database<Redis>) {
    let _ = db.query::<Post>().filter(Post::body().regex("^a.*z$")).all().await;
}

fn main() {}
