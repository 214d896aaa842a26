use nonrel_runtime::Embedded;

#[derive(Embedded)]
struct Address {
    city: String,
    location: (f64, f64),
}

fn main() {}
