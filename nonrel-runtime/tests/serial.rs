//! Serializers across backends (F7): an embedded database file dumped to JSON lines, loaded
//! into MongoDB and back into a new embedded file, compared record by record — the stored
//! documents byte for byte and the decoded models.

mod support;

use nonrel_runtime::backend::Backend;
use nonrel_runtime::{
    Blob, Database, DateTime, Decimal, Fields, Key, KeyValue, LoadOptions, Model, ModelDesc, ObjectId, Redb, Ref, Utc,
    Value,
};
use std::str::FromStr;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "serial_users")]
struct User {
    #[field(key)]
    username: String,
    #[field(unique)]
    email: String,
}

#[derive(nonrel_runtime::Embedded, Debug, Clone, PartialEq)]
struct Comment {
    author: Ref<User>,
    text: String,
    votes: i32,
}

#[derive(Fields, Debug, Clone, PartialEq)]
struct Stamps {
    #[field(index)]
    created_at: DateTime<Utc>,
    revision: u32,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "serial_posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    title: String,
    author: Ref<User>,
    tags: Vec<String>,
    comments: Vec<Comment>,
    price: Decimal,
    rating: f64,
    views: i64,
    small: i16,
    attachment: Blob,
    trace: ObjectId,
    meta: Value,
    subtitle: Option<String>,
    #[field(flatten)]
    stamps: Stamps,
}

