use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(indexed)]
    title: String,
}

fn main() {}
