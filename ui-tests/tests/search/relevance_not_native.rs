use nonrel_runtime::{Database, Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index(search))]
    title: String,
}

fn main() {
    let db = Database::in_memory().unwrap();
    // The declared index matches words but does not rank them.
    let _ = db.query::<Post>().filter(Post::title().search("rust")).order_by(Post::title().relevance());
}
