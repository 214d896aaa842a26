use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(on_delete = cascade)]
    author: String,
    #[field(on_delete = cascade)]
    reviewer: Key<Post>,
}

fn main() {}
