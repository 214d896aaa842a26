//! Behaviour specific to the MongoDB backend: round trips counted with the driver's command
//! monitoring, the escape hatch, copying between backends, faults.

mod support;

use support::{monitored, take};

use nonrel_runtime::{Database, ErrorKind, Key, Model};
use std::time::Duration;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "items", compound_index("name", "-qty"))]
struct Item {
    #[field(key)]
    id: Option<Key<Item>>,
    #[field(index)]
    name: String,
    qty: i64,
    tags: Vec<String>,
}

fn item(i: i64) -> Item {
    Item { id: None, name: format!("item {i}"), qty: i, tags: vec![format!("t{}", i % 3)] }
}

#[tokio::test]
async fn every_operation_costs_the_commands_it_needs_and_no_more() {
    let (db, seen) = monitored("rt").await;
    let mut one = item(1);
    db.save(&mut one).await.unwrap();
    assert_eq!(take(&seen), ["update"], "save is one replace-or-set with upsert");
    let mut two = item(2);
    db.insert(&mut two).await.unwrap();
    assert_eq!(take(&seen), ["insert"]);
    db.get(one.id.as_ref().unwrap()).await.unwrap().unwrap();
    assert_eq!(take(&seen), ["find"]);
    let mut many: Vec<Item> = (0..2500).map(item).collect();
    db.save_many(&mut many).await.unwrap();
    assert_eq!(take(&seen), ["update", "update", "update"], "one command per batch of 1000");
    let keys: Vec<Key<Item>> = many[..100].iter().map(|i| i.key().unwrap()).collect();
    let got = db.get_many(&keys).await.unwrap();
    assert!(got.iter().all(Option::is_some));
    assert_eq!(take(&seen), ["find"], "get_many of 100 keys is one find");
    let found =
        db.query::<Item>().filter(Item::qty().lt(10)).order_by(Item::qty().desc()).limit(5).all().await.unwrap();
    assert_eq!(found.len(), 5);
    assert_eq!(take(&seen), ["find"]);
    assert_eq!(db.query::<Item>().count_upto(7).await.unwrap(), 7);
    assert_eq!(take(&seen), ["aggregate"], "a count limited to n");
    let done = db.query::<Item>().filter(Item::name().eq("item 3")).update().inc(Item::qty(), 1).await.unwrap();
    assert_eq!((done.matched, done.modified), (1, 1));
    assert_eq!(take(&seen), ["update"]);
    assert_eq!(db.delete_many(&keys).await.unwrap(), 100);
    assert_eq!(take(&seen), ["delete"]);
    let all = db.query::<Item>().all().await.unwrap();
    assert_eq!(all.len(), 2402);
    let names = take(&seen);
    assert_eq!(names[0], "find");
    assert!(names[1..].iter().all(|n| n == "getMore"), "{names:?}");
}

#[tokio::test]
async fn indexes_are_created_only_by_sync_and_idempotently() {
    let (db, seen) = monitored("rt").await;
    db.save(&mut item(1)).await.unwrap();
    db.query::<Item>().filter(Item::name().eq("item 1")).all().await.unwrap();
    assert!(!take(&seen).iter().any(|n| n == "createIndexes"));
    db.sync_indexes().await.unwrap();
    db.sync_indexes().await.unwrap();
    assert!(take(&seen).iter().filter(|n| *n == "createIndexes").count() >= 2);
    let names = db.collection::<Item>().list_index_names().await.unwrap();
    assert!(names.contains(&"name".to_string()), "{names:?}");
    assert!(names.contains(&"name,-qty".to_string()), "the compound index: {names:?}");
    assert!(db.integrity_check().await.unwrap().problems.iter().all(|p| p.model != "Item"));
}

