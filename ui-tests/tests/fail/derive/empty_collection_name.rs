//! A collection name that is empty, has '$' or starts with "system." is rejected.
use nonrel_runtime::{Key, Model};

#[derive(Model)]
#[model(collection = "")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
}

#[derive(Model)]
#[model(collection = "system.$posts")]
struct Draft {
    #[field(key)]
    id: Option<Key<Draft>>,
    title: String,
}

fn main() {}
