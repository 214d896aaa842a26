use nonrel_runtime::{Key, Model, Query};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
}

fn main() {
    let _ = Query::<Post>::new().filter(Post::title().is_in([1, 2, 3]));
}
