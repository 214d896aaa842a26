//! Cases for behaviour at the edges of copies, inheritance and unique fields:
//! a deleted related record, a key of another class, projections of polymorphic
//! queries, and unique fields without a value.
#![allow(missing_docs)]

use super::cases_joins::{Author, JoinBackend, Paper};
use crate::backend::capability::Transactions;
use crate::{Backend, Database, ErrorKind, Fields, Key, Model};

/// The fields every shape stores.
#[derive(Fields, Debug, Clone, PartialEq)]
pub struct ShapeParts {
    #[field(index)]
    pub name: String,
    pub notes: String,
}

/// A polymorphic base.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(polymorphic, collection = "conf_gap_shapes")]
pub struct Shape {
    #[field(key)]
    pub id: i64,
    #[field(flatten)]
    pub parts: ShapeParts,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(extends = Shape)]
pub struct Circle {
    #[field(key)]
    pub id: i64,
    #[field(flatten)]
    pub parts: ShapeParts,
    pub r: f64,
}

/// A subclass with a unique field the other classes' records do not have.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(extends = Shape)]
pub struct Square {
    #[field(key)]
    pub id: i64,
    #[field(flatten)]
    pub parts: ShapeParts,
    pub side: f64,
    #[field(unique)]
    pub code: String,
}

/// A unique field that may have no value.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_gap_accounts")]
pub struct Account {
    #[field(key)]
    pub id: i64,
    #[field(unique)]
    pub nickname: Option<String>,
}

fn parts(name: &str) -> ShapeParts {
    ShapeParts { name: name.into(), notes: format!("notes on {name}") }
}

fn shape(id: i64, name: &str) -> Shape {
    Shape { id, parts: parts(name) }
}

fn circle(id: i64, name: &str) -> Circle {
    Circle { id, parts: parts(name), r: 2.5 }
}

fn square(id: i64, name: &str, code: &str) -> Square {
    Square { id, parts: parts(name), side: 4.0, code: code.into() }
}

/// Shape 1, circle 2, square 3.
async fn shapes<B: Backend>(db: &Database<B>) {
    db.save(&mut shape(1, "blob")).await.expect("shape");
    db.save(&mut circle(2, "ring")).await.expect("circle");
    db.save(&mut square(3, "box", "SQ-3")).await.expect("square");
}

async fn titles_by<B: JoinBackend>(db: &Database<B>, username: &str) -> Vec<String> {
    let found = db.query::<Paper>().filter(Paper::author().join(Author::username()).eq(username)).all().await;
    let mut titles: Vec<String> = found.expect("join").into_iter().map(|p| p.title).collect();
    titles.sort();
    titles
}

/// Deleting a related record leaves the copies its holders keep as the last known values
/// (nothing cascades); `integrity_check` reports each holder's reference as dangling,
/// naming model, field and keys, and `rebuild_indexes` leaves those copies alone.
pub async fn deleted_related_records_leave_dangling_copies<B: JoinBackend>(db: &Database<B>) {
    let mut authors = vec![
        Author { id: None, username: "ann".into(), age: 30, bio: "a".into() },
        Author { id: None, username: "bob".into(), age: 40, bio: "b".into() },
    ];
    let keys = db.save_many(&mut authors).await.expect("authors");
    let paper = |title: &str, by: &Key<Author>| Paper { id: None, title: title.into(), author: by.clone().into() };
    let mut papers = vec![paper("A1", &keys[0]), paper("A2", &keys[0]), paper("B1", &keys[1])];
    let paper_keys = db.save_many(&mut papers).await.expect("papers");
    assert!(db.integrity_check().await.unwrap().is_ok());

    assert!(db.delete(&keys[0]).await.unwrap());
    assert_eq!(db.query::<Paper>().count().await.unwrap(), 3, "the holders stay");
    assert_eq!(titles_by(db, "ann").await, ["A1", "A2"], "the copies keep the last known value");

    let report = db.integrity_check().await.unwrap();
    assert_eq!(report.problems.len(), 2, "one dangling reference per holder, no stale copy: {:?}", report.problems);
    for key in &paper_keys[..2] {
        let problem = report.problems.iter().find(|p| p.key.as_ref() == Some(key.value()));
        let problem = problem.unwrap_or_else(|| panic!("no problem for paper {key}: {:?}", report.problems));
        assert_eq!((problem.model, problem.index), ("Paper", "author"), "{problem:?}");
        let expected = format!("Paper {key}: author refers to Author {}, which does not exist", keys[0]);
        assert_eq!(problem.message, expected);
    }

    db.rebuild_indexes().await.expect("rebuild");
    assert_eq!(titles_by(db, "ann").await, ["A1", "A2"], "the rebuild cannot invent a value and leaves the copies");
    assert_eq!(db.integrity_check().await.unwrap().problems.len(), 2, "still dangling after the rebuild");

    let mut a1 = db.get(&paper_keys[0]).await.unwrap().expect("A1");
    a1.author = keys[1].clone().into();
    db.save(&mut a1).await.unwrap();
    assert_eq!(titles_by(db, "bob").await, ["A1", "B1"], "a new reference takes the new record's values");
    let report = db.integrity_check().await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].key.as_ref(), Some(paper_keys[1].value()));
}

