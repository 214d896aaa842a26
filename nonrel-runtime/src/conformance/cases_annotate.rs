//! Annotations (`annotate::len`, `annotate::count_of`) on seeded random data, checked against
//! an oracle computed in memory: with conditions, ordering, offset and limit, projections,
//! related selections and `in` lookups split at a small limit; and the errors of bad input.
//! Every backend gives the same values.
#![allow(missing_docs)]

use crate::conformance::Rng;
use crate::{annotate, Backend, Database, ErrorKind, Key, Query, Ref};

/// A post with a list that is always there and one that may be null.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_an_posts")]
pub struct AnPost {
    #[field(key)]
    pub id: Option<Key<AnPost>>,
    #[field(index)]
    pub n: i32,
    pub tags: Vec<String>,
    pub labels: Option<Vec<i32>>,
    pub body: String,
}

/// A note on a post (or on none), approved or not; its reference is indexed.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_an_notes")]
pub struct AnNote {
    #[field(key)]
    pub id: Option<Key<AnNote>>,
    #[field(index)]
    pub post: Option<Ref<AnPost>>,
    pub approved: bool,
}

/// A mention of several posts (a post may be listed twice) and notes; its lists are not
/// indexed.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_an_mentions")]
pub struct AnMention {
    #[field(key)]
    pub id: Option<Key<AnMention>>,
    pub posts: Vec<Ref<AnPost>>,
    pub notes: Vec<Ref<AnNote>>,
}

const POSTS: usize = 40;

/// What the oracle expects of one post.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    tags: u64,
    labels: u64,
    notes: u64,
    approved: u64,
    mentions: u64,
}

/// The seeded records: the posts' and notes' keys, what each post expects, and how many
/// mentions list each note.
struct Seeded {
    keys: Vec<Key<AnPost>>,
    want: Vec<Expected>,
    notes: Vec<Key<AnNote>>,
    note_mentions: Vec<u64>,
}

/// Seeds posts, notes and mentions.
async fn seed<B: Backend>(db: &Database<B>) -> Seeded {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut posts: Vec<AnPost> = (0..POSTS)
        .map(|i| {
            let tags = (0..rng.below_u64(5)).map(|t| format!("t{t}")).collect();
            let labels = match rng.below_u64(3) {
                0 => None,
                _ => Some((0..rng.below_u64(4) as i32).collect()),
            };
            AnPost { id: None, n: i as i32, tags, labels, body: format!("body {i}") }
        })
        .collect();
    let keys = db.save_many(&mut posts).await.expect("posts");
    let mut want: Vec<Expected> = posts
        .iter()
        .map(|p| Expected {
            tags: p.tags.len() as u64,
            labels: p.labels.as_ref().map_or(0, Vec::len) as u64,
            notes: 0,
            approved: 0,
            mentions: 0,
        })
        .collect();
    // Posts from 30 on get no notes; about one note in eight refers to no post.
    let mut notes: Vec<AnNote> = (0..150)
        .map(|_| {
            let post = match rng.below_u64(8) {
                0 => None,
                _ => Some(rng.below_u64(30) as usize),
            };
            let approved = rng.below_u64(2) == 0;
            if let Some(p) = post {
                want[p].notes += 1;
                want[p].approved += u64::from(approved);
            }
            AnNote { id: None, post: post.map(|p| keys[p].clone().into()), approved }
        })
        .collect();
    let note_keys = db.save_many(&mut notes).await.expect("notes");
    let mut note_mentions = vec![0u64; note_keys.len()];
    let mut mentions: Vec<AnMention> = (0..25)
        .map(|_| {
            let listed: Vec<usize> = (0..rng.below_u64(4)).map(|_| rng.below_u64(POSTS as u64) as usize).collect();
            let mut counted = listed.clone();
            counted.sort_unstable();
            counted.dedup();
            for &p in &counted {
                want[p].mentions += 1;
            }
            let mut noted: Vec<usize> =
                (0..rng.below_u64(3)).map(|_| rng.below_u64(note_keys.len() as u64) as usize).collect();
            noted.sort_unstable();
            noted.dedup();
            for &n in &noted {
                note_mentions[n] += 1;
            }
            let posts = listed.iter().map(|&p| keys[p].clone().into()).collect();
            AnMention { id: None, posts, notes: noted.iter().map(|&n| note_keys[n].clone().into()).collect() }
        })
        .collect();
    db.save_many(&mut mentions).await.expect("mentions");
    Seeded { keys, want, notes: note_keys, note_mentions }
}

