//! The cases. Each takes a fresh, empty database and panics (fails the test) on a deviation.

use super::models::*;
use crate::{Backend, Blob, Database, Decimal, ErrorKind, Key, KeyKind, Model, Query, Ref, Value};
use chrono::TimeZone;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::str::FromStr;

fn comment(author: &str, votes: i32) -> Comment {
    Comment { author: author.into(), text: format!("by {author}"), votes, replies: vec![] }
}

fn post(title: &str, views: i64, tags: &[&str], authors: &[&str]) -> Post {
    Post {
        id: None,
        title: title.into(),
        title_plain: title.into(),
        views,
        views_plain: views,
        rating: views as f64 / 10.0,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        author: Ref::new(Key::from("ann")),
        comments: authors.iter().enumerate().map(|(i, a)| comment(a, i as i32)).collect(),
        subtitle: (views % 2 == 0).then(|| format!("even {views}")),
        published: views > 10,
    }
}

/// A fixed set of posts the query cases run on.
async fn seed<B: Backend>(db: &Database<B>) -> Vec<Post> {
    let mut posts = vec![
        post("Rust ownership", 120, &["rust", "memory"], &["bob", "cy"]),
        post("Rust async", 45, &["rust", "async"], &["cy"]),
        post("Python typing", 300, &["python"], &[]),
        post("Go channels", 7, &["go", "async"], &["bob"]),
        post("Ruby blocks", 45, &[], &["dee", "bob"]),
        post("rusty tools", 0, &["tools"], &["eve"]),
    ];
    posts[1].comments[0].replies.push(comment("zed", 9));
    db.save_many(&mut posts).await.expect("seed");
    posts
}

fn titles(posts: &[Post]) -> Vec<&str> {
    posts.iter().map(|p| p.title.as_str()).collect()
}

fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort();
    v
}

async fn matching<B: Backend>(db: &Database<B>, q: Query<Post>) -> Vec<String> {
    let found = db.query::<Post>().with(q).all().await.expect("query");
    let mut t: Vec<String> = found.into_iter().map(|p| p.title).collect();
    t.sort();
    t
}

pub(crate) fn everything(id: i64) -> Everything {
    let c = Comment { author: "a".into(), text: "t".into(), votes: -3, replies: vec![comment("deep", 1)] };
    Everything {
        id,
        b: true,
        i8: -8,
        i16: -16_000,
        i32: i32::MIN,
        i64: i64::MAX,
        i128: -(1 << 60),
        isize: -5,
        u8: 255,
        u16: 65_535,
        u32: u32::MAX,
        u64: i64::MAX as u64,
        u128: 1 << 62,
        usize: 12,
        f32: 1.5,
        f64: -2.25e-300,
        text: "héllo\u{1F600} \"quoted\"".into(),
        decimal: Decimal::from_str("-12345.678900").unwrap(),
        when: chrono::Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
        maybe: Some(7),
        nothing: None,
        list: vec!["x".into(), String::new()],
        nested_list: vec![vec![1, 2], vec![], vec![3]],
        set: BTreeSet::from(["b".to_string(), "a".to_string()]),
        hash_set: HashSet::from([1, 2, 3]),
        dict: BTreeMap::from([
            ("n".to_string(), Value::Int64(1)),
            ("s".to_string(), Value::String("v".into())),
            ("l".to_string(), Value::Array(vec![Value::Null, Value::Bool(false)])),
            ("d".to_string(), Value::Document(vec![("k".into(), Value::Double(0.5))])),
        ]),
        hash_dict: HashMap::from([("c".to_string(), vec![c.clone()])]),
        dynamic: Value::Document(vec![("any".into(), Value::Binary(vec![0, 1, 255]))]),
        blob: Blob(vec![0, 159, 146, 150, 0]),
        comment: c.clone(),
        comments: vec![c.clone(), comment("b", 2)],
        boxed: Box::new(c),
        author: Ref::new(Key::from("ann")),
        other: Some(Key::from(42)),
        cache: vec![],
        defaulted: 3,
    }
}

