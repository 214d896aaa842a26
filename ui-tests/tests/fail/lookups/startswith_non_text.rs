use nonrel_runtime::{Key, Model, Query};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    published: bool,
    views: i64,
}

fn main() {
    let _ = Query::<Post>::new().filter(Post::published().startswith("t"));
    let _ = Query::<Post>::new().filter(Post::views().startswith("1"));
}
