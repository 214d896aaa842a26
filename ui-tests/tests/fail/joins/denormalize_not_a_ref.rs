use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    username: String,
    age: u8,
}

#[derive(Model)]
#[model(denormalize(title.len), join_in_memory(title))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
}

fn main() {}
