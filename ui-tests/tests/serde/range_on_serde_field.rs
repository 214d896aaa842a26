// A field stored through serde has no known shape: only equality lookups apply.
use nonrel_runtime::{Key, Model};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Size {
    width: u32,
    height: u32,
}

#[derive(Model)]
struct Photo {
    #[field(key)]
    id: Option<Key<Photo>>,
    #[field(serde)]
    size: Size,
}

fn main() {
    let _ = Photo::size().eq(Size { width: 1, height: 2 });
    let _ = Photo::size().gt(Size { width: 1, height: 2 });
    let _ = Photo::size().contains(Size { width: 1, height: 2 });
}
