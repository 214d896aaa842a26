use nonrel_runtime::Embedded;

#[derive(Embedded)]
struct Comment {
    #[field(key)]
    id: i64,
    text: String,
}

fn main() {}