/// Every supported field type stores and loads exactly.
pub async fn round_trips_every_field_type<B: Backend>(db: &Database<B>) {
    let mut e = everything(1);
    db.save(&mut e).await.expect("save");
    let loaded: Everything = db.get(1).await.expect("get").expect("found");
    assert_eq!(loaded, e);
    e.cache = vec![1, 2, 3];
    db.save(&mut e).await.expect("save again");
    let loaded: Everything = db.get(1).await.unwrap().unwrap();
    assert!(loaded.cache.is_empty(), "skipped fields are not stored");
}

/// Automatic keys are assigned on first save, written into the model, and distinct.
pub async fn assigns_distinct_automatic_keys<B: Backend>(db: &Database<B>) {
    let mut a = post("a", 1, &[], &[]);
    let mut b = post("b", 2, &[], &[]);
    let ka = db.save(&mut a).await.unwrap();
    let kb = db.save(&mut b).await.unwrap();
    assert_ne!(ka, kb);
    assert_eq!(a.id.as_ref(), Some(&ka));
    assert_eq!(db.get(&kb).await.unwrap().unwrap().title, "b");
    assert!(ka.value().fits(KeyKind::Auto), "{ka:?} is an automatic key");
    assert_eq!(Key::<Post>::parse(&ka.to_string()).unwrap(), ka, "keys parse from their string form");
}

/// Natural int and string keys; a numeric string finds an int key.
pub async fn natural_keys<B: Backend>(db: &Database<B>) {
    let mut ann = User { username: "ann".into(), email: "ann@example.com".into(), age: 41 };
    let key = db.save(&mut ann).await.unwrap();
    assert_eq!(key, Key::from("ann"));
    assert_eq!(db.get::<User>("ann").await.unwrap(), Some(ann.clone()));
    assert_eq!(db.get::<User>("nobody").await.unwrap(), None);
    db.save(&mut everything(77)).await.unwrap();
    let k: Key<Everything> = "77".parse().unwrap();
    assert_eq!(db.get(&k).await.unwrap().unwrap().id, 77);
    assert_eq!(db.get::<Everything>(77).await.unwrap().unwrap().id, 77);
}

/// Keys are typed, URL-safe and parse back; malformed input is an error.
pub async fn keys_are_url_safe_and_typed<B: Backend>(_db: &Database<B>) {
    let k: Key<User> = Key::from("ann/é?&=#x y");
    let s = k.to_string();
    assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)), "{s}");
    assert_eq!(s.parse::<Key<User>>().unwrap(), k);
    for bad in ["", "%", "%4", "%zz", "a b", "%FF"] {
        let err = bad.parse::<Key<User>>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey, "{bad:?}");
        assert!(err.to_string().contains("User"), "{err}");
    }
    for bad in ["", "x", "1.5", "99999999999999999999", "+1", " 1"] {
        assert_eq!(bad.parse::<Key<Everything>>().unwrap_err().kind(), ErrorKind::InvalidKey, "{bad:?}");
    }
    assert_eq!("-12".parse::<Key<Everything>>().unwrap(), Key::from(-12));
    let oid = crate::ObjectId::new();
    assert_eq!(oid.to_hex().parse::<Key<Post>>().unwrap(), Key::from(oid));
    assert_eq!("12".parse::<Key<Post>>().unwrap(), Key::from(12));
}

/// Saving an existing key replaces the record: no existence check, no duplicate.
pub async fn save_is_an_upsert<B: Backend>(db: &Database<B>) {
    let mut ann = User { username: "ann".into(), email: "a@x".into(), age: 1 };
    db.save(&mut ann).await.unwrap();
    ann.age = 2;
    db.save(&mut ann).await.unwrap();
    let mut again = User { username: "ann".into(), email: "a@x".into(), age: 3 };
    db.save(&mut again).await.unwrap();
    assert_eq!(db.query::<User>().count().await.unwrap(), 1);
    assert_eq!(db.get::<User>("ann").await.unwrap().unwrap().age, 3);
}

/// `insert` fails on an existing key and leaves the stored record alone.
pub async fn insert_rejects_an_existing_key<B: Backend>(db: &Database<B>) {
    let mut ann = User { username: "ann".into(), email: "a@x".into(), age: 1 };
    db.insert(&mut ann).await.unwrap();
    let mut dup = User { username: "ann".into(), email: "b@x".into(), age: 2 };
    let err = db.insert(&mut dup).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DuplicateKey);
    assert!(err.to_string().contains("User") && err.to_string().contains("ann"), "{err}");
    assert_eq!(db.get::<User>("ann").await.unwrap().unwrap().age, 1);
}

