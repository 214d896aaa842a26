use nonrel_runtime::{Key, Model, Query};

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
    title: String,
}

fn main() {
    let _ = Query::<Post>::new().filter(User::name().eq("x"));
}
