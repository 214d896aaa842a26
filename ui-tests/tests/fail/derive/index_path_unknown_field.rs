use nonrel_runtime::{Embedded, Key, Model};

#[derive(Embedded)]
struct Comment {
    author: String,
}

#[derive(Model)]
#[model(index = "replies.author")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    comments: Vec<Comment>,
}

fn main() {}
