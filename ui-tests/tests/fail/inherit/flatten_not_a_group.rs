use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Note {
    #[field(key)]
    id: Option<Key<Note>>,
    #[field(flatten)]
    stamps: String,
}

fn main() {}
