//! Every accepted JOIN form: through denormalized copies and in-memory joins on the embedded
//! backend, on any backend with joins without declarations, and related selections.

use nonrel_runtime::capability::Runs;
use nonrel_runtime::{Database, Redb, Join, Key, Model, Ref};

#[derive(Model)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    username: String,
    #[field(rename = "yrs")]
    age: u8,
    tags: Vec<String>,
}

#[derive(Model)]
#[model(denormalize(author.username, author.age), denormalize(editor.username))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    title: String,
    author: Ref<User>,
    editor: Option<Ref<User>>,
}

#[derive(Model)]
#[model(join_in_memory(author), denormalize(author.username))]
struct Note {
    #[field(key)]
    id: Option<Key<Note>>,
    author: Ref<User>,
}

#[derive(Model)]
struct Plain {
    #[field(key)]
    id: Option<Key<Plain>>,
    author: Ref<User>,
}

async fn embedded(db: &Database<Redb>) -> nonrel_runtime::Result<()> {
    let _: Vec<Post> = db
        .query::<Post>()
        .filter(Post::author().join(User::username()).eq("ann"))
        .filter(Post::author().join(User::username()).is_in(["ann", "bob"]))
        .filter(Post::author().join(User::username()).startswith("a"))
        .filter(Post::author().join(User::age()).range(1u8, 99u8))
        .filter(Post::editor().join(User::username()).isnull(false))
        .order_by(Post::author().join(User::username()).asc())
        .order_by(Post::author().join(User::age()).desc())
        .await?;
    let _ = db.query::<Note>().filter(Note::author().join(User::age()).gt(3u8)).count().await?;
    let _ = db.query::<Note>().filter(Note::author().join(User::tags()).contains("x")).count().await?;
    let _ = db.query::<Note>().order_by(Note::author().join(User::username()).desc()).count().await?;
    let rows = db.query::<Plain>().select_related(Plain::author()).defer_related(User::tags()).rows().await?;
    let _: Option<User> = rows[0].related(Plain::author())?;
    let _ = db.query::<Post>().select_related(Post::editor()).only_related(User::username()).rows().await?;
    Ok(())
}

/// A backend with joins (MongoDB) runs lookups across any `Ref`, declared or not.
#[allow(dead_code)]
async fn with_joins<B>(db: &Database<B>) -> nonrel_runtime::Result<()>
where
    B: Runs<Join<Plain_fields::author, User_fields::username>> + Runs<Join<Post_fields::author, User_fields::tags>>,
{
    let _ = db.query::<Plain>().filter(Plain::author().join(User::username()).ne("ann")).all().await?;
    let _ = db.query::<Post>().filter(Post::author().join(User::tags()).contains("rust")).all().await?;
    Ok(())
}

fn main() {
    let _ = embedded;
}