/// save_many, get_many (in order, with gaps), delete_many without fetching.
pub async fn batch_operations<B: Backend>(db: &Database<B>) {
    let posts = seed(db).await;
    let keys: Vec<Key<Post>> = posts.iter().map(|p| p.key().unwrap()).collect();
    let mut wanted = vec![keys[2].clone(), Key::from(999_999), keys[0].clone()];
    if matches!(keys[0].value(), crate::KeyValue::ObjectId(_)) {
        wanted[1] = Key::from(crate::ObjectId::new());
    }
    let got = db.get_many(&wanted).await.unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].as_ref().unwrap().title, posts[2].title);
    assert!(got[1].is_none());
    assert_eq!(got[2].as_ref().unwrap().title, posts[0].title);
    assert_eq!(db.delete_many(&keys[..3]).await.unwrap(), 3);
    assert_eq!(db.delete_many(&keys[..3]).await.unwrap(), 0);
    assert_eq!(db.query::<Post>().count().await.unwrap(), 3);
}

/// Delete by key reports whether the record existed.
pub async fn delete_without_fetching<B: Backend>(db: &Database<B>) {
    let mut ann = User { username: "ann".into(), email: "a@x".into(), age: 1 };
    db.save(&mut ann).await.unwrap();
    assert!(db.delete::<User>("ann").await.unwrap());
    assert!(!db.delete::<User>("ann").await.unwrap());
    assert_eq!(db.get::<User>("ann").await.unwrap(), None);
}

/// Every lookup on plain fields.
pub async fn lookups<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let q = Query::<Post>::new;
    assert_eq!(matching(db, q().filter(Post::views().eq(45))).await, ["Ruby blocks", "Rust async"]);
    assert_eq!(matching(db, q().filter(Post::views().ne(45))).await.len(), 4);
    assert_eq!(matching(db, q().filter(Post::views().is_in([7, 300, 1]))).await, ["Go channels", "Python typing"]);
    assert_eq!(matching(db, q().filter(Post::views().gt(120))).await, ["Python typing"]);
    assert_eq!(matching(db, q().filter(Post::views().gte(120))).await, ["Python typing", "Rust ownership"]);
    assert_eq!(matching(db, q().filter(Post::views().lt(7))).await, ["rusty tools"]);
    assert_eq!(matching(db, q().filter(Post::views().lte(7))).await, ["Go channels", "rusty tools"]);
    assert_eq!(
        matching(db, q().filter(Post::views().range(7, 45))).await,
        ["Go channels", "Ruby blocks", "Rust async"]
    );
    assert_eq!(
        matching(db, q().filter(Post::rating().range(4.5, 12.0))).await,
        ["Ruby blocks", "Rust async", "Rust ownership"]
    );
    assert_eq!(
        matching(db, q().filter(Post::subtitle().isnull(true))).await,
        ["Go channels", "Ruby blocks", "Rust async"]
    );
    assert_eq!(matching(db, q().filter(Post::subtitle().isnull(false))).await.len(), 3);
    assert_eq!(matching(db, q().filter(Post::title().startswith("Rust"))).await, ["Rust async", "Rust ownership"]);
    assert_eq!(
        matching(db, q().filter(Post::title().contains("ust"))).await,
        ["Rust async", "Rust ownership", "rusty tools"]
    );
    assert_eq!(matching(db, q().filter(Post::tags().contains("async"))).await, ["Go channels", "Rust async"]);
    assert_eq!(matching(db, q().filter(Post::published().eq(false))).await, ["Go channels", "rusty tools"]);
    let both = q().filter(Post::tags().contains("rust")).filter(Post::views().gt(100));
    assert_eq!(matching(db, both).await, ["Rust ownership"]);
    assert!(matching(db, q().filter(Post::title().eq("nope"))).await.is_empty());
    assert_eq!(matching(db, q().filter(Post::author().eq(Key::<User>::from("ann")))).await.len(), 6);
}

