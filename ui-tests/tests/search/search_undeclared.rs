use nonrel_runtime::{Database, Key, Model};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index(search))]
    title: String,
    body: String,
}

fn main() {
    let db = Database::in_memory().unwrap();
    // `title` declares its words index: searchable on the embedded backend.
    let _ = db.query::<Post>().filter(Post::title().search("rust ownership"));
    // `body` declares nothing: the embedded backend has no native full-text search.
    let _ = db.query::<Post>().filter(Post::body().search("rust"));
}
