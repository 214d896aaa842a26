use nonrel_runtime::{Key, Model, Value};
use std::collections::BTreeMap;

#[derive(Model)]
struct Profile {
    #[field(key)]
    id: Option<Key<Profile>>,
    name: String,
    #[field(extra)]
    rest: BTreeMap<String, Value>,
}

fn main() {}
