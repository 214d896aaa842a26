use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Label {
    #[field(key)]
    id: Option<Key<Label>>,
    text: &'static str,
}

fn main() {}
