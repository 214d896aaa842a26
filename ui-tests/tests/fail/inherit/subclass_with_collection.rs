use nonrel_runtime::{Key, Model};

#[derive(Model)]
#[model(polymorphic)]
struct Animal {
    #[field(key)]
    id: Option<Key<Animal>>,
    name: String,
}

#[derive(Model)]
#[model(extends = Animal, polymorphic, collection = "dogs")]
struct Dog {
    #[field(key)]
    id: Option<Key<Dog>>,
    name: String,
}

fn main() {}
