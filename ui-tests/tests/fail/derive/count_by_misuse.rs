use nonrel_runtime::{Key, Model};

#[derive(Model)]
#[model(count_by(writer), count_by(tags), count_by(id), count_by(author, author))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: String,
    tags: Vec<String>,
}

fn main() {}
