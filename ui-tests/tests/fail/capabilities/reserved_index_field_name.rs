use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(rename = "_ix_title_lower")]
    title: String,
}

fn main() {}
