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
    let (one, two) = support::two_handles("reqv").await;
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

/// A save over a record this handle wrote last writes the new document as it is only when
/// that record held the same model's fields and nothing else: fields another model of the
/// collection wrote through the same handle, fields another client wrote since, and fields
/// kept from either by an earlier save all stay. (Checked through a second handle, whose
/// reads leave what the first knows as it is.)
#[tokio::test]
async fn a_save_over_its_own_write_keeps_the_fields_its_model_does_not_know() {
    let (one, two) = support::two_handles("reqk").await;
    let wide = |id: i64, title: &str, legacy: &str| Wide { id, title: title.into(), legacy: legacy.into() };
    // Written as `Wide`, then saved as `Narrow` through the same handle, at the version it
    // knows (one request each): `legacy` stays, on the first save and the ones after it.
    one.save(&mut wide(1, "a", "keep")).await.unwrap();
    let mut narrow = Narrow { id: 1, title: String::new() };
    for title in ["b", "c", "d"] {
        narrow.title = title.into();
        assert_eq!(
            counted(&one, async {
                one.save(&mut narrow).await.unwrap();
            })
            .await,
            1
        );
        assert_eq!(two.get::<Wide>(1).await.unwrap(), Some(wide(1, title, "keep")));
    }
    // Written and saved again as `Narrow` only (its own fields, nothing to keep): one
    // request each, the document as given.
    let mut own = Narrow { id: 2, title: "x".into() };
    for title in ["x", "y"] {
        own.title = title.into();
        one.save(&mut own).await.unwrap();
        assert_eq!(two.get::<Narrow>(2).await.unwrap(), Some(own.clone()));
    }
    // Another client adds a field: the next save's write at the version it knows is
    // refused, it reads, and the field stays; so it does on the saves after that one.
    two.save(&mut wide(2, "y", "theirs")).await.unwrap();
    for (title, requests) in [("z", 3), ("w", 1), ("v", 1)] {
        own.title = title.into();
        assert_eq!(
            counted(&one, async {
                one.save(&mut own).await.unwrap();
            })
            .await,
            requests
        );
        assert_eq!(two.get::<Wide>(2).await.unwrap(), Some(wide(2, title, "theirs")));
    }
    // A model's own save after it wrote every field: the next `Wide` save through the same
    // handle writes what it is given.
    let mut full = wide(3, "p", "mine");
    one.save(&mut full).await.unwrap();
    full.legacy = "changed".into();
    one.save(&mut full).await.unwrap();
    assert_eq!(two.get::<Wide>(3).await.unwrap(), Some(full));
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

/// Replies refer to an article (integer keys), an account (string keys) and a note
/// (automatic keys: ObjectIds on this store), each a declared grouping.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "req_replies", count_by(article), count_by(account), count_by(note))]
struct Reply {
    #[field(key)]
    id: i64,
    article: nonrel_runtime::Ref<Article>,
    account: Option<nonrel_runtime::Ref<Account>>,
    note: nonrel_runtime::Ref<Note>,
}

/// A reference is indexed as its target's keys are: a count of the records referring to
/// one record is one request at any size, and so is a page of a query on a reference.
#[tokio::test]
async fn a_count_or_a_query_by_reference_is_one_request_at_any_size() {
    use nonrel_runtime::{Key, KeyValue, ObjectId, Ref};
    let db = Database::new(support::backend("reqref").await.with_page_size(10));
    db.sync_indexes().await.unwrap();
    let articles: Vec<Ref<Article>> = (1..=4).map(|i| Ref::from(Key::from_value(KeyValue::Int(i)))).collect();
    let accounts: Vec<Ref<Account>> =
        ["ann", "bob", "cy"].iter().map(|s| Ref::from(Key::from_value(KeyValue::Str(s.to_string())))).collect();
    let notes: Vec<Ref<Note>> =
        (0..5).map(|_| Ref::from(Key::from_value(KeyValue::ObjectId(ObjectId::new())))).collect();
    let mut next = 0;
    for n in [30usize, 300] {
        let mut batch: Vec<Reply> = (next..n)
            .map(|i| Reply {
                id: i as i64,
                article: articles[i % 4].clone(),
                account: (i % 4 != 0).then(|| accounts[i % 3].clone()),
                note: notes[i % 5].clone(),
            })
            .collect();
        db.save_many(&mut batch).await.unwrap();
        next = n;
        let all: Vec<Reply> = db.query::<Reply>().all().await.unwrap();
        assert_eq!(all.len(), n);
        for a in &articles {
            let want = all.iter().filter(|r| &r.article == a).count() as u64;
            let by = counted(&db, async { assert_eq!(db.count_by(Reply::article(), a.clone()).await.unwrap(), want) });
            assert_eq!(by.await, 1, "count_by(article) of {a:?}, {n} records");
            let first = counted(&db, async {
                let page: Vec<Reply> =
                    db.query::<Reply>().filter(Reply::article().eq(a.clone())).limit(5).all().await.unwrap();
                assert_eq!(page.len() as u64, want.min(5));
                assert!(page.iter().all(|r| &r.article == a));
            });
            assert_eq!(first.await, 1, "a page of replies to {a:?}, {n} records");
        }
        for c in &accounts {
            let want = all.iter().filter(|r| r.account.as_ref() == Some(c)).count() as u64;
            let by = counted(&db, async { assert_eq!(db.count_by(Reply::account(), c.clone()).await.unwrap(), want) });
            assert_eq!(by.await, 1, "count_by(account) of {c:?}, {n} records");
        }
        for o in &notes {
            let want = all.iter().filter(|r| &r.note == o).count() as u64;
            let by = counted(&db, async { assert_eq!(db.count_by(Reply::note(), o.clone()).await.unwrap(), want) });
            assert_eq!(by.await, 1, "count_by(note) of {o:?}, {n} records");
        }
        let several = articles[..2].to_vec();
        let want = all.iter().filter(|r| several.contains(&r.article)).count() as u64;
        let within = counted(&db, async {
            assert_eq!(db.query::<Reply>().filter(Reply::article().is_in(several.clone())).count().await.unwrap(), want)
        });
        assert_eq!(within.await, 1, "a count of replies to two articles, {n} records");
    }
}

/// Records written into an index whose mapping left references unindexed (as the crate's
/// earlier versions created them) are not found by a query on a reference until
/// `rebuild_indexes()` indexes them again under the mapping `sync_indexes()` completed.
#[tokio::test]
async fn rebuild_indexes_indexes_records_written_before_references_were() {
    use nonrel_runtime::{Key, KeyValue, Ref};
    let http = reqwest::Client::new();
    let url = support::url();
    // The records, as nonrel writes them.
    let source = Database::new(support::backend("reqnew").await);
    let article: Ref<Article> = Ref::from(Key::from_value(KeyValue::Int(7)));
    let note: Ref<Note> = Ref::from(Key::from_value(KeyValue::ObjectId(nonrel_runtime::ObjectId::new())));
    let mut replies: Vec<Reply> =
        (0..12).map(|i| Reply { id: i, article: article.clone(), account: None, note: note.clone() }).collect();
    source.save_many(&mut replies).await.unwrap();
    let hits: serde_json::Value = http
        .post(format!("{url}/{}/_search", source.backend().index(Reply::DESC)))
        .json(&serde_json::json!({ "size": 100, "query": { "match_all": {} } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hits = hits["hits"]["hits"].as_array().unwrap().clone();
    assert_eq!(hits.len(), 12);
    // The same documents in an index whose mapping names none of the fields (with the
    // settings the crate creates its indexes with).
    let old = support::backend("reqold").await;
    let index = old.index(Reply::DESC);
    let created = http
        .put(format!("{url}/{index}"))
        .json(&serde_json::json!({
            "settings": {
                "analysis": { "normalizer": { "nonrel_lower": { "type": "custom", "filter": ["lowercase"] } } }
            },
            "mappings": { "dynamic": false, "properties": {} }
        }))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let mut bulk = String::new();
    for h in &hits {
        bulk.push_str(&serde_json::json!({ "index": { "_id": h["_id"] } }).to_string());
        bulk.push('\n');
        bulk.push_str(&h["_source"].to_string());
        bulk.push('\n');
    }
    let written = http
        .post(format!("{url}/{index}/_bulk?refresh=true"))
        .header("content-type", "application/x-ndjson")
        .body(bulk)
        .send()
        .await
        .unwrap();
    assert!(written.status().is_success());
    let db = Database::new(old);
    db.sync_indexes().await.unwrap();
    assert_eq!(db.query::<Reply>().count().await.unwrap(), 12);
    assert_eq!(db.count_by(Reply::article(), article.clone()).await.unwrap(), 0, "not indexed yet");
    db.rebuild_indexes().await.unwrap();
    assert_eq!(db.count_by(Reply::article(), article.clone()).await.unwrap(), 12);
    assert_eq!(db.count_by(Reply::note(), note.clone()).await.unwrap(), 12);
    let found: Vec<Reply> = db.query::<Reply>().filter(Reply::article().eq(article)).all().await.unwrap();
    assert_eq!(found.len(), 12);
}