/// An indexed field and an unindexed twin give the same answers.
pub async fn lookups_agree_with_and_without_index<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let pairs = [
        (
            Query::new().filter(Post::title().eq("Rust async")),
            Query::new().filter(Post::title_plain().eq("Rust async")),
        ),
        (Query::new().filter(Post::title().startswith("R")), Query::new().filter(Post::title_plain().startswith("R"))),
        (Query::new().filter(Post::title().gt("Python")), Query::new().filter(Post::title_plain().gt("Python"))),
        (Query::new().filter(Post::views().range(0, 45)), Query::new().filter(Post::views_plain().range(0, 45))),
        (Query::new().filter(Post::views().lt(46)), Query::new().filter(Post::views_plain().lt(46))),
        (Query::new().filter(Post::views().is_in([0, 45])), Query::new().filter(Post::views_plain().is_in([0, 45]))),
    ];
    for (indexed, plain) in pairs {
        let (a, b) = (matching(db, indexed).await, matching(db, plain).await);
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }
    let ordered = db.query::<Post>().order_by(Post::views().desc()).limit(3).all().await.unwrap();
    let plain = db.query::<Post>().order_by(Post::views_plain().desc()).limit(3).all().await.unwrap();
    assert_eq!(titles(&ordered), titles(&plain));
    assert_eq!(titles(&ordered), ["Python typing", "Rust ownership", "Rust async"]);
}

/// Paths into embedded models and lists of them: any element matching counts.
pub async fn lookups_into_embedded_models_and_lists<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let q = Query::<Post>::new;
    assert_eq!(
        matching(db, q().filter(Post::comments().author().eq("bob"))).await,
        ["Go channels", "Ruby blocks", "Rust ownership"]
    );
    assert_eq!(matching(db, q().filter(Post::comments().votes().gte(1))).await, ["Ruby blocks", "Rust ownership"]);
    assert_eq!(matching(db, q().filter(Post::comments().replies().author().eq("zed"))).await, ["Rust async"]);
    assert_eq!(matching(db, q().filter(Post::comments().author().startswith("d"))).await, ["Ruby blocks"]);
    let mut e = everything(5);
    db.save(&mut e).await.unwrap();
    let found =
        db.query::<Everything>().filter(Everything::comment().replies().author().eq("deep")).count().await.unwrap();
    assert_eq!(found, 1);
    let by_dict = db
        .query::<Everything>()
        .filter(Everything::dict().get("s").eq(Value::String("v".into())))
        .count()
        .await
        .unwrap();
    assert_eq!(by_dict, 1);
}

/// Ordering on several fields both ways, the key breaking ties; limit and offset.
pub async fn ordering_limit_offset<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let by = db.query::<Post>().order_by(Post::views_plain().desc()).order_by(Post::title().asc()).all().await.unwrap();
    let expected = ["Python typing", "Rust ownership", "Ruby blocks", "Rust async", "Go channels", "rusty tools"];
    assert_eq!(titles(&by), expected);
    let by = db.query::<Post>().order_by(Post::views().asc()).order_by(Post::title_plain().desc()).all().await.unwrap();
    assert_eq!(
        titles(&by),
        ["rusty tools", "Go channels", "Rust async", "Ruby blocks", "Rust ownership", "Python typing"]
    );
    let page = db
        .query::<Post>()
        .order_by(Post::views_plain().desc())
        .order_by(Post::title().asc())
        .offset(1)
        .limit(3)
        .all()
        .await
        .unwrap();
    assert_eq!(titles(&page), &expected[1..4]);
    let page = db
        .query::<Post>()
        .order_by(Post::views().desc())
        .order_by(Post::title().asc())
        .offset(2)
        .limit(2)
        .all()
        .await
        .unwrap();
    assert_eq!(titles(&page), &expected[2..4]);
    let tied = db.query::<Post>().filter(Post::views().eq(45)).order_by(Post::views().asc()).all().await.unwrap();
    assert!(tied[0].id < tied[1].id, "the key breaks ties");
    let first = db.query::<Post>().order_by(Post::title().asc()).first().await.unwrap().unwrap();
    assert_eq!(first.title, "Go channels");
    let none = db.query::<Post>().filter(Post::views().gt(1000)).first().await.unwrap();
    assert!(none.is_none());
    let all = db.query::<Post>().offset(0).all().await.unwrap();
    assert_eq!(sorted(titles(&all)), sorted(expected.to_vec()));
}

