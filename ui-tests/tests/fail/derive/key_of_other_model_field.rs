//! A model's key field must hold keys of that model, not of another.
use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<User>>,
    title: String,
}

fn main() {}
