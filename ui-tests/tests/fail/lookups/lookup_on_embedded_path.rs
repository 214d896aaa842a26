use nonrel_runtime::{Embedded, Key, Model, Query};

#[derive(Embedded)]
struct Address {
    city: String,
}

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    address: Address,
}

fn main() {
    let _ = Query::<User>::new().filter(User::address().eq("Berlin"));
}