/// count, count_upto (bounded), exists.
pub async fn counts<B: Backend>(db: &Database<B>) {
    seed(db).await;
    assert_eq!(db.query::<Post>().count().await.unwrap(), 6);
    assert_eq!(db.query::<Post>().count_upto(4).await.unwrap(), 4);
    assert_eq!(db.query::<Post>().count_upto(100).await.unwrap(), 6);
    assert_eq!(db.query::<Post>().count_upto(0).await.unwrap(), 0);
    assert_eq!(db.query::<Post>().filter(Post::tags().contains("rust")).count_upto(1).await.unwrap(), 1);
    assert_eq!(db.query::<Post>().filter(Post::views().eq(45)).count().await.unwrap(), 2);
    assert_eq!(db.query::<Post>().filter(Post::views_plain().eq(45)).count_upto(5).await.unwrap(), 2);
    assert_eq!(db.query::<Post>().offset(4).count().await.unwrap(), 2);
    assert_eq!(db.query::<Post>().limit(5).offset(3).count().await.unwrap(), 3);
    assert!(db.query::<Post>().filter(Post::title().eq("Go channels")).exists().await.unwrap());
    assert!(!db.query::<Post>().filter(Post::title().eq("Haskell")).exists().await.unwrap());
    assert_eq!(db.query::<User>().count().await.unwrap(), 0);
}

/// A second record with a unique value is rejected, naming field and value; nothing changes.
pub async fn unique_violation<B: Backend>(db: &Database<B>) {
    let mut ann = User { username: "ann".into(), email: "same@x".into(), age: 1 };
    db.save(&mut ann).await.unwrap();
    let mut bob = User { username: "bob".into(), email: "same@x".into(), age: 2 };
    let err = db.save(&mut bob).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation);
    assert_eq!(err.field(), Some("email"));
    assert!(
        err.to_string().contains("User") && err.to_string().contains("email") && err.to_string().contains("\"same@x\""),
        "{err}"
    );
    assert_eq!(db.get::<User>("bob").await.unwrap(), None);
    let mut batch = vec![
        User { username: "cy".into(), email: "cy@x".into(), age: 3 },
        User { username: "dee".into(), email: "same@x".into(), age: 4 },
    ];
    let err = db.save_many(&mut batch).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation);
    assert_eq!(err.item(), Some(1), "the error names the failed item: {err}");
    ann.email = "new@x".into();
    db.save(&mut ann).await.unwrap();
    bob.email = "same@x".into();
    db.save(&mut bob).await.expect("the old value is free again");
    let found = db.query::<User>().filter(User::email().eq("same@x")).all().await.unwrap();
    assert_eq!(found, vec![bob]);
}

async fn write_wide<B: Backend>(db: &Database<B>) {
    let mut wide = WideProfile { id: 1, name: "Ann".into(), legacy: "keep me".into(), legacy_number: 7 };
    db.save(&mut wide).await.unwrap();
}

async fn assert_legacy_kept<B: Backend>(db: &Database<B>, name: &str) {
    let wide: WideProfile = db.get(1).await.unwrap().unwrap();
    assert_eq!(wide.name, name);
    assert_eq!((wide.legacy.as_str(), wide.legacy_number), ("keep me", 7));
}

/// Unknown fields survive a load-modify-save through an `Extra` field.
pub async fn unknown_fields_survive_with_extra<B: Backend>(db: &Database<B>) {
    write_wide(db).await;
    let mut p: ProfileWithExtra = db.get(1).await.unwrap().unwrap();
    assert_eq!(p.extra.names(), ["legacy", "legacy_number"]);
    assert_eq!(p.extra.get("legacy").unwrap(), Some(Value::String("keep me".into())));
    p.name = "Ann B".into();
    db.save(&mut p).await.unwrap();
    assert_legacy_kept(db, "Ann B").await;
}

/// Unknown fields survive a load-modify-save even without an `Extra` field.
pub async fn unknown_fields_survive_without_extra<B: Backend>(db: &Database<B>) {
    write_wide(db).await;
    let mut p: ProfileNarrow = db.get(1).await.unwrap().unwrap();
    p.name = "Ann C".into();
    db.save(&mut p).await.unwrap();
    assert_legacy_kept(db, "Ann C").await;
}

