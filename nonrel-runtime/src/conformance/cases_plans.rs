//! One path from a typed query to the backend plan: pages, counts, updates, transaction
//! queries and conditions across a `Ref` all read the index fields of declared emulated
//! lookups, and the whole-database rebuild recomputes those fields.
//!
//! How "the index is read" shows on every backend: records written by a model that does not
//! declare the lookup have no index fields. Queried through a model that declares it, before
//! a rebuild, a plan rewritten onto the index fields cannot find them: the embedded backend
//! reports the index as not filled yet (rather than scanning), MongoDB finds nothing (the
//! records lack the fields). Only a plan left unrewritten (a scan of the field itself, or
//! MongoDB's native `$regex`) would find them. After `rebuild_indexes()` they are found.
#![allow(missing_docs)]

use crate::backend::capability::{Runs, Transactions};
use crate::engine::lookup::{kinds, Emulated};
use crate::engine::related::JoinLookup;
use crate::{Backend, Database, ErrorKind, Key, Query, Ref, Result};

/// Notes as a first version of a program stores them: no declared lookup.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_plan_notes")]
pub struct PlanNoteBefore {
    #[field(key)]
    pub id: i64,
    pub title: String,
    pub rank: i32,
}

/// The same notes seen by a later version that declares lookups on `title`.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_plan_notes")]
pub struct PlanNote {
    #[field(key)]
    pub id: i64,
    #[field(index(icontains, iexact))]
    pub title: String,
    pub rank: i32,
}

/// Members as a first version stores them.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_plan_members")]
pub struct PlanMemberBefore {
    #[field(key)]
    pub id: String,
    pub username: String,
}

/// The same members with `iexact` declared on `username`.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_plan_members")]
pub struct PlanMember {
    #[field(key)]
    pub id: String,
    #[field(index(iexact))]
    pub username: String,
}

/// Entries joined to their author in two steps.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_plan_entries", join_in_memory(author))]
pub struct PlanEntry {
    #[field(key)]
    pub id: i64,
    pub text: String,
    #[field(index)]
    pub author: Ref<PlanMember>,
}

type ByAuthorName = JoinLookup<PlanEntry_fields::author, PlanMember_fields::username, kinds::iexact>;

/// What the cases need of a backend: every backend has it, natively or through the
/// models' declarations.
pub trait PlanBackend: Backend + Runs<Emulated<kinds::icontains, PlanNote_fields::title>> + Runs<ByAuthorName> {}

impl<B> PlanBackend for B where
    B: Backend + Runs<Emulated<kinds::icontains, PlanNote_fields::title>> + Runs<ByAuthorName>
{
}

const TITLES: [&str; 5] = ["Rust in Production", "gardening notes", "Trusty tools", "RUST again", "Go channels"];

/// Notes 1 to 5 (rank = id) and members ann and bob with their entries, all written by the
/// first version: no index fields.
async fn seed_before<B: Backend>(db: &Database<B>) {
    let mut notes: Vec<PlanNoteBefore> =
        (1..).zip(TITLES).map(|(id, t)| PlanNoteBefore { id, title: t.into(), rank: id as i32 }).collect();
    db.save_many(&mut notes).await.expect("notes");
    let mut members = vec![
        PlanMemberBefore { id: "m1".into(), username: "Ann".into() },
        PlanMemberBefore { id: "m2".into(), username: "bob".into() },
    ];
    db.save_many(&mut members).await.expect("members");
    let mut entries = vec![entry(1, "first", "m1"), entry(2, "second", "m2"), entry(3, "third", "m1")];
    db.save_many(&mut entries).await.expect("entries");
}

fn entry(id: i64, text: &str, author: &str) -> PlanEntry {
    PlanEntry { id, text: text.into(), author: Key::from(author).into() }
}