#[derive(Fields, Debug, Clone, PartialEq)]
struct AnimalFields {
    #[field(index)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(polymorphic, collection = "serial_animals")]
struct Animal {
    #[field(key)]
    id: Option<Key<Animal>>,
    #[field(flatten)]
    common: AnimalFields,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(extends = Animal)]
struct Dog {
    #[field(key)]
    id: Option<Key<Dog>>,
    #[field(flatten)]
    common: AnimalFields,
    breed: String,
}

const MODELS: [&ModelDesc; 3] = [User::DESC, Post::DESC, Animal::DESC];

fn post(i: i64, author: &str) -> Post {
    Post {
        id: None,
        title: format!("post {i} \"quoted\" \u{e9}\u{1F600}\n"),
        author: Ref::new(Key::from(author)),
        tags: vec!["rust".into(), String::new()],
        comments: vec![Comment { author: Ref::new(Key::from("bob")), text: "hi".into(), votes: -(i as i32) }],
        price: Decimal::from_str("-12345.678900").unwrap(),
        rating: [0.1, -0.0, 1e300, f64::MIN_POSITIVE, 3.0][i as usize % 5],
        views: i64::MAX - i,
        small: -7,
        attachment: Blob(vec![0, 159, 146, 150, 255, i as u8]),
        trace: ObjectId::new(),
        meta: Value::Document(vec![
            ("n".into(), Value::Int32(1)),
            ("oid".into(), Value::String("not an id".into())),
            ("nan".into(), Value::Double(f64::NAN)),
        ]),
        subtitle: (i % 2 == 0).then(|| "even".into()),
        stamps: Stamps {
            created_at: DateTime::from_timestamp_millis(1_700_000_000_123 - i * 86_400_000).unwrap(),
            revision: i as u32,
        },
    }
}

async fn fill(db: &Database<Redb>) {
    let mut users = vec![
        User { username: "ann".into(), email: "ann@example.com".into() },
        User { username: "bob lee/2".into(), email: "bob@example.com".into() },
    ];
    db.save_many(&mut users).await.unwrap();
    let mut posts: Vec<Post> = (0..25).map(|i| post(i, if i % 2 == 0 { "ann" } else { "bob lee/2" })).collect();
    posts[3].stamps.created_at = DateTime::from_timestamp_millis(-62_000_000_000_000).unwrap(); // before 1970
    db.save_many(&mut posts).await.unwrap();
    db.save(&mut Dog { id: None, common: AnimalFields { name: "Rex".into() }, breed: "collie".into() }).await.unwrap();
    db.save(&mut Animal { id: None, common: AnimalFields { name: "Snake".into() } }).await.unwrap();
}

/// Every record of every collection: collection, key, stored bytes; sorted by key.
async fn records<B: Backend>(db: &Database<B>) -> Vec<(&'static str, KeyValue, Vec<u8>)> {
    let mut out = Vec::new();
    for m in MODELS {
        let mut rows: Vec<_> = db.backend().query(m, Default::default()).await.unwrap();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        out.extend(rows.into_iter().map(|r| (m.collection, r.key.unwrap(), r.doc)));
    }
    out
}

async fn models<B: Backend>(db: &Database<B>) -> (Vec<User>, Vec<Post>, Vec<Dog>, usize) {
    let mut users = db.query::<User>().all().await.unwrap();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    let mut posts = db.query::<Post>().all().await.unwrap();
    posts.sort_by(|a, b| a.id.cmp(&b.id));
    let dogs = db.query::<Dog>().all().await.unwrap();
    let animals = db.query::<Animal>().polymorphic().await.unwrap();
    (users, posts, dogs, animals.iter().filter(|a| a.is::<Dog>()).count())
}

fn assert_same(a: &[(&str, KeyValue, Vec<u8>)], b: &[(&str, KeyValue, Vec<u8>)], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: record counts");
    for (x, y) in a.iter().zip(b) {
        assert_eq!((x.0, &x.1), (y.0, &y.1), "{what}: same collection and key");
        assert_eq!(x.2, y.2, "{what}: {} {} stored identically", x.0, x.1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_to_file_to_mongodb_and_back_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let source = Database::open(dir.path().join("source.db")).unwrap();
    fill(&source).await;
    let dump = dir.path().join("dump.jsonl");
    let written = source.dump_to_file(&dump).await.unwrap();
    let original = records(&source).await;
    assert_eq!(written, original.len() as u64);
    assert_eq!(written, 2 + 25 + 2);

    let mongo = support::fresh_mongo().await;
    let report = mongo.load_from_file(&dump, LoadOptions::default()).await.unwrap();
    assert_eq!((report.loaded, report.skipped.len()), (written, 0));
    assert_same(&original, &records(&mongo).await, "embedded -> file -> MongoDB");
    let expected = models(&source).await;
    assert_eq!(models(&mongo).await, expected, "decoded models agree");
    assert_eq!(expected.3, 1, "the dog is a dog through the base");
    let by_ref = mongo.query::<Post>().filter(Post::author().eq(Key::<User>::from("bob lee/2"))).count();
    assert_eq!(by_ref.await.unwrap(), 12, "Ref fields are keys in MongoDB too");

    let back_dump = dir.path().join("back.jsonl");
    mongo.dump_to_file(&back_dump).await.unwrap();
    let back = Database::open(dir.path().join("back.db")).unwrap();
    back.load_from_file(&back_dump, LoadOptions::default()).await.unwrap();
    assert_same(&original, &records(&back).await, "MongoDB -> file -> embedded");
    assert_eq!(models(&back).await, expected);
    assert!(back.integrity_check().await.unwrap().is_ok(), "indexes built by the load");
    let a = std::fs::read_to_string(&dump).unwrap();
    let b = std::fs::read_to_string(&back_dump).unwrap();
    let (mut a, mut b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    a.sort();
    b.sort();
    assert_eq!(a, b, "both dumps hold the same lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_line_loads_nothing_into_mongodb() {
    let source = Database::in_memory().unwrap();
    fill(&source).await;
    let mut out = Vec::new();
    source.dump(&mut out).await.unwrap();
    let mut text = String::from_utf8(out).unwrap();
    let lines = text.lines().count();
    text.push_str("{\"collection\":\"serial_users\",\"_id\":\"x\",\"record\":{\"email\":{\"$oid\":\"zz\"}}}\n");
    let mongo = support::fresh_mongo().await;
    let err = mongo.load(text.as_bytes(), LoadOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains(&format!("line {}", lines + 1)), "{err}");
    assert!(err.to_string().contains("email"), "{err}");
    assert_eq!(mongo.query::<Post>().count().await.unwrap(), 0, "nothing partial");
    let report = mongo.load(text.as_bytes(), LoadOptions::default().skip_bad_lines()).await.unwrap();
    assert_eq!((report.loaded as usize, report.skipped.len()), (lines, 1));
    assert_same(&records(&source).await, &records(&mongo).await, "the good lines");
}
