//! Covering indexes: on a plain index, a unique one, beside emulated lookups and on a list.

use nonrel_runtime::{Database, Key, Model};

#[derive(Model)]
struct Book {
    #[field(key)]
    id: Option<Key<Book>>,
    #[field(index(covering))]
    shelf: String,
    #[field(unique, index(covering))]
    isbn: String,
    #[field(index(covering, icontains))]
    title: String,
    #[field(index(covering))]
    tags: Vec<String>,
    #[field(index)]
    pages: u32,
}

fn main() {
    let covering = |path: &str| Book::DESC.index_on(path).map(|i| (i.unique, i.covering));
    assert_eq!(covering("shelf"), Some((false, true)));
    assert_eq!(covering("isbn"), Some((true, true)));
    assert_eq!(covering("title"), Some((false, true)));
    assert_eq!(covering("tags"), Some((false, true)));
    assert_eq!(covering("pages"), Some((false, false)));
    assert!(!Book::DESC.indexes.iter().any(|i| i.path.starts_with("_ix_") && i.covering), "lookup indexes stay plain");
    let db = Database::in_memory().unwrap();
    let _ = db.query::<Book>().filter(Book::title().icontains("rust")).filter(Book::shelf().eq("a"));
}
