use nonrel_runtime::{Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    username: String,
    age: u8,
}

#[derive(Model)]
#[model(denormalize(author))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

#[derive(Model)]
#[model(denormalize(author.username.first))]
struct Note {
    #[field(key)]
    id: Option<Key<Note>>,
    author: Ref<User>,
}

fn main() {}
