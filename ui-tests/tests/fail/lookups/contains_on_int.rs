use nonrel_runtime::{Key, Model, Query};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    views: i64,
}

fn main() {
    let _ = Query::<Post>::new().filter(Post::views().contains(1));
}
