use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
    #[field(skip, index)]
    word_count: usize,
}

fn main() {}
