use nonrel_runtime::{Database, DateTime, Key, Model, Utc};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index(iexact))]
    title: String,
    body: String,
    #[field(index(year))]
    published: DateTime<Utc>,
    views: i64,
}

fn main() {
    let db = Database::in_memory().unwrap();
    // `body` declares nothing: the embedded backend has no native case-insensitive matching.
    let _ = db.query::<Post>().filter(Post::body().icontains("rust"));
}
