use nonrel_runtime::{Database, Redb, Key, Model, Ref};

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

// The join is declared, but `username` does not declare `iexact`: the embedded backend
// would have to scan the users, so the query does not compile.
async fn posts_by_ann(db: &Database<Redb>) {
    let _ = db.query::<Post>().filter(Post::author().join(User::username()).iexact("ANN")).all().await;
}

fn main() {}
