// Redis has no case-insensitive matching: `icontains` runs through a declared index field.
use nonrel_redis::Redis;
use nonrel_runtime::{Database, Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index(iexact))]
    title: String,
    body: String,
}

async fn posts_about_rust(db: &Database<Redis>) {
    let _ = db.query::<Post>().filter(Post::body().icontains("rust")).all().await;
}

fn main() {}