/// Every annotation of the full set on a query.
fn annotated<On>(q: Query<AnPost, On>) -> Query<AnPost, On> {
    q.annotate("n_tags", annotate::len(AnPost::tags()))
        .annotate("n_labels", annotate::len(AnPost::labels()))
        .annotate("notes", annotate::count_of(AnNote::post()))
        .annotate("approved", annotate::count_of(AnNote::post()).filter(AnNote::approved().eq(true)))
        .annotate("mentions", annotate::count_of(AnMention::posts()))
}

/// Checks each row's annotations against the oracle; returns the rows' `n` in order.
fn check(rows: &[crate::Record<AnPost>], keys: &[Key<AnPost>], want: &[Expected], what: &str) -> Vec<i32> {
    for r in rows {
        let key = r.record.id.clone().expect("a key");
        let at = keys.iter().position(|k| *k == key).expect("a seeded post");
        let read = |name: &str| {
            r.annotation_as::<u64>(name).expect("reads as u64").unwrap_or_else(|| panic!("{what}: {name} missing"))
        };
        let got = Expected {
            tags: read("n_tags"),
            labels: read("n_labels"),
            notes: read("notes"),
            approved: read("approved"),
            mentions: read("mentions"),
        };
        assert_eq!(got, want[at], "{what}: post {at}");
        let names: Vec<&str> = r.annotations.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["n_tags", "n_labels", "notes", "approved", "mentions"], "{what}: in the order asked");
    }
    rows.iter().map(|r| r.record.n).collect()
}

