use nonrel_runtime::aggregate::{Avg, Sum};
use nonrel_runtime::{Database, Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
    views: i64,
}

async fn totals(db: &Database<nonrel_runtime::Redb>) {
    let _ = db.query::<Post>().sum(Post::title()).await;
    let _ = db.query::<Post>().avg(Post::title()).await;
    let _ = db.query::<Post>().aggregate((Sum(Post::views()), Avg(Post::title()))).await;
}

fn main() {
    let _ = totals;
}
