use nonrel_runtime::{Key, Model, Query};

/// One typo in the model's attributes...
#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(uniqe)]
    slug: String,
    title: String,
}

/// ...should be the only error: the descriptors used here still exist.
fn by_title() -> Query<Post> {
    Query::<Post>::new().filter(Post::title().eq("Hello")).filter(Post::slug().startswith("h"))
}

fn main() {
    let _ = by_title;
}
