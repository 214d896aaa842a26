use nonrel_runtime::{Fields, Key, Model};

#[derive(Fields)]
struct Stamps {
    #[field(key)]
    created: i64,
}

#[derive(Model)]
struct Note {
    #[field(key)]
    id: Option<Key<Note>>,
    #[field(flatten, index)]
    stamps: Stamps,
}

#[derive(nonrel_runtime::Embedded)]
struct Inner {
    #[field(flatten)]
    stamps: Stamps,
}

fn main() {}
