//! JOINs on the embedded backend: a lookup through a copy reads the copy's index, never
//! every record (F15).

use nonrel_runtime::{Database, Key, Model, Query, Ref};

#[derive(Model, Debug)]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    name: String,
}

#[derive(Model, Debug)]
#[model(denormalize(author.name))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: Ref<User>,
}

#[tokio::test]
async fn a_lookup_through_a_copy_reads_its_index() {
    let db = Database::in_memory().unwrap();
    let ann = db.save(&mut User { id: None, name: "ann".into() }).await.unwrap();
    for _ in 0..3 {
        db.save(&mut Post { id: None, author: ann.clone().into() }).await.unwrap();
    }
    let by_ann = Query::<Post>::new().filter(Post::author().join(User::name()).eq("ann").require());
    let explain = db.backend().explain(&by_ann).unwrap();
    assert_eq!(explain.index, Some("_dn_author_name"), "{explain:?}");
    assert_eq!(db.query::<Post>().with(by_ann).count().await.unwrap(), 3);
    let ordered = Query::<Post>::new().order_by(Post::author().join(User::name()).asc().require()).limit(1);
    assert_eq!(db.backend().explain(&ordered).unwrap().index, Some("_dn_author_name"), "ordered by the copy's index");
}

#[tokio::test]
async fn a_file_keeps_copies_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("joins.db");
    {
        let db = Database::open(&path).unwrap();
        let ann = db.save(&mut User { id: None, name: "ann".into() }).await.unwrap();
        db.save(&mut Post { id: None, author: ann.into() }).await.unwrap();
    }
    let db = Database::open(&path).unwrap();
    let n = db.query::<Post>().filter(Post::author().join(User::name()).eq("ann")).count().await.unwrap();
    assert_eq!(n, 1);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

#[derive(Model, Debug)]
#[model(collection = "posts")]
struct PostBefore {
    #[field(key)]
    id: Option<Key<PostBefore>>,
    author: Ref<User>,
}

#[tokio::test]
async fn records_saved_before_a_copy_was_declared_are_found_after_rebuilding_the_model() {
    let db = Database::in_memory().unwrap();
    let ann = db.save(&mut User { id: None, name: "ann".into() }).await.unwrap();
    let old = Key::<User>::from_value(ann.value().clone());
    db.save(&mut PostBefore { id: None, author: old.into() }).await.unwrap();
    let by_ann = || Post::author().join(User::name()).eq("ann");
    assert_eq!(db.query::<Post>().filter(by_ann()).count().await.unwrap(), 0, "no copy yet");
    assert!(db.rebuild_indexes_of::<Post>().await.unwrap() >= 1);
    assert_eq!(db.query::<Post>().filter(by_ann()).count().await.unwrap(), 1);
    assert!(db.integrity_check().await.unwrap().is_ok());
}
