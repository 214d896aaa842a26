// Hierarchies are two levels deep: extending a subclass does not compile, and the message
// says so.
use nonrel_runtime::{Key, Model};

#[derive(Model)]
#[model(polymorphic)]
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

#[derive(Model)]
#[model(extends = Dog)]
struct Puppy {
    #[field(key)]
    id: Option<Key<Puppy>>,
    name: String,
    age_weeks: u32,
}

fn main() {}
