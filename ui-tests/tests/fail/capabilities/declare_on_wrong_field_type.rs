use nonrel_runtime::{DateTime, Key, Model, Utc};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index(icontains))]
    views: i64,
    #[field(index(month))]
    title: String,
    #[field(index(year))]
    published: Option<DateTime<Utc>>,
}

fn main() {}