/// Asserts what a query through a declared index that is not filled yet gives: an error
/// saying how to fill it, or nothing; never the records, which only a scan would find.
fn not_scanned<T: std::fmt::Debug>(what: &str, r: Result<T>, found_nothing: impl Fn(&T) -> bool) {
    match r {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{what}: {e}");
            assert!(e.to_string().contains("rebuild_indexes_of"), "{what}: {e}");
        }
        Ok(v) => assert!(found_nothing(&v), "{what} found records without reading the index: {v:?}"),
    }
}

/// A page, a count, an update and a JOIN whose condition is an emulated lookup on the related
/// model all read the declared index: before the rebuild they cannot see records without
/// index fields; after the whole-database rebuild (which recomputes the index fields of every
/// model that declares lookups) they give the right records.
pub async fn every_query_path_reads_declared_lookup_indexes<B: PlanBackend>(db: &Database<B>) {
    seed_before(db).await;
    let rust = || PlanNote::title().icontains("rust");
    let page = || db.query::<PlanNote>().filter(rust()).order_by(PlanNote::rank().asc()).page(2);
    let by_ann = || db.query::<PlanEntry>().filter(PlanEntry::author().join(PlanMember::username()).iexact("ANN"));

    // Before: the records have no index fields.
    not_scanned("a page", page().await, |p| p.items.is_empty());
    not_scanned("a count", db.query::<PlanNote>().filter(rust()).count().await, |n| *n == 0);
    not_scanned("a bounded count", db.query::<PlanNote>().filter(rust()).count_upto(2).await, |n| *n == 0);
    not_scanned("exists", db.query::<PlanNote>().filter(rust()).exists().await, |e| !e);
    not_scanned("a JOIN", by_ann().all().await, Vec::is_empty);
    not_scanned("a JOIN count", by_ann().count().await, |n| *n == 0);
    not_scanned("a query", db.query::<PlanNote>().filter(rust()).all().await, Vec::is_empty);
    // The update comes last: the embedded backend fills a declared index in a write (from
    // the records as stored, so with no entry for them), after which reads find nothing.
    not_scanned("an update", db.query::<PlanNote>().filter(rust()).update().set(PlanNote::rank(), 0).await, |c| {
        c.matched == 0
    });
    let ranks: Vec<i32> = db.query::<PlanNoteBefore>().all().await.unwrap().iter().map(|n| n.rank).collect();
    assert_eq!(ranks, [1, 2, 3, 4, 5], "the update changed nothing");

    // The whole-database rebuild recomputes the index fields of the records saved before.
    db.rebuild_indexes().await.expect("rebuild");

    let first = page().await.expect("page 1");
    let ids: Vec<i64> = first.items.iter().map(|n| n.id).collect();
    assert_eq!(ids, [1, 3]);
    let second = page().after(first.next.expect("a next page")).await.expect("page 2");
    let ids: Vec<i64> = second.items.iter().map(|n| n.id).collect();
    assert_eq!(ids, [4]);
    assert!(second.next.is_none());
    let back = page().before(second.prev.expect("a previous page")).await.expect("back to page 1");
    assert_eq!(back.items.iter().map(|n| n.id).collect::<Vec<_>>(), [1, 3]);

    assert_eq!(db.query::<PlanNote>().filter(rust()).count().await.unwrap(), 3);
    assert_eq!(db.query::<PlanNote>().filter(rust()).count_upto(2).await.unwrap(), 2);
    assert!(db.query::<PlanNote>().filter(rust()).exists().await.unwrap());
    assert!(!db.query::<PlanNote>().filter(PlanNote::title().icontains("python")).exists().await.unwrap());

    let done = db.query::<PlanNote>().filter(rust()).update().set(PlanNote::rank(), 10).await.unwrap();
    assert_eq!((done.matched, done.modified), (3, 3));
    let tens: Vec<i64> =
        db.query::<PlanNote>().filter(PlanNote::rank().eq(10)).all().await.unwrap().iter().map(|n| n.id).collect();
    assert_eq!(tens, [1, 3, 4]);

    let mut texts: Vec<String> = by_ann().all().await.unwrap().into_iter().map(|e| e.text).collect();
    texts.sort();
    assert_eq!(texts, ["first", "third"]);
    assert_eq!(by_ann().count().await.unwrap(), 2);
    let bob = db
        .query::<PlanEntry>()
        .filter(PlanEntry::author().join(PlanMember::username()).iexact("Bob"))
        .all()
        .await
        .unwrap();
    assert_eq!(bob.iter().map(|e| e.id).collect::<Vec<_>>(), [2]);
    let joined_page = db
        .query::<PlanEntry>()
        .filter(PlanEntry::author().join(PlanMember::username()).iexact("ann"))
        .page(1)
        .await
        .unwrap();
    assert_eq!(joined_page.items.iter().map(|e| e.id).collect::<Vec<_>>(), [1]);
    let rest = db
        .query::<PlanEntry>()
        .filter(PlanEntry::author().join(PlanMember::username()).iexact("ann"))
        .page(1)
        .after(joined_page.next.expect("a next page"))
        .await
        .unwrap();
    assert_eq!(rest.items.iter().map(|e| e.id).collect::<Vec<_>>(), [3]);
    // A cursor made from a record binds the JOIN's condition as the page's own cursors do.
    let ann_page =
        || db.query::<PlanEntry>().filter(PlanEntry::author().join(PlanMember::username()).iexact("ann")).page(1);
    let cursor = ann_page().cursor_of(&joined_page.items[0]).unwrap();
    assert_eq!(ann_page().after(cursor).await.unwrap().items.iter().map(|e| e.id).collect::<Vec<_>>(), [3]);

    // A record saved by the declaring model is found at once.
    db.save(&mut PlanNote { id: 6, title: "rusty nails".into(), rank: 6 }).await.unwrap();
    assert_eq!(db.query::<PlanNote>().filter(rust()).count().await.unwrap(), 4);
}