#[tokio::test]
async fn aggregation_results_decode_into_models() {
    let db = support::fresh_mongo().await;
    let mut items: Vec<Item> = (0..10).map(item).collect();
    db.save_many(&mut items).await.unwrap();
    use nonrel_runtime::mongo::mongodb::bson::doc;
    let pipeline = vec![doc! { "$match": { "qty": { "$gte": 7 } } }, doc! { "$sort": { "qty": -1 } }];
    let top: Vec<Item> = db.aggregate(pipeline).await.unwrap();
    assert_eq!(top.iter().map(|i| i.qty).collect::<Vec<_>>(), [9, 8, 7]);
    assert_eq!(top[0].id, items[9].id, "keys come back from _id");
    let raw = db.collection::<Item>().estimated_document_count().await.unwrap();
    assert_eq!(raw, 10);
}

#[tokio::test]
async fn documents_written_by_other_programs_give_clear_errors() {
    let db = support::fresh_mongo().await;
    use nonrel_runtime::mongo::mongodb::bson::{doc, RawDocumentBuf};
    let foreign = doc! { "_id": 7i64, "name": 5, "qty": 1i64, "tags": [] };
    db.collection::<Item>().insert_one(RawDocumentBuf::try_from(&foreign).unwrap()).await.unwrap();
    let err = db.get::<Item>(Key::from(7)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    let msg = err.to_string();
    assert!(msg.contains("Item.name") && msg.contains("key 7") && msg.contains("found int32"), "{msg}");
    let extra = doc! { "_id": 8i64, "name": "ok", "qty": 2i64, "tags": [], "legacy": { "kept": true } };
    db.collection::<Item>().insert_one(RawDocumentBuf::try_from(&extra).unwrap()).await.unwrap();
    let mut loaded = db.get::<Item>(Key::from(8)).await.unwrap().unwrap();
    loaded.qty = 3;
    db.save(&mut loaded).await.unwrap();
    let stored = db.collection::<Item>().find_one(doc! { "_id": 8i64 }).await.unwrap().unwrap();
    assert!(stored.get("legacy").unwrap().is_some(), "unknown fields survive a save");
}

#[tokio::test]
async fn records_copy_between_backends_exactly() {
    let embedded = Database::in_memory().unwrap();
    let mut items: Vec<Item> = (0..50).map(item).collect();
    embedded.save_many(&mut items).await.unwrap();
    let mongo = support::fresh_mongo().await;
    assert_eq!(embedded.copy_to::<Item, _>(&mongo).await.unwrap(), 50);
    let back = Database::in_memory().unwrap();
    assert_eq!(mongo.copy_to::<Item, _>(&back).await.unwrap(), 50);
    for original in &items {
        let key = original.id.as_ref().unwrap();
        assert_eq!(mongo.get(key).await.unwrap().as_ref(), Some(original));
        assert_eq!(back.get(key).await.unwrap().as_ref(), Some(original));
    }
    assert_eq!(back.query::<Item>().filter(Item::name().eq("item 7")).count().await.unwrap(), 1, "indexes follow");
    let mut oid_items: Vec<Item> = (0..5).map(item).collect();
    mongo.save_many(&mut oid_items).await.unwrap();
    let again = Database::in_memory().unwrap();
    mongo.copy_all_to(&again).await.unwrap();
    for it in &oid_items {
        assert_eq!(again.get(it.id.as_ref().unwrap()).await.unwrap().as_ref(), Some(it), "ObjectId keys too");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_naming_the_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let uri = format!("mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500&connectTimeoutMS=500");
    let attempt = tokio::time::timeout(Duration::from_secs(30), Database::connect(&uri, "x")).await;
    let err = attempt.expect("the configured timeout bounds the wait").err().expect("nothing listens there");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
    assert_eq!(err.kind(), ErrorKind::Storage);
}

/// Starts a private server process this test may stop and restart: `NONREL_TEST_MONGOD` names
/// a `secantusd-py` (set by scripts/test) or a `mongod` binary.
fn start_server(port: u16, dir: &std::path::Path) -> std::process::Child {
    let bin = std::env::var("NONREL_TEST_MONGOD").unwrap_or_else(|_| {
        panic!(
            "NONREL_TEST_MONGOD is not set: run scripts/test (it installs SecantusDB and sets it), \
             or set it to a mongod binary this test may start and stop"
        )
    });
    let port = port.to_string();
    let is_mongod = std::path::Path::new(&bin).file_name().is_some_and(|n| n.to_string_lossy().starts_with("mongod"));
    let dbpath = dir.to_string_lossy().into_owned();
    let args: Vec<&str> = if is_mongod {
        vec!["--bind_ip", "127.0.0.1", "--port", &port, "--dbpath", &dbpath]
    } else {
        vec!["--host", "127.0.0.1", "--port", &port, "--storage-path", ":memory:"]
    };
    std::process::Command::new(bin)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the test server")
}

async fn wait_for(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the test server did not start on port {port}");
}

#[tokio::test]
async fn a_server_that_goes_away_gives_errors_and_the_handle_recovers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(port, dir.path());
    wait_for(port).await;
    let uri = format!("mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000");
    let db = Database::connect(&uri, "restart").await.expect("connect");
    let mut first = item(1);
    db.save(&mut first).await.unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let guard = Duration::from_secs(30);
    let down = tokio::time::timeout(guard, db.get(first.id.as_ref().unwrap())).await.expect("no hang");
    assert_eq!(down.unwrap_err().kind(), ErrorKind::Storage);
    let down = tokio::time::timeout(guard, db.save(&mut item(2))).await.expect("no hang");
    assert!(down.is_err());
    let mut server = start_server(port, dir.path());
    wait_for(port).await;
    let mut again = item(3);
    let saved = tokio::time::timeout(guard, db.save(&mut again)).await.expect("no hang");
    saved.expect("the same handle works once the server is back");
    assert_eq!(db.get(again.id.as_ref().unwrap()).await.unwrap(), Some(again));
    server.kill().unwrap();
    server.wait().unwrap();
}

#[derive(nonrel_runtime::Embedded, Debug, Clone, PartialEq)]
struct Line {
    sku: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "orders")]
