//! The Elasticsearch backend has no joins: a lookup across a `Ref` needs a declared copy or an
//! in-memory join.

use nonrel_elasticsearch::Elastic;
use nonrel_runtime::{Database, Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    username: String,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

async fn posts_by_ann(db: &Database<Elastic>) {
    let _ = db.query::<Post>().filter(Post::author().join(User::username()).eq("ann")).all().await;
}

fn main() {}
