use nonrel_runtime::Fields;

#[derive(Fields)]
struct Titled {
    #[field(index(exact, icontains))]
    title: String,
}

fn main() {}
