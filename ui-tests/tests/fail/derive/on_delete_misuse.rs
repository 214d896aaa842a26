use nonrel_runtime::{Embedded, Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    name: String,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(on_delete = remove)]
    author: Ref<User>,
    #[field(skip, on_delete = cascade)]
    editor: Option<Ref<User>>,
}

#[derive(Embedded)]
struct Quote {
    #[field(on_delete = cascade)]
    by: Ref<User>,
}

fn main() {}
