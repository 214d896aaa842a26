use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
    #[field(rename = "title")]
    headline: String,
}

fn main() {}
