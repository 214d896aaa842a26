use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index(icontanis, iexact, iexact))]
    title: String,
    #[field(index())]
    body: String,
    #[field(index = "x")]
    slug: String,
}

fn main() {}
