//! Related selections of every kind of reference: `Ref`, `Option<Ref>`, `Vec<Ref>` and the
//! reverse of each.

use nonrel_runtime::{Database, Key, Model, Query, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    name: String,
    bio: String,
}

#[derive(Model)]
struct Tag {
    #[field(key)]
    id: Option<Key<Tag>>,
    about: String,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    views: i32,
    author: Ref<User>,
    editor: Option<Ref<User>>,
    tags: Vec<Ref<Tag>>,
}

async fn f<B: nonrel_runtime::Backend>(db: Database<B>) -> nonrel_runtime::Result<()> {
    let rows = db
        .query::<Post>()
        .select_related(Post::author())
        .select_related(Post::editor())
        .prefetch_related(Post::tags())
        .defer_related(User::bio())
        .only_related(Tag::about())
        .rows()
        .await?;
    let _: Option<User> = rows[0].related(Post::author())?;
    let _: Option<User> = rows[0].related(Post::editor())?;
    let _: Vec<Tag> = rows[0].related_many(Post::tags())?;
    let _: Vec<Key<Tag>> = rows[0].missing_related(Post::tags());
    let users = db
        .query::<User>()
        .prefetch_reverse(Post::author())
        .prefetch_reverse_with(Post::editor(), Query::new().order_by(Post::views().desc()).limit(3))
        .rows()
        .await?;
    let _: Vec<Post> = users[0].reverse(Post::author())?;
    let _: Vec<Post> = users[0].reverse(Post::editor())?;
    let tags = db.query::<Tag>().prefetch_reverse(Post::tags()).rows().await?;
    let _: Vec<Post> = tags[0].reverse(Post::tags())?;
    Ok(())
}

fn main() {
    let _ = f::<nonrel_runtime::Redb>;
}