/// `delete` and `delete_many` through a subclass leave the records of other classes (a
/// sibling, the base) alone and count them as missing, as `get` finds nothing there.
pub async fn subclass_deletes_only_its_own_records<B: Backend>(db: &Database<B>) {
    shapes(db).await;
    assert!(!db.delete::<Circle>(3i64).await.unwrap(), "a sibling's record is not a circle");
    assert!(!db.delete::<Circle>(1i64).await.unwrap(), "the base's record is not a circle");
    assert!(!db.delete::<Circle>(99i64).await.unwrap(), "a missing key");
    assert!(db.get::<Square>(3i64).await.unwrap().is_some(), "the square is still there");
    assert!(db.get::<Shape>(1i64).await.unwrap().is_some(), "the shape is still there");
    assert_eq!(db.query::<Shape>().count().await.unwrap(), 3);

    assert_eq!(db.delete_many::<Circle, i64>([1, 2, 3, 99]).await.unwrap(), 1, "only the circle");
    assert!(db.get::<Circle>(2i64).await.unwrap().is_none());
    assert_eq!(db.query::<Shape>().count().await.unwrap(), 2, "the shape and the square stay");
    assert_eq!(db.delete_many::<Square, i64>([1, 3]).await.unwrap(), 1, "only the square");
    assert!(db.delete::<Shape>(1i64).await.unwrap(), "the base deletes any class");
    assert_eq!(db.query::<Shape>().count().await.unwrap(), 0);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// `tx.delete` and `tx.get` through a subclass see only its records too.
pub async fn subclass_deletes_in_transactions<B: Transactions>(db: &Database<B>) {
    shapes(db).await;
    let (wrong_class, found) = db
        .transaction(|tx| async move {
            let deleted = tx.delete::<Circle>(3i64).await?;
            let found = tx.get::<Circle>(3i64).await?;
            Ok((deleted, found))
        })
        .await
        .expect("transaction");
    assert!(!wrong_class, "a square is not deleted as a circle");
    assert_eq!(found, None, "nor read as one");
    assert!(db.get::<Square>(3i64).await.unwrap().is_some());
    let deleted = db.transaction(|tx| async move { tx.delete::<Circle>(2i64).await }).await.unwrap();
    assert!(deleted);
    assert_eq!(db.query::<Shape>().count().await.unwrap(), 2);
}

/// `only` and `defer` hold for a polymorphic query: the fields left out load as their type's
/// default in every class, subclass fields included.
pub async fn polymorphic_queries_honour_only_and_defer<B: Backend>(db: &Database<B>) {
    shapes(db).await;
    let mut found = db.query::<Shape>().only(Shape::name()).polymorphic().await.expect("only");
    found.sort_by_key(|p| p.base().id);
    let classes: Vec<&str> = found.iter().map(|p| p.class()).collect();
    assert_eq!(classes, ["Shape", "Circle", "Square"], "the class list is read with `only`");
    assert_eq!(found[0].base(), &Shape { id: 1, parts: ShapeParts { name: "blob".into(), notes: String::new() } });
    let ring = found[1].downcast_ref::<Circle>().expect("a circle");
    assert_eq!((ring.id, ring.parts.name.as_str(), ring.parts.notes.as_str(), ring.r), (2, "ring", "", 0.0));
    let boxed = found[2].downcast_ref::<Square>().expect("a square");
    assert_eq!((boxed.parts.name.as_str(), boxed.code.as_str(), boxed.side), ("box", "", 0.0));

    let mut found = db.query::<Shape>().defer(Shape::notes()).polymorphic().await.expect("defer");
    found.sort_by_key(|p| p.base().id);
    let ring = found[1].downcast_ref::<Circle>().expect("a circle");
    assert_eq!((ring.parts.name.as_str(), ring.parts.notes.as_str(), ring.r), ("ring", "", 2.5));
    let boxed = found[2].downcast_ref::<Square>().expect("a square");
    assert_eq!((boxed.code.as_str(), boxed.side, boxed.parts.notes.as_str()), ("SQ-3", 4.0, ""));

    let one = db.query::<Shape>().filter(Shape::name().eq("box")).only(Shape::notes()).polymorphic().await;
    let one = one.expect("filtered");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].downcast_ref::<Square>().map(|s| s.parts.notes.as_str()), Some("notes on box"));
}

/// A unique field follows SQL's semantics on every backend: `None` (or a missing field)
/// never clashes with another, a value clashes with the same value.
pub async fn unique_fields_without_a_value_never_clash<B: Backend>(db: &Database<B>) {
    for id in 1..=3 {
        db.save(&mut Account { id, nickname: None }).await.expect("None does not clash with None");
    }
    let mut batch = vec![Account { id: 4, nickname: None }, Account { id: 5, nickname: Some("a".into()) }];
    db.save_many(&mut batch).await.expect("a batch with None");
    let err = db.save(&mut Account { id: 6, nickname: Some("a".into()) }).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation, "{err}");
    assert_eq!(err.field(), Some("nickname"), "{err}");
    assert!(db.get::<Account>(6i64).await.unwrap().is_none());
    db.save(&mut Account { id: 1, nickname: Some("b".into()) }).await.expect("a value where there was none");
    let err = db.save(&mut Account { id: 2, nickname: Some("b".into()) }).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation, "{err}");
    db.save(&mut Account { id: 1, nickname: None }).await.expect("back to None");
    db.save(&mut Account { id: 2, nickname: Some("b".into()) }).await.expect("the value is free again");
    let none = db.query::<Account>().filter(Account::nickname().isnull(true)).count().await.unwrap();
    assert_eq!(none, 3);

    // A subclass's unique field is missing from the records of the other classes.
    for id in 10..=11 {
        db.save(&mut shape(id, "plain")).await.expect("base records lack the subclass's unique field");
        db.save(&mut circle(id + 10, "round")).await.expect("sibling records lack it too");
    }
    db.save(&mut square(30, "s", "X")).await.expect("the first X");
    let err = db.save(&mut square(31, "t", "X")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation, "{err}");
    db.save(&mut square(31, "t", "Y")).await.expect("another value");
    assert_eq!(db.query::<Shape>().count().await.unwrap(), 6);
    assert!(db.integrity_check().await.unwrap().is_ok());
}
