use nonrel_runtime::Model;

#[derive(Model)]
struct UserId(i64, String);

fn main() {}
