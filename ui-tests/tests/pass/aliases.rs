//! Field types spelled through a type alias or a renamed import work as the types they name:
//! keys (natural keys passed by value), indexes, options, lists and references followed by
//! copies, in-memory joins and cascades. The derive reads a type's syntax only where it must
//! know its shape; trait bounds in the generated code see through every spelling.

#![deny(warnings)]

use nonrel_runtime::Ref as R;
use nonrel_runtime::{Database, Redb, Key, Model};
use std::string::String as Text;

type Count = i64;
type Id<M> = Option<Key<M>>;
type Names = Vec<Text>;

#[derive(Model)]
struct User {
    #[field(key)]
    name: Text,
    #[field(index)]
    visits: Count,
    nickname: Option<Text>,
    tags: Vec<Text>,
    aliases: Names,
}

#[derive(Model)]
#[model(denormalize(author.visits), join_in_memory(author))]
struct Post {
    #[field(key)]
    id: Id<Post>,
    #[field(index(exact, icontains))]
    title: Text,
    #[field(on_delete = cascade)]
    author: R<User>,
    editor: Option<R<User>>,
    readers: Vec<R<User>>,
    #[field(default)]
    likes: Count,
}

#[derive(Model)]
struct Tally {
    #[field(key)]
    day: Count,
    total: Option<Count>,
}

async fn queries(db: &Database<Redb>) -> nonrel_runtime::Result<()> {
    let _: Option<User> = db.get::<User>("ann").await?;
    let _: Option<Tally> = db.get::<Tally>(20240101 as Count).await?;
    let _: Vec<User> = db.query::<User>().filter(User::visits().gt(3)).filter(User::tags().contains("x")).await?;
    let _: Vec<Post> = db
        .query::<Post>()
        .filter(Post::author().join(User::visits()).gt(3))
        .filter(Post::title().icontains("rust"))
        .filter(Post::editor().isnull(true))
        .order_by(Post::likes().desc())
        .await?;
    Ok(())
}

fn main() {
    let _ = queries;
}
