use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Point {
    #[field(key)]
    id: Option<Key<Point>>,
    coords: (f64, f64),
}

fn main() {}
