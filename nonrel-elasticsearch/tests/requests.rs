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
    // save: the `_mget` that keeps unknown fields, and the conditional `_bulk`.
    a.views = 4;
    assert_eq!(
        counted(&db, async {
            db.save(&mut a).await.unwrap();
        })
        .await,
        2
    );
    // a batch of 100: one `_mget` and one `_bulk`.
    let mut batch: Vec<Article> = (2..102).map(|i| Article { id: i, title: format!("t{i}"), views: i }).collect();
    assert_eq!(
        counted(&db, async {
            db.save_many(&mut batch).await.unwrap();
        })
        .await,
        2
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
    // same value: `_mget` and the record's `_bulk`.
    assert_eq!(
        counted(&db, async {
            db.save(&mut ann).await.unwrap();
        })
        .await,
        2
    );
    // changed value: plus the new claim and the release of the old one.
    ann.email = "ann@y".into();
    assert_eq!(
        counted(&db, async {
            db.save(&mut ann).await.unwrap();
        })
        .await,
        4
    );
    let mut bob = Account { name: "bob".into(), email: "ann@x".into() };
    db.save(&mut bob).await.expect("the released value is free");
}
