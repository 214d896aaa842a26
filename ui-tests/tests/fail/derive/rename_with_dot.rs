use nonrel_runtime::{Key, Model};

#[derive(Model)]
struct Place {
    #[field(key)]
    id: Option<Key<Place>>,
    #[field(rename = "address.city")]
    city: String,
}

fn main() {}
