// The join across the `Ref` is declared, but `username` does not declare `iexact`:
// Datastore has no case-insensitive matching, so the query does not compile.
use nonrel_datastore::Datastore;
use nonrel_runtime::{Database, Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    username: String,
}

#[derive(Model)]
#[model(join_in_memory(author))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

async fn posts_by_ann(db: &Database<Datastore>) {
    let _ = db.query::<Post>().filter(Post::author().join(User::username()).iexact("ANN")).all().await;
}

fn main() {}
