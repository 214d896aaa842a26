use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Reading {
    #[field(key)]
    id: Option<Key<Reading>>,
    #[field(index(counted, counted))]
    celsius: f64,
}

fn main() {}
