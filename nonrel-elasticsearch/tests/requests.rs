//! HTTP requests per operation, counted: what hand-written client code sends for the same
//! data layout (one `_bulk` per write batch, one `_mget` per key read, one `_search` per
//! page, one count), plus the read a save needs to keep fields it does not know.

mod support;

use nonrel_runtime::{Database, Model};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "req_articles")]
struct Article {
    #[field(key)]
    id: i64,
    title: String,
    views: i64,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "req_accounts")]
struct Account {
    #[field(key)]
    name: String,
    #[field(unique)]
    email: String,
}

/// Runs `op` and returns the requests it sent.
async fn counted<F: std::future::Future<Output = ()>>(db: &Database<nonrel_elasticsearch::Elastic>, op: F) -> u64 {
    let before = db.backend().requests();
    op.await;
    db.backend().requests() - before
}

#[tokio::test]
async fn requests_per_operation_match_hand_written_code() {
    let db = Database::new(support::backend("req").await);
    db.sync_indexes().await.unwrap();
    let mut a = Article { id: 1, title: "Hello".into(), views: 3 };
    // insert: one `_bulk` with `op_type=create`.
    assert_eq!(
        counted(&db, async {
            db.insert(&mut a).await.unwrap();
        })
        .await,
        1
    );
    // save of a record this handle wrote or read: one `_bulk`, conditional on the version
    // it knows (what keeps the record's unknown fields is that version's document).
    a.views = 4;
    assert_eq!(
        counted(&db, async {
            db.save(&mut a).await.unwrap();
        })
        .await,
        1
    );
    // a batch of 100 new records: one `_mget` (they might exist) and one `_bulk`; saved
    // again, one `_bulk`.
    let mut batch: Vec<Article> = (2..102).map(|i| Article { id: i, title: format!("t{i}"), views: i }).collect();
    assert_eq!(
        counted(&db, async {
            db.save_many(&mut batch).await.unwrap();
        })
        .await,
        2
    );
    for b in &mut batch {
        b.title.push('!');
    }
    assert_eq!(
        counted(&db, async {
            db.save_many(&mut batch).await.unwrap();
        })
        .await,
        1
    );
    // get and get_many: one `_mget`.
    assert_eq!(
        counted(&db, async {
            assert_eq!(db.get::<Article>(1).await.unwrap(), Some(a.clone()));
        })
        .await,
        1
    );
    assert_eq!(
        counted(&db, async {
            assert_eq!(db.get_many::<Article, _>([1, 2, 999]).await.unwrap().len(), 3);
        })
        .await,
        1
    );
    // A page of a native query: one `_search`.
    let page = counted(&db, async {
        let q = db.query::<Article>().filter(Article::views().gte(10)).order_by(Article::views().desc()).limit(20);
        let found = q.all().await.unwrap();
        assert_eq!(found.len(), 20);
        assert_eq!(found[0].views, 101);
    });
    assert_eq!(page.await, 1);
    // count_upto: one `_search` with `track_total_hits`; count: one `_count`.
    assert_eq!(
        counted(&db, async {
            assert_eq!(db.query::<Article>().count_upto(5).await.unwrap(), 5);
        })
        .await,
        1
    );
    assert_eq!(
        counted(&db, async {
            assert_eq!(db.query::<Article>().count().await.unwrap(), 101);
        })
        .await,
        1
    );
    // delete: one `_bulk`.
    assert_eq!(
        counted(&db, async {
            assert!(db.delete::<Article>(1).await.unwrap());
        })
        .await,
        1
    );
}

#[tokio::test]
async fn unique_values_cost_a_claim_only_when_they_change() {
    let db = Database::new(support::backend("requ").await);
    db.sync_indexes().await.unwrap();
    let mut ann = Account { name: "ann".into(), email: "ann@x".into() };
    // new record: `_mget`, the claim's `_bulk`, the record's `_bulk`.
    assert_eq!(
        counted(&db, async {
            db.save(&mut ann).await.unwrap();
        })
        .await,
        3
    );
    // same value: the record's `_bulk` (its version and claims known from the write).
    assert_eq!(
        counted(&db, async {
            db.save(&mut ann).await.unwrap();
        })
        .await,
        1
    );
    // changed value: the new claim (before the record, so no two records hold a value), the
    // record, and the release of the old claim once the record no longer holds it.
    ann.email = "ann@y".into();
    assert_eq!(
        counted(&db, async {
            db.save(&mut ann).await.unwrap();
        })
        .await,
        3
    );
    let mut bob = Account { name: "bob".into(), email: "ann@x".into() };
    db.save(&mut bob).await.expect("the released value is free");
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "req_wide")]
struct Wide {
    #[field(key)]
    id: i64,
    title: String,
    legacy: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "req_wide")]
