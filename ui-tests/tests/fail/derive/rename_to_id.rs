use nonrel_runtime::Model;

#[derive(Model)]
struct User {
    #[field(key)]
    username: String,
    #[field(rename = "_id")]
    legacy_id: i64,
}

fn main() {}
