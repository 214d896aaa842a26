//! JOINs and related selections on MongoDB: round trips counted with the driver's command
//! monitoring (F2, F15).

mod support;

use support::{monitored, take};

use nonrel_runtime::mongo::{JoinStrategy, RelatedStrategy};
use nonrel_runtime::{Database, Key, Model, Mongo, Ref};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rt_users")]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    #[field(index)]
    name: String,
    bio: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rt_posts", denormalize(author.name))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    n: i64,
    #[field(index)]
    author: Ref<User>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rt_notes")]
struct Note {
    #[field(key)]
    id: Option<Key<Note>>,
    #[field(index)]
    author: Ref<User>,
}

/// Ten users, each the author of ten posts and ten notes.
async fn seed(db: &Database<Mongo>) -> Vec<Key<User>> {
    let mut users: Vec<User> =
        (0..10).map(|i| User { id: None, name: format!("user {i}"), bio: "x".repeat(100) }).collect();
    let keys = db.save_many(&mut users).await.unwrap();
    let mut posts: Vec<Post> =
        (0..100).map(|n| Post { id: None, n, author: keys[n as usize % 10].clone().into() }).collect();
    db.save_many(&mut posts).await.unwrap();
    let mut notes: Vec<Note> = (0..100).map(|n| Note { id: None, author: keys[n % 10].clone().into() }).collect();
    db.save_many(&mut notes).await.unwrap();
    keys
}

/// The same database seen through a handle with other strategies.
fn with(db: &Database<Mongo>, joins: JoinStrategy, related: RelatedStrategy) -> Database<Mongo> {
    Database::new(db.backend().clone().with_join_strategy(joins).with_related_strategy(related))
}

/// The first `parents` posts with their authors (bio deferred), checked.
async fn posts_with_authors(db: &Database<Mongo>, parents: usize) {
    let rows = db
        .query::<Post>()
        .order_by(Post::n().asc())
        .limit(parents)
        .select_related(Post::author())
        .defer_related(User::bio())
        .rows()
        .await
        .unwrap();
    assert_eq!(rows.len(), parents);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.record.n, i as i64, "the query's order");
        let author = r.related(Post::author()).unwrap().expect("loaded");
        assert_eq!(author.name, format!("user {}", r.record.n % 10));
        assert_eq!(author.bio, "", "deferred: not sent");
    }
}

#[tokio::test]
async fn select_related_costs_one_round_trip_for_any_number_of_parents() {
    let (db, seen) = monitored("joins").await;
    seed(&db).await;
    take(&seen);
    for parents in [1, 100] {
        posts_with_authors(&db, parents).await;
        assert_eq!(take(&seen), ["aggregate"], "{parents} parents: the query and one $lookup of the authors");
    }
}

#[tokio::test]
async fn select_related_by_key_read_costs_two_round_trips_for_any_number_of_parents() {
    let (db, seen) = monitored("joins").await;
    seed(&db).await;
    let db = with(&db, JoinStrategy::TwoStep, RelatedStrategy::KeyRead);
    take(&seen);
    for parents in [1, 100] {
        posts_with_authors(&db, parents).await;
        assert_eq!(take(&seen), ["find", "find"], "{parents} parents: the query, then one find of the related keys");
    }
}

#[tokio::test]
async fn joins_cost_one_round_trip_on_a_copy_or_by_lookup_and_two_in_two_steps() {
    let (db, seen) = monitored("joins").await;
    seed(&db).await;
    take(&seen);
    let posts = db.query::<Post>().filter(Post::author().join(User::name()).eq("user 3")).all().await.unwrap();
    assert_eq!(posts.len(), 10);
    assert_eq!(take(&seen), ["find"], "the copy is a field of the post");
    let notes = db.query::<Note>().filter(Note::author().join(User::name()).eq("user 3")).all().await.unwrap();
    assert_eq!(notes.len(), 10);
    assert_eq!(take(&seen), ["aggregate"], "by default: the user, then a $lookup of its notes");
    let n = db.query::<Note>().filter(Note::author().join(User::name()).eq("user 3")).count().await.unwrap();
    assert_eq!(n, 10);
    assert_eq!(take(&seen), ["find", "aggregate"], "a count: the user's key, then a count of the `$in`");
    let two_steps = with(&db, JoinStrategy::TwoStep, RelatedStrategy::Lookup);
    let notes = two_steps.query::<Note>().filter(Note::author().join(User::name()).eq("user 3")).all().await.unwrap();
    assert_eq!(notes.len(), 10);
    assert_eq!(take(&seen), ["find", "find"], "the user's key, then one `$in` on the reference");
}

