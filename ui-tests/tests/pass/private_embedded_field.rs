//! A private embedded type behind a private field of a public model: descriptors take the
//! field's visibility, so nothing private leaks through a public function.
#![deny(warnings)]

mod blog {
    use nonrel_runtime::{Embedded, Key, Model};

    #[derive(Embedded)]
    pub struct Body {
        pub text: String,
    }

    /// Private to the module, stored in a private field of a public model.
    #[derive(Embedded)]
    struct Audit {
        by: String,
    }

    #[derive(Model)]
    pub struct Post {
        #[field(key)]
        pub id: Option<Key<Post>>,
        pub title: String,
        pub body: Body,
        secret: String,
        audit: Audit,
    }

    impl Post {
        pub fn new(title: &str) -> Post {
            Post { id: None, title: title.into(), body: Body { text: String::new() }, secret: String::new(), audit: Audit { by: String::new() } }
        }
    }
}

use blog::Post;
use nonrel_runtime::Query;

fn main() {
    let q = Query::<Post>::new().filter(Post::title().eq("x")).filter(Post::body().text().contains("y"));
    assert_eq!(q.plan().unwrap().filters.len(), 2);
    let _ = Post::new("t");
}