/// A document of the wrong shape names model, field, expected and found type, and key.
pub async fn wrong_shape_is_a_clear_error<B: Backend>(db: &Database<B>) {
    write_wide(db).await;
    let err = db.get::<ProfileWrongShape>(1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.model(), Some("ProfileWrongShape"));
    assert_eq!(err.field(), Some("legacy"));
    let msg = err.to_string();
    assert!(msg.contains("expected integer") && msg.contains("found string") && msg.contains("key 1"), "{msg}");
    let err = db.query::<ProfileWrongShape>().all().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
}

/// Values that cannot be stored are errors naming the field; nothing is written.
pub async fn bad_values_are_rejected_and_nothing_is_written<B: Backend>(db: &Database<B>) {
    let mut e = everything(9);
    e.u64 = u64::MAX;
    let err = db.save(&mut e).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encode);
    assert_eq!(err.field(), Some("u64"));
    e.u64 = 1;
    e.dict.insert("bad\0key".into(), Value::Null);
    assert_eq!(db.save(&mut e).await.unwrap_err().kind(), ErrorKind::Encode);
    e.dict.remove("bad\0key");
    e.blob = Blob(vec![0; crate::core::codec::MAX_DOCUMENT_SIZE]);
    let err = db.save(&mut e).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    assert_eq!(db.get::<Everything>(9).await.unwrap(), None);
    let mut batch = vec![everything(10), everything(11)];
    batch[1].u128 = u128::MAX;
    let err = db.save_many(&mut batch).await.unwrap_err();
    assert_eq!(err.item(), Some(1));
    assert_eq!(db.get::<Everything>(10).await.unwrap(), None, "a failed batch writes nothing");
}

/// Rows carry the record and its related selections and annotations by name.
pub async fn structured_rows<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let rows = db.query::<Post>().filter(Post::title().eq("Go channels")).rows().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].record.title, "Go channels");
    assert!(rows[0].related.is_empty() && rows[0].annotations.is_empty());
    assert!(rows[0].annotation("missing").is_none());
}

/// Indexes agree with records after writes and deletes; rebuild keeps them right.
pub async fn integrity_check_and_rebuild<B: Backend>(db: &Database<B>) {
    let posts = seed(db).await;
    let mut p = posts[0].clone();
    p.tags.push("extra".into());
    p.title = "Renamed".into();
    db.save(&mut p).await.unwrap();
    db.delete(p.key().unwrap()).await.unwrap();
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(report.records >= 5 && report.entries > 0, "{report:?}");
    assert!(db.rebuild_indexes().await.unwrap() > 0);
    assert!(db.integrity_check().await.unwrap().is_ok());
    assert_eq!(db.query::<Post>().filter(Post::tags().contains("rust")).count().await.unwrap(), 1);
}

/// `in` lookups larger than the limit are split, merged, de-duplicated and ordered.
pub async fn large_in_lookups_are_split<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let small = db.clone().with_max_in_values(2);
    let views = [300i64, 0, 45, 7, 45, 1000, 120];
    let whole =
        db.query::<Post>().filter(Post::views().is_in(views)).order_by(Post::views_plain().desc()).all().await.unwrap();
    let split = small
        .query::<Post>()
        .filter(Post::views().is_in(views))
        .order_by(Post::views_plain().desc())
        .all()
        .await
        .unwrap();
    assert_eq!(titles(&split), titles(&whole));
    assert_eq!(split.len(), 6, "no duplicates");
    let paged = small
        .query::<Post>()
        .filter(Post::views_plain().is_in(views))
        .order_by(Post::views().asc())
        .offset(1)
        .limit(3)
        .all()
        .await
        .unwrap();
    assert_eq!(titles(&paged), ["Go channels", "Rust async", "Ruby blocks"]);
    let titles_in = ["Go channels", "Rust async", "nope", "Ruby blocks", "Go channels", "rusty tools"];
    assert_eq!(small.query::<Post>().filter(Post::title().is_in(titles_in)).count().await.unwrap(), 4);
    assert_eq!(small.query::<Post>().filter(Post::title_plain().is_in(titles_in)).count_upto(2).await.unwrap(), 2);
}

