use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Key<Post>,
    title: String,
}

fn main() {}
