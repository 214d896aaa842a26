use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Reading {
    #[field(key)]
    id: Option<Key<Reading>>,
    #[field(index(counted))]
    place: String,
    #[field(index(counted, covering))]
    samples: Vec<f64>,
    #[field(unique, index(counted))]
    label: Option<String>,
    #[field(index(counted, covering))]
    taken: Option<i64>,
    #[field(index(exact, counted))]
    celsius: f64,
}

fn main() {}
