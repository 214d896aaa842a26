//! A private field's descriptor is private: code outside the module cannot filter on it.
mod blog {
    use nonrel_runtime::{Key, Model};

    #[derive(Model)]
    pub struct Post {
        #[field(key)]
        pub id: Option<Key<Post>>,
        pub title: String,
        password_hash: String,
    }
}

fn main() {
    let _ = nonrel_runtime::Query::<blog::Post>::new().filter(blog::Post::password_hash().startswith("$2b$"));
}
