use nonrel_runtime::{Blob, Key, Model, Query};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    tags: Vec<String>,
    published: bool,
    thumbnail: Blob,
}

fn main() {
    let _ = Query::<Post>::new().filter(Post::tags().gt(vec![String::from("a")]));
    let _ = Query::<Post>::new().filter(Post::published().gt(false));
    let _ = Query::<Post>::new().filter(Post::thumbnail().gte(Blob(vec![0])));
}
