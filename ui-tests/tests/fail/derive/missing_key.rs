use nonrel_runtime::Model;

#[derive(Model)]
struct Post {
    post_id: i64,
    title: String,
}

fn main() {}
