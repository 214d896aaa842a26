use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Wrapper<T> {
    #[field(key)]
    id: Option<Key<Wrapper<T>>>,
    value: T,
}

fn main() {}
