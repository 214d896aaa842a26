use nonrel_runtime::{Key, Model, Query, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

fn by_author(post: Key<Post>) -> Query<Post> {
    Query::<Post>::new().filter(Post::author().eq(post))
}

fn main() {
    let _ = by_author;
}
