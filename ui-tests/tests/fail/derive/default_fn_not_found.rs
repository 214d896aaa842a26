use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(default = "default_views")]
    views: u64,
}

fn main() {}