/// Annotations agree with the oracle on every shape of query, and with `in` lookups split.
pub async fn annotations_agree_with_an_oracle<B: Backend>(db: &Database<B>) {
    let Seeded { keys, want, notes, note_mentions } = seed(db).await;
    for (label, db) in [("default", db.clone()), ("split at 7", db.clone().with_max_in_values(7))] {
        let rows = annotated(db.query::<AnPost>()).rows().await.expect("all");
        assert_eq!(rows.len(), POSTS, "{label}");
        check(&rows, &keys, &want, label);

        let q = annotated(db.query::<AnPost>()).filter(AnPost::n().gte(10)).order_by(AnPost::n().desc());
        let rows = q.offset(3).limit(20).rows().await.expect("filtered");
        let ns = check(&rows, &keys, &want, label);
        assert_eq!(ns, (17..=36).rev().collect::<Vec<_>>(), "{label}: filter, order, offset, limit");

        // Fields deferred or left out still count; the records decode as the projection says.
        let rows = annotated(db.query::<AnPost>()).defer(AnPost::tags()).defer(AnPost::labels()).rows().await;
        let rows = rows.expect("deferred");
        check(&rows, &keys, &want, label);
        assert!(rows.iter().all(|r| r.record.tags.is_empty() && r.record.labels.is_none()), "{label}: deferred");
        let rows = annotated(db.query::<AnPost>()).only(AnPost::n()).rows().await.expect("only");
        check(&rows, &keys, &want, label);
        assert!(rows.iter().all(|r| r.record.tags.is_empty() && r.record.body.is_empty()), "{label}: only n");
        let rows = annotated(db.query::<AnPost>()).only(AnPost::tags()).rows().await.expect("only tags");
        check(&rows, &keys, &want, label);
        for r in &rows {
            let at = keys.iter().position(|k| Some(k) == r.record.id.as_ref()).expect("a seeded post");
            assert_eq!(r.record.tags.len() as u64, want[at].tags, "{label}: only tags: loaded");
            assert!(r.record.labels.is_none() && r.record.n == 0, "{label}: only tags: the rest left out");
        }

        // With related selections: the reverse prefetch's sets agree with the counts.
        let q = annotated(db.query::<AnPost>()).prefetch_reverse(AnNote::post()).filter(AnPost::n().lt(35));
        let rows = q.rows().await.expect("with a prefetch");
        assert_eq!(rows.len(), 35);
        check(&rows, &keys, &want, label);
        for r in &rows {
            let notes = r.reverse(AnNote::post()).expect("notes");
            assert_eq!(Some(notes.len() as u64), r.annotation_as::<u64>("notes").unwrap(), "{label}");
        }
        // A list of references prefetched and counted.
        let rows = db
            .query::<AnMention>()
            .prefetch_related(AnMention::posts())
            .annotate("n_posts", annotate::len(AnMention::posts()))
            .rows()
            .await
            .expect("mentions");
        assert_eq!(rows.len(), 25);
        for r in &rows {
            let listed = r.related_many(AnMention::posts()).expect("posts").len() as u64;
            assert_eq!(r.annotation_as::<u64>("n_posts").unwrap(), Some(listed), "{label}");
            assert_eq!(listed, r.record.posts.len() as u64);
        }
        // Notes with their post selected (MongoDB's `$lookup` where it runs one), only the
        // reference loaded, and how many mentions list each.
        let rows = db
            .query::<AnNote>()
            .select_related(AnNote::post())
            .only(AnNote::post())
            .annotate("mentioned", annotate::count_of(AnMention::notes()))
            .rows()
            .await
            .expect("notes");
        assert_eq!(rows.len(), 150);
        for r in &rows {
            let at = notes.iter().position(|k| Some(k) == r.record.id.as_ref()).expect("a seeded note");
            assert_eq!(r.annotation_as::<u64>("mentioned").unwrap(), Some(note_mentions[at]), "{label}: note {at}");
            let post = r.related(AnNote::post()).expect("post");
            assert_eq!(post.and_then(|p| p.id), r.record.post.as_ref().map(|p| p.key().clone()), "{label}");
            assert!(!r.record.approved, "{label}: only the reference loaded");
        }
        let plain = db.query::<AnNote>().select_related(AnNote::post()).rows().await.expect("notes");
        assert!(plain.iter().all(|r| r.annotations.is_empty()));

        // No rows: nothing to count; rows without annotations have none.
        let none = annotated(db.query::<AnPost>()).filter(AnPost::n().gt(1000)).rows().await.expect("none");
        assert!(none.is_empty());
        let plain = db.query::<AnPost>().limit(3).rows().await.expect("plain");
        assert!(plain.iter().all(|r| r.annotations.is_empty() && r.annotation("n_tags").is_none()));
    }
}

/// Bad input: a name given twice or also a relation's name, and a read as the wrong type,
/// are errors naming the model and the annotation; none panics.
pub async fn annotation_errors_name_the_annotation<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let twice = db
        .query::<AnPost>()
        .annotate("count", annotate::len(AnPost::tags()))
        .annotate("count", annotate::count_of(AnNote::post()));
    let e = twice.rows().await.expect_err("a name given twice");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("\"count\"") && e.to_string().contains("AnPost"), "{e}");

    let clash = db
        .query::<AnMention>()
        .prefetch_related(AnMention::posts())
        .annotate("posts", annotate::len(AnMention::posts()));
    let e = clash.rows().await.expect_err("the name of a relation");
    assert!(e.to_string().contains("\"posts\"") && e.to_string().contains("AnMention"), "{e}");

    let rows = db.query::<AnPost>().annotate("n_tags", annotate::len(AnPost::tags())).rows().await.expect("rows");
    for r in &rows {
        let e = r.annotation_as::<String>("n_tags").expect_err("a count is no text");
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert!(e.to_string().contains("n_tags") && e.to_string().contains("AnPost"), "{e}");
        assert!(r.annotation_as::<bool>("n_tags").is_err());
        assert!(r.annotation_as::<i32>("n_tags").is_ok(), "a small count reads as i32 too");
        assert_eq!(r.annotation_as::<u64>("absent").expect("no such annotation"), None);
    }
}
