//! Every lookup that fits its field's type, on plain fields, embedded paths, lists and maps.

use nonrel_runtime::{Blob, Database, DateTime, Decimal, Embedded, Redb, Key, Model, ObjectId, Query, Ref, Utc, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

#[derive(Model)]
struct User {
    #[field(key)]
    username: String,
    age: u8,
}

#[derive(Model)]
struct Counter {
    #[field(key)]
    id: i64,
}

#[derive(Embedded)]
struct Address {
    city: String,
}

#[derive(Embedded)]
struct Comment {
    author: String,
    votes: i32,
    address: Address,
    replies: Vec<Comment>,
}

#[derive(Model)]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    title: String,
    subtitle: Option<String>,
    views: i64,
    rating: f64,
    price: Decimal,
    published: bool,
    when: DateTime<Utc>,
    tags: Vec<String>,
    labels: BTreeSet<String>,
    scores: HashSet<i64>,
    meta: BTreeMap<String, Value>,
    by_lang: HashMap<String, Vec<Comment>>,
    dynamic: Value,
    blob: Blob,
    oid: ObjectId,
    author: Ref<User>,
    previous: Option<Key<Post>>,
    comment: Option<Comment>,
    comments: Vec<Comment>,
    boxed: Box<Comment>,
}

fn conditions(ann: Key<User>, post: Key<Post>, now: DateTime<Utc>) -> Query<Post> {
    let title = String::from("Hello");
    Query::<Post>::new()
        // exact / ne / in
        .filter(Post::title().eq("Hello"))
        .filter(Post::title().eq(title.clone()))
        .filter(Post::title().eq(&title))
        .filter(Post::title().ne("Bye"))
        .filter(Post::title().is_in(["a", "b"]))
        .filter(Post::title().is_in(vec![title.clone()]))
        .filter(Post::views().eq(3))
        .filter(Post::views().is_in([1, 2, 3]))
        .filter(Post::published().eq(true))
        .filter(Post::published().ne(false))
        .filter(Post::blob().eq(Blob(vec![1, 2])))
        .filter(Post::oid().eq(ObjectId::from_bytes([0; 12])))
        .filter(Post::author().eq(ann.clone()))
        .filter(Post::author().eq(&ann))
        .filter(Post::author().eq(Ref::new(ann)))
        .filter(Post::previous().eq(post.clone()))
        .filter(Post::tags().eq(vec!["a".to_owned()]))
        .filter(Post::dynamic().eq(Value::from("x")))
        // ordered lookups
        .filter(Post::views().gt(10))
        .filter(Post::views().gte(10i64))
        .filter(Post::views().lt(100))
        .filter(Post::views().lte(100))
        .filter(Post::views().range(1, 5))
        .filter(Post::rating().gt(2.5))
        .filter(Post::price().lte(Decimal::new(1999, 2)))
        .filter(Post::when().range(now, now))
        .filter(Post::title().gt("M"))
        .filter(Post::subtitle().lt("z"))
        .filter(Post::previous().gte(post))
        .filter(Post::oid().lt(ObjectId::from_bytes([1; 12])))
        .filter(Post::dynamic().gt(Value::from(1)))
        // isnull on every kind of field
        .filter(Post::subtitle().isnull(true))
        .filter(Post::comment().isnull(false))
        .filter(Post::tags().isnull(false))
        .filter(Post::blob().isnull(false))
        // text
        .filter(Post::title().startswith("He"))
        .filter(Post::subtitle().startswith(String::from("S")))
        .filter(Post::title().contains("ll"))
        // lists and sets
        .filter(Post::tags().contains("rust"))
        .filter(Post::tags().contains(String::from("rust")))
        .filter(Post::labels().contains("new"))
        .filter(Post::scores().contains(7))
        // paths into embedded models, lists of them, nested ones and boxes
        .filter(Post::comment().author().eq("bob"))
        .filter(Post::comment().votes().gte(1))
        .filter(Post::comment().address().city().startswith("Ber"))
        .filter(Post::comments().author().eq("bob"))
        .filter(Post::comments().address().city().contains("lin"))
        .filter(Post::comments().replies().author().ne("eve"))
        .filter(Post::comments().replies().replies().votes().lt(0))
        .filter(Post::boxed().author().isnull(false))
        // maps
        .filter(Post::meta().get("colour").eq(Value::from("red")))
        .filter(Post::meta().get("size").gt(Value::from(3)))
        .filter(Post::by_lang().get("en").author().eq("ann"))
        .order_by(Post::views().desc())
        .order_by(Post::comment().author().asc())
        .limit(10)
        .offset(5)
}

fn whole_embedded_value() -> Query<Post> {
    Query::<Post>::new()
        .filter(Post::comment().address().value().isnull(false))
        .filter(Post::comment().address().value().eq(Address { city: "Berlin".into() }))
        .filter(Post::comments().value().ne(Comment {
            author: "eve".into(),
            votes: 0,
            address: Address { city: "Oslo".into() },
            replies: Vec::new(),
        }))
}

async fn database_calls(db: Database<nonrel_runtime::Redb>, post: Key<Post>) -> nonrel_runtime::Result<()> {
    let _: Option<Post> = db.get(&post).await?;
    let _: Option<Post> = db.get(post.clone()).await?;
    let _: Option<User> = db.get::<User>("ann").await?;
    let _: Option<User> = db.get::<User>(String::from("ann")).await?;
    let _: Option<Counter> = db.get::<Counter>(7).await?;
    let _: Vec<Option<Post>> = db.get_many::<Post, _>([post.clone()]).await?;
    let found: Vec<Post> = db.query::<Post>().filter(Post::tags().contains("rust")).await?;
    let _ = found;
    let _ = db.query::<User>().filter(User::age().gte(18)).count_upto(100).await?;
    let _ = db.delete(post).await?;
    Ok(())
}

fn main() {
    let now = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
    let q = conditions(Key::from("ann"), Key::from(1), now);
    let plan = q.plan().expect("every condition is valid");
    assert_eq!(plan.limit, Some(10));
    assert!(plan.filters.iter().any(|f| f.path == "comments.replies.replies.votes"));
    assert!(plan.filters.iter().any(|f| f.path == "by_lang.en.author"));
    assert!(whole_embedded_value().plan().is_ok());
    let _ = database_calls;
}
