//! Covering indexes (`#[field(index(covering))]`): queries they serve give the records as
//! they are now, after saves, atomic updates, moves between values and deletes, on every
//! backend (the embedded backend reads the copies the index holds; MongoDB ignores the
//! declaration).
#![allow(missing_docs)]

use crate::{Backend, Database, ErrorKind, Key};

/// A book whose shelf, tags and ISBN are served by covering indexes.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_covered_books")]
pub struct Book {
    #[field(key)]
    pub id: Option<Key<Book>>,
    #[field(index(covering))]
    pub shelf: String,
    #[field(unique, index(covering))]
    pub isbn: String,
    #[field(index(covering))]
    pub tags: Vec<String>,
    pub title: String,
    pub pages: u32,
}

fn book(i: u32) -> Book {
    Book {
        id: None,
        shelf: ["a", "b", "c"][(i % 3) as usize].into(),
        isbn: format!("isbn-{i:03}"),
        tags: if i.is_multiple_of(2) { vec!["even".into(), "all".into()] } else { vec!["all".into()] },
        title: format!("Book {i:02}"),
        pages: 100 + i,
    }
}

fn titles(books: &[Book]) -> Vec<&str> {
    books.iter().map(|b| b.title.as_str()).collect()
}

/// The books a query on the shelf gives, by title.
async fn shelf<B: Backend>(db: &Database<B>, name: &str) -> Vec<Book> {
    db.query::<Book>().filter(Book::shelf().eq(name)).order_by(Book::title().asc()).all().await.unwrap()
}

pub async fn covering_indexes_answer_with_current_records<B: Backend>(db: &Database<B>) {
    let mut books: Vec<Book> = (0..30).map(book).collect();
    db.save_many(&mut books).await.unwrap();
    let expected: Vec<&Book> = books.iter().filter(|b| b.shelf == "b").collect();
    let found = shelf(db, "b").await;
    assert_eq!(found.iter().collect::<Vec<_>>(), expected, "every field comes back");

    // A save changes the copy the index holds.
    let mut first = found[0].clone();
    first.title = "Renamed".into();
    first.pages = 1;
    db.save(&mut first).await.unwrap();
    let found = shelf(db, "b").await;
    assert!(found.contains(&first), "the saved version is read: {:?}", titles(&found));
    assert_eq!(found.len(), 10);

    // A move to another value leaves one entry, under the new value.
    first.shelf = "c".into();
    db.save(&mut first).await.unwrap();
    assert_eq!(shelf(db, "b").await.len(), 9);
    assert!(shelf(db, "c").await.contains(&first));

    // An atomic update rewrites the copies of every record it changes.
    let done = db.query::<Book>().filter(Book::shelf().eq("a")).update().set(Book::pages(), 7u32).await.unwrap();
    assert_eq!(done.modified, 10);
    assert!(shelf(db, "a").await.iter().all(|b| b.pages == 7));

    // A list field: one row per record, the current version.
    let even =
        db.query::<Book>().filter(Book::tags().contains("even")).order_by(Book::title().asc()).all().await.unwrap();
    assert_eq!(even.len(), 15);
    assert!(even.iter().filter(|b| b.shelf == "a").all(|b| b.pages == 7), "updated copies are read");
    assert_eq!(db.query::<Book>().filter(Book::tags().contains("all")).count().await.unwrap(), 30);

    // A unique covering index: the lookup by value, and clashes rejected.
    let by_isbn = db.query::<Book>().filter(Book::isbn().eq("isbn-004")).first().await.unwrap().unwrap();
    assert_eq!(by_isbn, books[4]);
    let mut clash = book(99);
    clash.isbn = "isbn-004".into();
    assert_eq!(db.save(&mut clash).await.unwrap_err().kind(), ErrorKind::UniqueViolation);

    // Ordered by the indexed value, with a limit; ranges.
    let last = db.query::<Book>().order_by(Book::shelf().desc()).order_by(Book::title().asc()).limit(3).all().await;
    assert_eq!(titles(&last.unwrap()), ["Book 02", "Book 05", "Book 08"]);
    assert_eq!(db.query::<Book>().filter(Book::shelf().gte("b")).count().await.unwrap(), 20);

    // Deleted records leave the index.
    db.delete(first.id.as_ref().unwrap()).await.unwrap();
    assert!(!shelf(db, "c").await.iter().any(|b| b.title == "Renamed"));
    assert_eq!(db.query::<Book>().filter(Book::tags().contains("all")).count().await.unwrap(), 29);
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
}
