use nonrel_runtime::{Key, Model};

#[derive(Model)]
#[model(polymorphic)]
struct Animal {
    #[field(key)]
    id: Option<Key<Animal>>,
    name: String,
    legs: u8,
}

#[derive(Model)]
#[model(extends = Animal)]
struct Dog {
    #[field(key)]
    id: Option<Key<Dog>>,
    name: String,
}

fn main() {}