struct Order {
    #[field(key)]
    id: i64,
    lines: Vec<Line>,
    ship: Option<Line>,
}

/// The `u` of every `update` command the client sends.
async fn updates_seen(
    prefix: &str,
) -> (Database<nonrel_runtime::Mongo>, std::sync::Arc<std::sync::Mutex<Vec<bson::Bson>>>) {
    use nonrel_runtime::mongo::mongodb::event::{command::CommandEvent, EventHandler};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut options = support::options().await;
    options.command_event_handler = Some(EventHandler::callback(move |e: CommandEvent| {
        if let CommandEvent::Started(started) = e {
            if let Ok(updates) = started.command.get_array("updates") {
                let u = updates.iter().filter_map(|s| s.as_document()?.get("u").cloned());
                sink.lock().unwrap().extend(u);
            }
        }
    }));
    let mongo = nonrel_runtime::Mongo::connect_with(options, &support::fresh_name(prefix)).await.expect("connect");
    (Database::new(mongo), seen)
}

#[tokio::test]
async fn only_saves_holding_embedded_models_are_pipelines() {
    let (db, seen) = updates_seen("shape").await;
    let mut one = Item { id: None, name: "a".into(), qty: 2, tags: vec!["t".into()] };
    db.save(&mut one).await.unwrap();
    let plain = bson::doc! { "$set": { "name": "a", "qty": 2i64, "tags": ["t"] } };
    assert_eq!(take_updates(&seen), [bson::Bson::Document(plain)], "a model without embedded fields: $set as ever");
    db.save(&mut Order { id: 1, lines: vec![], ship: None }).await.unwrap();
    let empty = bson::doc! { "$set": { "lines": [], "ship": null } };
    assert_eq!(take_updates(&seen), [bson::Bson::Document(empty)], "no embedded value: nothing to merge");
    db.save(&mut Order { id: 1, lines: vec![Line { sku: "x".into() }], ship: None }).await.unwrap();
    let u = take_updates(&seen);
    assert!(matches!(&u[..], [bson::Bson::Array(stages)] if stages.len() == 1), "one pipeline stage: {u:?}");
}

fn take_updates(seen: &std::sync::Mutex<Vec<bson::Bson>>) -> Vec<bson::Bson> {
    std::mem::take(&mut *seen.lock().unwrap())
}
