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