#[tokio::test]
async fn joins_by_lookup_cost_one_round_trip() {
    let (db, seen) = monitored("joins").await;
    seed(&db).await;
    for strategy in [JoinStrategy::Lookup, JoinStrategy::LookupFromRelated] {
        let db = with(&db, strategy, RelatedStrategy::Lookup);
        take(&seen);
        let notes = db.query::<Note>().filter(Note::author().join(User::name()).eq("user 3")).all().await.unwrap();
        assert_eq!(notes.len(), 10, "{strategy:?}");
        assert_eq!(take(&seen), ["aggregate"], "{strategy:?}: one aggregate with $lookup");
        let rows = db
            .query::<Note>()
            .filter(Note::author().join(User::name()).is_in(["user 3", "user 4"]))
            .limit(5)
            .select_related(Note::author())
            .rows()
            .await
            .unwrap();
        assert_eq!(rows.len(), 5, "{strategy:?}");
        assert_eq!(take(&seen), ["aggregate"], "{strategy:?}: the join and the related records in one aggregate");
        for r in &rows {
            let author = r.related(Note::author()).unwrap().expect("loaded");
            assert!(author.name == "user 3" || author.name == "user 4", "{strategy:?}: {}", author.name);
            assert_eq!(author.bio, "x".repeat(100), "{strategy:?}: the whole record");
        }
    }
}

#[tokio::test]
async fn a_join_with_an_in_larger_than_one_command_takes_runs_split_in_two_steps() {
    let (db, seen) = monitored("joins").await;
    seed(&db).await;
    let split = db.clone().with_max_in_values(1);
    take(&seen);
    let notes = split
        .query::<Note>()
        .filter(Note::author().join(User::name()).is_in(["user 3", "user 4"]))
        .all()
        .await
        .unwrap();
    assert_eq!(notes.len(), 20);
    let commands = take(&seen);
    assert!(commands.len() > 2 && commands.iter().all(|c| c == "find"), "split finds, no aggregate: {commands:?}");
}

#[tokio::test]
async fn a_two_step_join_with_related_records_costs_two_round_trips() {
    let (db, seen) = monitored("joins").await;
    seed(&db).await;
    let db = with(&db, JoinStrategy::TwoStep, RelatedStrategy::Lookup);
    take(&seen);
    let rows = db
        .query::<Note>()
        .filter(Note::author().join(User::name()).eq("user 3"))
        .select_related(Note::author())
        .rows()
        .await
        .unwrap();
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r.related(Note::author()).unwrap().expect("loaded").name == "user 3"));
    assert_eq!(take(&seen), ["find", "aggregate"], "the user's key, then the notes with their $lookup");
}

#[tokio::test]
async fn copies_cost_one_batched_read_per_save_and_one_update_per_changed_record() {
    let (db, seen) = monitored("joins").await;
    let keys = seed(&db).await;
    take(&seen);
    let mut posts: Vec<Post> =
        (0..100).map(|n| Post { id: None, n, author: keys[n as usize % 10].clone().into() }).collect();
    db.save_many(&mut posts).await.unwrap();
    assert_eq!(take(&seen), ["find", "update"], "100 holders: one read of their 10 authors, one write");
    let mut user = db.get(&keys[0]).await.unwrap().unwrap();
    take(&seen);
    user.name = "renamed".into();
    db.save(&mut user).await.unwrap();
    assert_eq!(take(&seen), ["update", "update"], "the user, then every copy of its name in one update");
    let n = db.query::<Post>().filter(Post::author().join(User::name()).eq("renamed")).count().await.unwrap();
    assert_eq!(n, 20);
    assert!(db.integrity_check().await.unwrap().is_ok());
}
