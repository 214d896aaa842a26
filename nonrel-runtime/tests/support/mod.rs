//! Connecting tests to the MongoDB-compatible server the test command started.

#![allow(dead_code)]

use nonrel_runtime::mongo::mongodb::event::command::CommandEvent;
use nonrel_runtime::mongo::mongodb::event::EventHandler;
use nonrel_runtime::mongo::mongodb::options::ClientOptions;
use nonrel_runtime::{Database, Mongo};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The server's URI; a test that needs a server fails, with how to start one, without it.
pub fn mongodb_uri() -> String {
    std::env::var("MONGODB_URI").unwrap_or_else(|_| {
        panic!(
            "MONGODB_URI is not set: run the tests with scripts/test (which starts a \
             MongoDB-compatible server), or set MONGODB_URI to a MongoDB server"
        )
    })
}

/// A database name no other test uses.
pub fn fresh_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("nonrel_{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Driver options for the test server, with short timeouts.
pub async fn options() -> ClientOptions {
    let uri = mongodb_uri();
    let mut options = ClientOptions::parse(&uri).await.expect("MONGODB_URI parses");
    options.server_selection_timeout = Some(Duration::from_secs(10));
    options
}

/// A fresh, empty database on the test server, with every declared index created.
pub async fn fresh_mongo() -> Database<Mongo> {
    let uri = mongodb_uri();
    let mongo = Mongo::connect(&uri, &fresh_name("t"))
        .await
        .unwrap_or_else(|e| panic!("cannot reach the MongoDB server at {uri}: {e}; run scripts/test to start one"));
    let db = Database::new(mongo);
    db.sync_indexes().await.expect("sync_indexes");
    db
}

/// The names of the commands a client sent, in order.
pub type Commands = Arc<Mutex<Vec<String>>>;

/// A fresh database (named after `prefix`) whose commands are recorded by name, with every
/// declared index created and the record cleared after that.
pub async fn monitored(prefix: &str) -> (Database<Mongo>, Commands) {
    let seen = Commands::default();
    let sink = seen.clone();
    let mut options = options().await;
    options.command_event_handler = Some(EventHandler::callback(move |e: CommandEvent| {
        if let CommandEvent::Started(started) = e {
            sink.lock().unwrap().push(started.command_name);
        }
    }));
    let mongo = Mongo::connect_with(options, &fresh_name(prefix)).await.expect("connect");
    let db = Database::new(mongo);
    db.sync_indexes().await.unwrap();
    seen.lock().unwrap().clear();
    (db, seen)
}

/// The commands recorded since the last call.
pub fn take(seen: &Commands) -> Vec<String> {
    std::mem::take(&mut *seen.lock().unwrap())
}
