use nonrel_runtime::{Embedded, Key, Model, Query};

/// One typo in the embedded model's attributes...
#[derive(Embedded)]
struct Address {
    #[field(renamed = "town")]
    city: String,
}

/// ...should be the only error: not one more for every model field and query using it.
#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    address: Address,
    previous: Vec<Address>,
}

fn main() {
    let _ = Query::<User>::new().filter(User::address().city().eq("Berlin"));
}
