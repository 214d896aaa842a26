use nonrel_runtime::{Key, Model, Query};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
    #[field(skip)]
    cached_html: String,
}

fn main() {
    let _ = Query::<Post>::new().filter(Post::cached_html().eq("<p>"));
}
