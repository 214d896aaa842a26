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
    assert_eq!(
        take(&seen),
        ["find", "update", "find"],
        "100 holders: one read of their 10 authors, one write, one re-read of the authors (a rename \
         committed in between is then copied again)"
    );
    let mut user = db.get(&keys[0]).await.unwrap().unwrap();
    take(&seen);
    user.name = "renamed".into();
    db.save(&mut user).await.unwrap();
    assert_eq!(
        take(&seen),
        ["update", "update", "update", "find", "delete"],
        "the outbox note, the user, every copy of its name in one update, a re-read of the user \
         (a newer name would be copied again), then the note removed"
    );
    let n = db.query::<Post>().filter(Post::author().join(User::name()).eq("renamed")).count().await.unwrap();
    assert_eq!(n, 20);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// A tag that articles list.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rt_pf_tags")]
struct Tag {
    #[field(key)]
    id: Option<Key<Tag>>,
    label: String,
    about: String,
}

/// An article: an author, an optional editor and a list of tags.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rt_pf_articles")]
struct Article {
    #[field(key)]
    id: Option<Key<Article>>,
    #[field(index)]
    n: i64,
    #[field(index)]
    author: Ref<User>,
    editor: Option<Ref<User>>,
    #[field(index)]
    tags: Vec<Ref<Tag>>,
}

/// Ten users and twenty tags; 100 articles, article `n` by user `n % 10`, edited by user
/// `(n + 1) % 10` when `n` is even, tagged with tags `n % 20`, `(n + 7) % 20` and `n % 20`
/// again.
async fn seed_articles(db: &Database<Mongo>) -> (Vec<Key<User>>, Vec<Key<Tag>>) {
    let users = seed(db).await;
    let mut tags: Vec<Tag> =
        (0..20).map(|i| Tag { id: None, label: format!("tag {i}"), about: "y".repeat(100) }).collect();
    let tags = db.save_many(&mut tags).await.unwrap();
    let mut articles: Vec<Article> = (0..100usize)
        .map(|n| Article {
            id: None,
            n: n as i64,
            author: users[n % 10].clone().into(),
            editor: (n % 2 == 0).then(|| users[(n + 1) % 10].clone().into()),
            tags: [n % 20, (n + 7) % 20, n % 20].map(|i| tags[i].clone().into()).to_vec(),
        })
        .collect();
    db.save_many(&mut articles).await.unwrap();
    (users, tags)
}

#[tokio::test]
async fn select_related_on_optional_refs_costs_one_round_trip_by_lookup_and_two_by_key_reads() {
    let (db, seen) = monitored("prefetch").await;
    seed_articles(&db).await;
    for (db, want) in [
        (db.clone(), vec!["aggregate"]),
        (with(&db, JoinStrategy::TwoStep, RelatedStrategy::KeyRead), vec!["find", "find"]),
    ] {
        for parents in [1, 100] {
            take(&seen);
            let rows = db
                .query::<Article>()
                .order_by(Article::n().asc())
                .limit(parents)
                .select_related(Article::editor())
                .defer_related(User::bio())
                .rows()
                .await
                .unwrap();
            assert_eq!(take(&seen), want, "{parents} parents");
            assert_eq!(rows.len(), parents);
            for r in &rows {
                let editor = r.related(Article::editor()).unwrap();
                match r.record.n % 2 {
                    0 => {
                        let e = editor.expect("even articles have an editor");
                        assert_eq!((e.name, e.bio), (format!("user {}", (r.record.n + 1) % 10), String::new()));
                    }
                    _ => assert_eq!(editor, None, "odd articles have none"),
                }
            }
        }
    }
}

