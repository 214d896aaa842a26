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
    let _ = db.query::<Post>().filter(Post::published().year("2024"));
    let _ = db.query::<Post>().filter(Post::title().iexact(3));
}
