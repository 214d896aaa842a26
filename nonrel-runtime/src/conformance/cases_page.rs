//! Cursor pagination cases.
#![allow(missing_docs)]

use crate::{Backend, Database, ErrorKind, Query};

/// A record to page through: an indexed score with many ties, an unindexed optional rank.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_page_entries")]
pub struct Entry {
    #[field(key)]
    pub id: i64,
    #[field(index)]
    pub score: i64,
    pub rank: Option<i32>,
    pub name: String,
}

async fn seed_entries<B: Backend>(db: &Database<B>, n: i64) {
    let mut entries: Vec<Entry> = (1..=n)
        .map(|i| Entry {
            id: i,
            score: (i * 7) % 5,
            rank: (i % 4 != 0).then_some(((i * 3) % 11) as i32),
            name: format!("n{}", (i * 13) % 17),
        })
        .collect();
    db.save_many(&mut entries).await.expect("seed");
}

fn ids(entries: &[Entry]) -> Vec<i64> {
    entries.iter().map(|e| e.id).collect()
}

/// Walks a query's pages forward, then backward from the last, and checks both against the
/// whole result.
async fn walk<B: Backend>(db: &Database<B>, query: &Query<Entry>, size: usize) {
    let expected = ids(&db.query::<Entry>().with(query.clone()).all().await.expect("all"));
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    let last = loop {
        let builder = db.query::<Entry>().with(query.clone()).page(size);
        let page = match &cursor {
            None => builder.await,
            Some(c) => builder.after(c.clone()).await,
        }
        .expect("page");
        assert!(page.items.len() <= size);
        if cursor.is_none() {
            assert!(page.prev.is_none(), "the first page has no previous page");
        }
        pages.push(ids(&page.items));
        assert!(pages.len() <= expected.len() + 1, "pages do not end");
        match &page.next {
            Some(c) => {
                assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "URL-safe: {c}");
                cursor = Some(c.clone());
            }
            None => break page,
        }
    };
    assert_eq!(pages.concat(), expected, "forward pages cover the result once, in order");
    let mut back = vec![ids(&last.items)];
    let mut cursor = last.prev;
    while let Some(c) = cursor {
        let page = db.query::<Entry>().with(query.clone()).page(size).before(c).await.expect("page before");
        back.push(ids(&page.items));
        assert!(back.len() <= pages.len(), "backward pages do not end");
        cursor = page.prev;
    }
    back.reverse();
    if expected.is_empty() {
        back.retain(|p| !p.is_empty());
        pages.retain(|p| !p.is_empty());
    }
    assert_eq!(back, pages, "backward pages are the forward pages");
}

/// Any ordering pages exactly, forward and backward, the key breaking ties.
pub async fn pages_walk_forward_and_back<B: Backend>(db: &Database<B>) {
    seed_entries(db, 47).await;
    let q = Query::<Entry>::new;
    walk(db, &q().order_by(Entry::score().desc()), 5).await;
    walk(db, &q().order_by(Entry::score().asc()), 6).await;
    walk(db, &q().order_by(Entry::rank().asc()), 5).await;
    walk(db, &q().order_by(Entry::rank().desc()), 4).await;
    walk(db, &q().order_by(Entry::score().asc()).order_by(Entry::name().desc()), 7).await;
    walk(db, &q().order_by(Entry::rank().desc()).order_by(Entry::score().asc()), 3).await;
    walk(db, &q(), 10).await;
    walk(db, &q().filter(Entry::score().ne(3)).order_by(Entry::score().desc()), 5).await;
    walk(db, &q().filter(Entry::score().gte(2)).order_by(Entry::score().asc()), 4).await;
    walk(db, &q().filter(Entry::score().eq(1)).order_by(Entry::rank().asc()), 2).await;
    walk(db, &q().filter(Entry::score().eq(9)).order_by(Entry::rank().asc()), 2).await;
    walk(db, &q().order_by(Entry::name().asc()), 47).await;
    walk(db, &q().order_by(Entry::name().asc()), 50).await;
}

/// A page resumes after its cursor's row even when rows around it changed.
pub async fn pages_resume_after_changes<B: Backend>(db: &Database<B>) {
    seed_entries(db, 20).await;
    let q = || db.query::<Entry>().order_by(Entry::score().asc());
    let all = ids(&q().all().await.unwrap());
    let first = q().page(5).await.unwrap();
    assert_eq!(ids(&first.items), all[..5]);
    // The boundary row goes away and a row is added before it: the next page still starts
    // right after where the first ended.
    db.delete::<Entry>(all[4]).await.unwrap();
    db.save(&mut Entry { id: 100, score: -1, rank: None, name: "new".into() }).await.unwrap();
    let next = q().page(5).after(first.next.unwrap()).await.unwrap();
    assert_eq!(ids(&next.items), all[5..10]);
}

/// Cursors from another query, tampered or truncated cursors and misuse are clear errors.
pub async fn bad_cursors_are_clear_errors<B: Backend>(db: &Database<B>) {
    seed_entries(db, 12).await;
    let q = || db.query::<Entry>().order_by(Entry::score().desc());
    let cursor = q().page(3).await.unwrap().next.expect("a next page");
    assert!(q().page(3).after(cursor.clone()).await.is_ok());
    let invalid = |e: crate::Error, what: &str| {
        assert_eq!(e.kind(), ErrorKind::InvalidCursor, "{what}: {e}");
        assert_eq!(e.model(), Some("Entry"), "{what}: {e}");
    };
    let other = db.query::<Entry>().filter(Entry::score().gt(0)).order_by(Entry::score().desc()).page(3);
    let e = other.after(cursor.clone()).await.unwrap_err();
    invalid(e.clone(), "another filter");
    assert!(e.to_string().contains("another query"), "{e}");
    let reordered = db.query::<Entry>().order_by(Entry::score().asc()).page(3);
    invalid(reordered.before(cursor.clone()).await.unwrap_err(), "another order");
    for at in [0, cursor.len() / 2, cursor.len() - 1] {
        let mut bytes = cursor.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let e = q().page(3).after(tampered).await.unwrap_err();
        invalid(e.clone(), "tampered");
        assert!(e.to_string().contains("damaged"), "{e}");
    }
    for len in [0, 1, 5, cursor.len() - 1] {
        invalid(q().page(3).after(&cursor[..len]).await.unwrap_err(), "truncated");
    }
    invalid(q().page(3).after("not a cursor!").await.unwrap_err(), "garbage");
    invalid(q().page(3).after(format!("{cursor}AAAA")).await.unwrap_err(), "lengthened");
    let e = q().limit(3).page(3).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert_eq!(q().page(0).await.unwrap_err().kind(), ErrorKind::Unsupported);
}