#[tokio::test]
async fn prefetch_related_costs_two_round_trips_for_any_number_of_parents() {
    let (db, seen) = monitored("prefetch").await;
    seed_articles(&db).await;
    for parents in [1, 100] {
        take(&seen);
        let rows = db
            .query::<Article>()
            .order_by(Article::n().asc())
            .limit(parents)
            .prefetch_related(Article::tags())
            .defer_related(Tag::about())
            .rows()
            .await
            .unwrap();
        assert_eq!(take(&seen), ["find", "find"], "{parents} parents: the query, then one read of every list's keys");
        for r in &rows {
            let tags = r.related_many(Article::tags()).unwrap();
            let n = r.record.n as usize;
            let want = [n % 20, (n + 7) % 20, n % 20].map(|i| format!("tag {i}"));
            assert_eq!(tags.iter().map(|t| t.label.clone()).collect::<Vec<_>>(), want, "the list's order");
            assert!(tags.iter().all(|t| t.about.is_empty()), "deferred: not sent");
        }
    }
    // Past the `in` limit, the key read is split: 20 distinct tags by 8 make three reads.
    let split = db.clone().with_max_in_values(8);
    take(&seen);
    let rows = split.query::<Article>().prefetch_related(Article::tags()).rows().await.unwrap();
    assert_eq!(rows.len(), 100);
    assert_eq!(take(&seen), ["find", "find", "find", "find"], "the query, then 3 reads of at most 8 keys");
}

#[tokio::test]
async fn prefetch_reverse_costs_two_round_trips_for_any_number_of_parents() {
    let (db, seen) = monitored("prefetch").await;
    let (users, _) = seed_articles(&db).await;
    for parents in [1, 10] {
        take(&seen);
        let rows = db
            .query::<User>()
            .filter(User::name().is_in((0..parents).map(|i| format!("user {i}"))))
            .prefetch_reverse(Article::author())
            .prefetch_reverse(Article::editor())
            .rows()
            .await
            .unwrap();
        assert_eq!(
            take(&seen),
            ["find", "find", "find"],
            "{parents} parents: the query, then one `in` per reverse set"
        );
        assert_eq!(rows.len(), parents);
        for r in &rows {
            let i = users.iter().position(|k| Some(k) == r.record.id.as_ref()).expect("a seeded user") as i64;
            let wrote: Vec<i64> = r.reverse(Article::author()).unwrap().into_iter().map(|a| a.n).collect();
            assert_eq!(wrote, (0..10).map(|k| i + 10 * k).collect::<Vec<_>>(), "user {i}'s articles, in key order");
            let edited: Vec<i64> = r.reverse(Article::editor()).unwrap().into_iter().map(|a| a.n).collect();
            let want: Vec<i64> = if i % 2 == 1 { (0..10).map(|k| i - 1 + 10 * k).collect() } else { Vec::new() };
            assert_eq!(edited, want, "odd users edit the (even) articles of the user before them");
        }
    }
    take(&seen);
    let rows = db.query::<User>().prefetch_reverse(Article::author()).rows().await.unwrap();
    assert_eq!(take(&seen), ["find", "find"], "every user: the query, then one `in` of their keys");
    assert!(rows.iter().all(|r| r.reverse(Article::author()).unwrap().len() == 10));
    let split = db.clone().with_max_in_values(4);
    take(&seen);
    let rows = split.query::<User>().prefetch_reverse(Article::author()).rows().await.unwrap();
    assert_eq!(take(&seen), ["find", "find", "find", "find"], "the query, then the `in` of 10 keys split by 4");
    assert!(rows.iter().all(|r| r.reverse(Article::author()).unwrap().len() == 10));
}

#[tokio::test]
async fn every_kind_of_selection_costs_one_round_trip_each_after_the_query() {
    let (db, seen) = monitored("prefetch").await;
    seed_articles(&db).await;
    take(&seen);
    let rows = db
        .query::<Article>()
        .select_related(Article::author())
        .select_related(Article::editor())
        .prefetch_related(Article::tags())
        .rows()
        .await
        .unwrap();
    assert_eq!(take(&seen), ["aggregate", "find"], "the query with both $lookups, then one read of the tags");
    assert_eq!(rows.len(), 100);
    assert!(rows.iter().all(|r| r.related(Article::author()).unwrap().is_some()));
    assert!(rows.iter().all(|r| r.related_many(Article::tags()).unwrap().len() == 3));
}