struct Narrow {
    #[field(key)]
    id: i64,
    title: String,
}

/// A save writes at once only over a version this handle knows: a handle that never saw the
/// record reads it first, and one whose version is stale (another client wrote since) has its
/// write refused, reads, and writes again; either way the fields only the other client knows
/// survive, and automatic keys (made here, so new) are written without a read.
#[tokio::test]
async fn a_save_writes_at_once_only_over_the_version_it_knows() {
    let url = support::url();
    let prefix = support::fresh_prefix("reqv");
    let one = Database::new(nonrel_elasticsearch::Elastic::connect(&url, &prefix).await.unwrap());
    let two = Database::new(nonrel_elasticsearch::Elastic::connect(&url, &prefix).await.unwrap());
    one.sync_indexes().await.unwrap();
    two.sync_indexes().await.unwrap();
    let mut wide = Wide { id: 1, title: "a".into(), legacy: "keep".into() };
    one.save(&mut wide).await.unwrap();
    // A handle that never saw the record: `_mget`, then the conditional `_bulk`.
    let mut narrow = Narrow { id: 1, title: "b".into() };
    assert_eq!(
        counted(&two, async {
            two.save(&mut narrow).await.unwrap();
        })
        .await,
        2
    );
    assert_eq!(two.get::<Wide>(1).await.unwrap().unwrap().legacy, "keep");
    // The first handle's version is stale now: its write is refused, it reads, writes again.
    wide.title = "c".into();
    wide.legacy = "changed".into();
    assert_eq!(
        counted(&one, async {
            one.save(&mut wide).await.unwrap();
        })
        .await,
        3
    );
    // The second handle's version is stale too, and the field it does not know is the
    // first handle's latest.
    narrow.title = "d".into();
    assert_eq!(
        counted(&two, async {
            two.save(&mut narrow).await.unwrap();
        })
        .await,
        3
    );
    let now = one.get::<Wide>(1).await.unwrap().unwrap();
    assert_eq!((now.title.as_str(), now.legacy.as_str()), ("d", "changed"));
    // Read, then saved: one request.
    let mut read = two.get::<Narrow>(1).await.unwrap().unwrap();
    read.title = "e".into();
    assert_eq!(
        counted(&two, async {
            two.save(&mut read).await.unwrap();
        })
        .await,
        1
    );
    assert_eq!(one.get::<Wide>(1).await.unwrap().unwrap().legacy, "changed");
    // A deleted record is forgotten: saved again, it is read first (and found absent).
    assert!(two.delete::<Narrow>(1).await.unwrap());
    assert_eq!(
        counted(&two, async {
            two.save(&mut read).await.unwrap();
        })
        .await,
        2
    );
    // Deleted by another client: the write at the known version is refused, the record is
    // read (absent) and created.
    assert!(one.delete::<Wide>(1).await.unwrap());
    read.title = "f".into();
    assert_eq!(
        counted(&two, async {
            two.save(&mut read).await.unwrap();
        })
        .await,
        3
    );
    assert_eq!(one.get::<Narrow>(1).await.unwrap(), Some(read));
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "req_notes")]
struct Note {
    #[field(key)]
    id: Option<nonrel_runtime::Key<Note>>,
    text: String,
}

/// A record with an automatic key is new: its save is one `_bulk` (`op_type=create`).
#[tokio::test]
async fn a_save_with_an_automatic_key_is_one_request() {
    let db = Database::new(support::backend("reqa").await);
    db.sync_indexes().await.unwrap();
    let mut note = Note { id: None, text: "hi".into() };
    assert_eq!(
        counted(&db, async {
            db.save(&mut note).await.unwrap();
        })
        .await,
        1
    );
    let mut notes: Vec<Note> = (0..50).map(|i| Note { id: None, text: format!("n{i}") }).collect();
    assert_eq!(
        counted(&db, async {
            db.save_many(&mut notes).await.unwrap();
        })
        .await,
        1
    );
    assert_eq!(db.query::<Note>().count().await.unwrap(), 51);
    let key = note.id.clone().unwrap();
    assert_eq!(db.get::<Note>(&key).await.unwrap(), Some(note));
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "req_posts")]
struct Post {
    #[field(key)]
    id: i64,
    body: String,
}

