use nonrel_runtime::Model;

#[derive(Model)]
enum Shape {
    Circle { id: i64, radius: f64 },
    Square { id: i64, side: f64 },
}

fn main() {}
