use nonrel_runtime::{Fields, Key, Model};

#[derive(Fields)]
struct Stamps {
    created: i64,
}

#[derive(Model)]
struct Note {
    #[field(key)]
    id: Option<Key<Note>>,
    created: i64,
    #[field(flatten)]
    stamps: Stamps,
}

fn main() {}
