use nonrel_runtime::{Key, Model, Query};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    tags: Vec<String>,
}

fn main() {
    let _ = Query::<Post>::new().filter(Post::tags().contains(7));
}
