//! Full-text `search`: the same matches on every backend (natively where the backend searches,
//! through the declared `index(search)` elsewhere), and relevance order where native.
#![allow(missing_docs)]

use crate::query::Native;
use crate::{Backend, Database, Key};

/// A note whose text fields declare the emulated full-text index.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_search_notes")]
pub struct SearchNote {
    #[field(key)]
    pub id: Option<Key<SearchNote>>,
    pub n: i64,
    #[field(index(search))]
    pub body: String,
    #[field(index(search))]
    pub summary: Option<String>,
}

const BODIES: [&str; 7] = [
    "The quick brown fox jumps over the lazy dog",
    "Quick thinking: a fox's tale",
    "quickly, foxes!",
    "Don't stop_me now",
    "Ünïcode WÖRDS here",
    "",
    "fox",
];

async fn seed<B: Backend>(db: &Database<B>) {
    let mut notes: Vec<SearchNote> = BODIES
        .iter()
        .enumerate()
        .map(|(i, b)| SearchNote {
            id: None,
            n: i as i64,
            body: (*b).to_owned(),
            summary: (i % 2 == 0).then(|| format!("summary number {i}")),
        })
        .collect();
    db.save_many(&mut notes).await.expect("save the notes");
}

/// The `n` of the notes whose `body` (or `summary`) matches `query`, in `n` order.
async fn found<B: Backend>(db: &Database<B>, summary: bool, query: &str) -> Vec<i64> {
    let field = if summary {
        SearchNote::summary().search(query).require::<Native>()
    } else {
        SearchNote::body().search(query).require::<Native>()
    };
    let mut out: Vec<i64> = db
        .query::<SearchNote>()
        .filter(field)
        .all()
        .await
        .unwrap_or_else(|e| panic!("search({query:?}) on {}: {e}", B::NAME))
        .into_iter()
        .map(|n| n.n)
        .collect();
    out.sort_unstable();
    out
}

/// A record matches when every word of the query (lowercased, split on characters that are
/// not letters or digits) is among the field's words: not substrings, not stems.
pub async fn search_matches_every_word<B: Backend>(db: &Database<B>) {
    seed(db).await;
    assert_eq!(found(db, false, "quick fox").await, [0, 1], "both words, whole words only");
    assert_eq!(found(db, false, "FOX  quick").await, [0, 1], "any order and case");
    assert_eq!(found(db, false, "fox").await, [0, 1, 6]);
    assert_eq!(found(db, false, "foxes").await, [2], "no stemming");
    assert_eq!(found(db, false, "dog cat").await, [] as [i64; 0], "every word must be there");
    assert_eq!(found(db, false, "don").await, [3], "an apostrophe splits words");
    assert_eq!(found(db, false, "stop me").await, [3], "so does an underscore");
    assert_eq!(found(db, false, "s").await, [1], "`fox's` holds the word `s`");
    assert_eq!(found(db, false, "wörds ünïcode").await, [4], "non-ASCII words, lowercased");
    assert_eq!(found(db, false, "*").await, [0, 1, 2, 3, 4, 5, 6], "a query without words matches all text");
    assert_eq!(found(db, false, "qu?ck").await, [] as [i64; 0], "the query is literal words, not a pattern");
    assert_eq!(found(db, true, "number").await, [0, 2, 4, 6], "a missing value matches nothing");
    assert_eq!(found(db, true, "").await, [0, 2, 4, 6]);

    let q = || db.query::<SearchNote>().filter(SearchNote::body().search("fox").require::<Native>());
    assert_eq!(q().count().await.expect("count"), 3);
    let first = q().filter(SearchNote::n().gte(1)).order_by(SearchNote::n().desc()).limit(1).all().await.expect("page");
    assert_eq!(first.iter().map(|n| n.n).collect::<Vec<_>>(), [6], "with other filters, order and limit");
}

/// The words follow saves and updates.
pub async fn search_follows_saves_and_updates<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let mut note = db.query::<SearchNote>().filter(SearchNote::n().eq(2)).first().await.expect("read").expect("note 2");
    note.body = "A lazy Fox".into();
    db.save(&mut note).await.expect("save");
    assert_eq!(found(db, false, "lazy fox").await, [0, 2]);
    assert_eq!(found(db, false, "foxes").await, [] as [i64; 0]);
    let changed = db
        .query::<SearchNote>()
        .filter(SearchNote::n().eq(0))
        .update()
        .set(SearchNote::body(), "nothing here".to_owned())
        .await;
    assert_eq!(changed.expect("update").modified, 1);
    assert_eq!(found(db, false, "lazy fox").await, [2]);
    assert_eq!(found(db, false, "nothing").await, [0]);
}

/// Where the backend searches natively, results can come most relevant first.
pub async fn search_orders_by_relevance_where_native<B: Backend>(db: &Database<B>) {
    if !<B::FullText as crate::capability::Support>::NATIVE {
        return;
    }
    seed(db).await;
    let hits = db
        .query::<SearchNote>()
        .filter(SearchNote::body().search("fox").require::<Native>())
        .order_by(SearchNote::body().relevance().require::<Native>())
        .all()
        .await
        .expect("search by relevance");
    let order: Vec<i64> = hits.iter().map(|n| n.n).collect();
    assert_eq!(order.len(), 3);
    assert_eq!(order[0], 6, "the note that is only `fox` is the most relevant: {order:?}");
    let top = db
        .query::<SearchNote>()
        .filter(SearchNote::body().search("fox").require::<Native>())
        .order_by(SearchNote::body().relevance().require::<Native>())
        .limit(1)
        .all()
        .await
        .expect("first by relevance");
    assert_eq!(top.iter().map(|n| n.n).collect::<Vec<_>>(), [6]);
}