/// Updates run in the store, return matched and modified counts, and keep indexes right.
pub async fn atomic_updates<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let rust = || db.query::<Post>().filter(Post::tags().contains("rust"));
    let done = rust().update().inc(Post::views(), 1000).push(Post::tags(), "hot").await.unwrap();
    assert_eq!((done.matched, done.modified), (2, 2));
    let hot =
        db.query::<Post>().filter(Post::tags().contains("hot")).order_by(Post::views().asc()).all().await.unwrap();
    assert_eq!(titles(&hot), ["Rust async", "Rust ownership"]);
    assert_eq!(hot[0].views, 1045);
    assert_eq!(db.query::<Post>().filter(Post::views().gte(1000)).count().await.unwrap(), 2, "the index follows");
    let done =
        db.query::<Post>().filter(Post::title().eq("Go channels")).update().set(Post::title(), "Go").await.unwrap();
    assert_eq!((done.matched, done.modified), (1, 1));
    assert!(db.query::<Post>().filter(Post::title().eq("Go")).exists().await.unwrap());
    assert!(!db.query::<Post>().filter(Post::title().eq("Go channels")).exists().await.unwrap());
    let same = db.query::<Post>().filter(Post::title().eq("Go")).update().set(Post::title(), "Go").await.unwrap();
    assert_eq!((same.matched, same.modified), (1, 0));
    let pulled = db.query::<Post>().update().pull(Post::tags(), "async").await.unwrap();
    assert_eq!((pulled.matched, pulled.modified), (6, 2));
    assert_eq!(db.query::<Post>().filter(Post::tags().contains("async")).count().await.unwrap(), 0);
    let none = db.query::<Post>().filter(Post::views().gt(1_000_000)).update().inc(Post::views(), 1).await.unwrap();
    assert_eq!((none.matched, none.modified), (0, 0));
    let err = db.query::<Post>().update().set(Post::views(), 1).inc(Post::views(), 1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let mut ann = User { username: "ann".into(), email: "a@x".into(), age: 1 };
    let mut bob = User { username: "bob".into(), email: "b@x".into(), age: 2 };
    db.save(&mut ann).await.unwrap();
    db.save(&mut bob).await.unwrap();
    let err = db.query::<User>().filter(User::email().eq("b@x")).update().set(User::email(), "a@x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation, "{err}");
    assert_eq!(db.get::<User>("bob").await.unwrap().unwrap().email, "b@x");
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// Conditions on one element of a list of embedded models hold together (`$elemMatch`).
pub async fn conditions_on_one_list_element<B: Backend>(db: &Database<B>) {
    seed(db).await;
    // "Ruby blocks" has dee (votes 0) and bob (votes 1); "Rust ownership" bob (0) and cy (1).
    let any = Query::<Post>::new().filter(Post::comments().author().eq("bob")).filter(Post::comments().votes().eq(1));
    assert_eq!(matching(db, any).await, ["Ruby blocks", "Rust ownership"], "separate conditions: any elements");
    let same = Query::<Post>::new().filter(Post::comments().elem_match(|c| [c.author().eq("bob"), c.votes().eq(1)]));
    assert_eq!(matching(db, same).await, ["Ruby blocks"], "one element must satisfy both");
    let nested = Query::<Post>::new().filter(Post::comments().elem_match(|c| [c.replies().author().eq("zed")]));
    assert_eq!(matching(db, nested).await, ["Rust async"]);
}

/// `only` and `defer` load some fields; the others take their type's default.
pub async fn only_and_defer<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let light = db
        .query::<Post>()
        .filter(Post::title().eq("Rust async"))
        .defer(Post::comments().value())
        .defer(Post::title_plain())
        .all()
        .await
        .unwrap();
    assert_eq!(light.len(), 1);
    assert!(light[0].comments.is_empty() && light[0].title_plain.is_empty());
    assert_eq!((light[0].title.as_str(), light[0].views), ("Rust async", 45));
    assert!(light[0].id.is_some(), "the key always loads");
    let only =
        db.query::<Post>().filter(Post::views().eq(300)).only(Post::title()).only(Post::author()).rows().await.unwrap();
    assert_eq!(only[0].record.title, "Python typing");
    assert_eq!((only[0].record.views, only[0].record.tags.len()), (0, 0));
    let full = db.query::<Post>().filter(Post::views().eq(300)).all().await.unwrap();
    assert_eq!(full[0].tags, ["python"], "a plain query loads everything");
    let err = db.query::<Post>().only(Post::title()).all().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "a Ref has no default: {err}");
    assert!(err.to_string().contains("author") && err.to_string().contains("not loaded"), "{err}");
}
