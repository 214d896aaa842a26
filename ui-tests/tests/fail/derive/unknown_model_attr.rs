use nonrel_runtime::{Key, Model};

#[derive(Model)]
#[model(table = "posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
}

fn main() {}
