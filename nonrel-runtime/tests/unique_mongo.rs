//! Unique indexes on MongoDB (F21): partial, so records without a value never clash, and an
//! index created before they were partial is replaced by `sync_indexes`.

mod support;

use nonrel_runtime::mongo::mongodb::bson::doc;
use nonrel_runtime::mongo::mongodb::options::IndexOptions;
use nonrel_runtime::mongo::mongodb::IndexModel;
use nonrel_runtime::{Database, ErrorKind, Key, Model};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "handles")]
struct Handle {
    #[field(key)]
    id: Option<Key<Handle>>,
    #[field(unique)]
    nick: Option<String>,
}

fn handle(nick: Option<&str>) -> Handle {
    Handle { id: None, nick: nick.map(str::to_owned) }
}

#[tokio::test]
async fn sync_indexes_replaces_a_unique_index_that_is_not_partial() {
    let db: Database<_> = support::fresh_mongo().await;
    let coll = db.collection::<Handle>();
    coll.drop_index("nick").await.expect("drop the partial index");
    let plain = IndexModel::builder()
        .keys(doc! { "nick": 1 })
        .options(IndexOptions::builder().name("nick".to_string()).unique(true).build())
        .build();
    coll.create_index(plain).await.expect("an index as earlier versions made it");
    db.save(&mut handle(None)).await.expect("the first None");
    let err = db.save(&mut handle(None)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation, "the old index makes None clash: {err}");

    db.sync_indexes().await.expect("sync_indexes replaces the index");
    let mut specs = coll.list_indexes().await.expect("list indexes");
    let mut partial = None;
    while specs.advance().await.expect("next index") {
        let spec = specs.deserialize_current().expect("index spec");
        if spec.options.as_ref().and_then(|o| o.name.as_deref()) == Some("nick") {
            partial = spec.options.and_then(|o| o.partial_filter_expression);
        }
    }
    let partial = partial.expect("the index is partial now");
    assert!(partial.get_document("nick").is_ok_and(|d| d.contains_key("$type")), "{partial}");
    db.save(&mut handle(None)).await.expect("None no longer clashes");
    db.save(&mut handle(Some("ann"))).await.expect("a value");
    let err = db.save(&mut handle(Some("ann"))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation, "{err}");
    db.sync_indexes().await.expect("again: nothing to replace");
    assert!(db.integrity_check().await.expect("integrity").is_ok());
}

/// Whether an explain reply's plan reads an index somewhere (`IXSCAN` at any depth).
fn uses_index(plan: &nonrel_runtime::mongo::mongodb::bson::Bson) -> bool {
    use nonrel_runtime::mongo::mongodb::bson::Bson;
    match plan {
        Bson::String(s) => s == "IXSCAN",
        Bson::Document(d) => d.values().any(uses_index),
        Bson::Array(a) => a.iter().any(uses_index),
        _ => false,
    }
}

#[tokio::test]
async fn a_query_by_a_unique_field_reads_an_index() {
    let db: Database<_> = support::fresh_mongo().await;
    db.sync_indexes().await.expect("sync_indexes");
    let mut handles: Vec<Handle> = (0..50).map(|i| handle(Some(&format!("nick {i}")))).collect();
    handles.push(handle(None));
    db.save_many(&mut handles).await.expect("save_many");
    // The filter nonrel sends for `Handle::nick().eq(..)`: a literal `$eq`.
    let find = doc! { "find": "handles", "filter": { "nick": { "$eq": "nick 7" } } };
    let reply = db.backend().database().run_command(doc! { "explain": find }).await.expect("explain");
    let plan = reply.get("queryPlanner").expect("a query plan");
    assert!(uses_index(plan), "a query by a unique field scans the collection: {reply}");
    let found = db.query::<Handle>().filter(Handle::nick().eq("nick 7")).all().await.expect("query");
    assert_eq!(found.iter().map(|h| h.nick.as_deref()).collect::<Vec<_>>(), [Some("nick 7")]);
    let done = db.query::<Handle>().filter(Handle::nick().eq("nick 8")).update().set(Handle::nick(), "eight").await;
    assert_eq!(done.expect("update").matched, 1);
    assert_eq!(db.query::<Handle>().filter(Handle::nick().eq("eight")).count().await.expect("count"), 1);
    assert_eq!(db.query::<Handle>().filter(Handle::nick().isnull(true)).count().await.expect("count"), 1);
    assert!(db.integrity_check().await.expect("integrity").is_ok());
}
