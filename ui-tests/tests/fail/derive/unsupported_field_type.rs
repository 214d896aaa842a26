use nonrel_runtime::{Key, Model};

/// A plain struct: not `#[derive(Embedded)]`.
struct Address {
    city: String,
}

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    address: Address,
}

fn main() {}
