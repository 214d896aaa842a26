use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index(regex = "^(a|b$", regex = 3))]
    title: String,
}

fn main() {}