/// A full-text search reads its candidates most relevant first and stops once the page is
/// full: the first five of 300 matches are one `_search` of a few hits, not 300 read in pages;
/// `count_upto(n)` stops the same way.
#[tokio::test]
async fn a_search_page_reads_what_it_returns() {
    let es = support::backend("reqs").await.with_page_size(50);
    let db = Database::new(es);
    db.sync_indexes().await.unwrap();
    let mut posts: Vec<Post> =
        (0..300).map(|i| Post { id: i, body: format!("rust {} ownership", "word ".repeat(i as usize % 7)) }).collect();
    db.save_many(&mut posts).await.unwrap();
    let q = || db.query::<Post>().filter(Post::body().search("rust ownership"));
    let all = q().order_by(Post::body().relevance()).all().await.unwrap();
    assert_eq!(all.len(), 300);
    let mut top = Vec::new();
    assert_eq!(
        counted(&db, async {
            top = q().order_by(Post::body().relevance()).limit(5).all().await.unwrap();
        })
        .await,
        1
    );
    assert_eq!(top, all[..5].to_vec(), "the first five by relevance");
    let mut second = Vec::new();
    assert_eq!(
        counted(&db, async {
            second = q().order_by(Post::body().relevance()).offset(5).limit(5).all().await.unwrap();
        })
        .await,
        1
    );
    assert_eq!(second, all[5..10].to_vec());
    // In key order (no ordering term) too.
    let mut first = Vec::new();
    assert_eq!(
        counted(&db, async {
            first = q().limit(3).all().await.unwrap();
        })
        .await,
        1
    );
    assert_eq!(first.iter().map(|p| p.id).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(
        counted(&db, async {
            assert_eq!(q().count_upto(7).await.unwrap(), 7);
        })
        .await,
        1
    );
    // Reading all of them takes the pages it takes.
    assert_eq!(q().count().await.unwrap(), 300);
}

/// Counted by author, by author and status, and in total: nonrel keeps no counter on
/// Elasticsearch (no multi-document atomic write), so each declared count is the store's.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "req_counted", count_by(author), count_by("author", "status"), count_by())]
struct Counted {
    #[field(key)]
    id: i64,
    author: String,
    status: Option<String>,
    words: f64,
}

/// A declared count (one equality per field of a grouping) is one request at any size: one
/// `_count` with a `term` per field (`must_not` `exists` for a null group), or one `_search`
/// with `track_total_hits` for `count_upto`. Pages of 10 hits make any count that read records
/// take many requests, as a count the cluster cannot answer exactly does.
#[tokio::test]
async fn a_declared_count_is_one_request_at_any_size() {
    const AUTHORS: [&str; 3] = ["ann", "bob", "cy"];
    const STATUSES: [Option<&str>; 3] = [None, Some("draft"), Some("live")];
    let db = Database::new(support::backend("reqcount").await.with_page_size(10));
    db.sync_indexes().await.unwrap();
    let mut next = 0;
    for n in [30, 300] {
        let mut batch: Vec<Counted> = (next..n)
            .map(|i| Counted {
                id: i,
                author: AUTHORS[i as usize % 3].into(),
                status: STATUSES[i as usize / 3 % 3].map(str::to_owned),
                words: (i % 2) as f64,
            })
            .collect();
        db.save_many(&mut batch).await.unwrap();
        next = n;
        let all: Vec<Counted> = db.query::<Counted>().all().await.unwrap();
        assert_eq!(all.len() as i64, n);
        let q = || db.query::<Counted>();
        assert_eq!(counted(&db, async { assert_eq!(q().count().await.unwrap(), n as u64) }).await, 1, "count_by()");
        for a in AUTHORS {
            let want = all.iter().filter(|p| p.author == a).count() as u64;
            let by_author = counted(&db, async { assert_eq!(db.count_by(Counted::author(), a).await.unwrap(), want) });
            assert_eq!(by_author.await, 1, "count_by(author) of {a}, {n} records");
            let upto = counted(&db, async {
                assert_eq!(q().filter(Counted::author().eq(a)).count_upto(5).await.unwrap(), want.min(5));
            });
            assert_eq!(upto.await, 1, "count_upto of {a}");
            for s in STATUSES {
                let want = all.iter().filter(|p| p.author == a && p.status.as_deref() == s).count() as u64;
                let status = match s {
                    Some(s) => Counted::status().eq(s),
                    None => Counted::status().isnull(true),
                };
                let both = counted(&db, async {
                    assert_eq!(q().filter(Counted::author().eq(a)).filter(status).count().await.unwrap(), want);
                });
                assert_eq!(both.await, 1, "count_by(author, status) of {a}, {s:?}, {n} records");
            }
        }
    }
    // Not a declared grouping, and not one the cluster answers exactly (zero on a double is
    // evaluated by nonrel): the records are read in pages.
    let zero = counted(&db, async {
        assert_eq!(db.query::<Counted>().filter(Counted::words().eq(0.0)).count().await.unwrap(), 150);
    });
    assert!(zero.await > 10);
}