/// A transaction's query reads the declared index too (before the rebuild it cannot see
/// records without index fields), sees the attempt's own writes through it, and resolves a
/// JOIN's emulated lookup on the related model inside the attempt.
pub async fn transaction_queries_read_declared_lookup_indexes<B: Transactions>(db: &Database<B>) {
    seed_before(db).await;
    let rust = || Query::<PlanNote>::new().filter(PlanNote::title().icontains("rust").require());
    let ids = |notes: Vec<PlanNote>| {
        let mut ids: Vec<i64> = notes.into_iter().map(|n| n.id).collect();
        ids.sort();
        ids
    };
    let by_ann =
        || Query::<PlanEntry>::new().filter(PlanEntry::author().join(PlanMember::username()).iexact("ANN").require());
    let before = db.transaction(|tx| async move { tx.query(rust()).await }).await;
    not_scanned("a transaction query", before, Vec::is_empty);
    let before = db.transaction(|tx| async move { tx.query(by_ann()).await }).await;
    not_scanned("a transaction query with a JOIN", before, Vec::is_empty);

    db.rebuild_indexes().await.expect("rebuild");
    let found = db
        .transaction(|tx| async move {
            tx.save(&mut PlanNote { id: 7, title: "Crusty bread".into(), rank: 7 }).await?;
            tx.query(rust()).await
        })
        .await
        .expect("the transaction commits");
    assert_eq!(ids(found), [1, 3, 4, 7]);

    let texts = db
        .transaction(|tx| async move {
            // A member and an entry written in the attempt are seen by the JOIN's two steps.
            tx.save(&mut PlanMember { id: "m3".into(), username: "ANN".into() }).await?;
            tx.save(&mut entry(4, "fourth", "m3")).await?;
            let mut texts: Vec<String> = tx.query(by_ann()).await?.into_iter().map(|e| e.text).collect();
            texts.sort();
            Ok(texts)
        })
        .await
        .expect("the transaction commits");
    assert_eq!(texts, ["first", "fourth", "third"]);
}
