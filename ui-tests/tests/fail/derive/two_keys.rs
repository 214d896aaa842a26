use nonrel_runtime::Model;

#[derive(Model)]
struct User {
    #[field(key)]
    username: String,
    #[field(key)]
    email: String,
}

fn main() {}
