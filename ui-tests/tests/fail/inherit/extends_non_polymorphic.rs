use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Animal {
    #[field(key)]
    id: Option<Key<Animal>>,
    name: String,
}

#[derive(Model)]
#[model(extends = Animal)]
struct Dog {
    #[field(key)]
    id: Option<Key<Dog>>,
    name: String,
}

fn main() {}
