//! Emulated lookups: every declared one runs on the embedded backend; a backend with the
//! native capabilities runs them undeclared; plain `index` and `exact` still declare a plain
//! index.

use nonrel_runtime::capability::Yes;
use nonrel_runtime::{Backend, Database, DateTime, Key, Model, Utc};

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index(exact, iexact, istartswith, endswith, icontains, regex = "^[a-z]+$", regex = "(?i)rust"))]
    title: String,
    #[field(index)]
    slug: String,
    #[field(index(icontains))]
    subtitle: Option<String>,
    #[field(index(year, month, day, week_day))]
    published: DateTime<Utc>,
    #[field(index(month))]
    updated: Option<DateTime<Utc>>,
    body: String,
    edited: DateTime<Utc>,
}

fn declared(db: &Database<nonrel_runtime::Redb>) {
    let _ = db
        .query::<Post>()
        .filter(Post::title().iexact("a"))
        .filter(Post::title().istartswith("a"))
        .filter(Post::title().endswith("a"))
        .filter(Post::title().icontains("a"))
        .filter(Post::title().regex("^[a-z]+$"))
        .filter(Post::title().eq("a"))
        .filter(Post::slug().eq("a"))
        .filter(Post::subtitle().icontains("a"))
        .filter(Post::published().year(2024))
        .filter(Post::published().month(3))
        .filter(Post::published().day(5))
        .filter(Post::published().week_day(1))
        .filter(Post::updated().month(12));
}

fn native<B: Backend<CaseInsensitive = Yes, Regex = Yes, DateParts = Yes>>(db: &Database<B>) {
    let _ = db
        .query::<Post>()
        .filter(Post::body().iexact("a"))
        .filter(Post::body().istartswith("a"))
        .filter(Post::body().endswith("a"))
        .filter(Post::body().icontains("a"))
        .filter(Post::body().regex("any pattern"))
        .filter(Post::edited().year(2024))
        .filter(Post::edited().month(3))
        .filter(Post::edited().day(5))
        .filter(Post::edited().week_day(7));
}

fn main() {
    let db = Database::in_memory().unwrap();
    declared(&db);
}
