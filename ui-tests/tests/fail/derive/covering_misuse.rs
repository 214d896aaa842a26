use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Book {
    #[field(key)]
    id: Option<Key<Book>>,
    #[field(index(exact, covering))]
    shelf: String,
    #[field(index(covering, covering))]
    isbn: String,
    #[field(index(covering, exact))]
    title: String,
}

fn main() {}
