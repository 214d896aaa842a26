//! What the Redis backend promises beyond the conformance suite: round trips per operation
//! (counted by the handle, equal to what hand-written code on the same layout sends), unique
//! values under racing writers, no lost update under concurrent updates by query, the cost
//! of an indexed query following its result, copies between backends, and durability with
//! append-only persistence across a server restart.

mod support;

use nonrel_redis::{Redis, Stats};
use nonrel_runtime::{Database, ErrorKind, Key, LoadOptions, Model};
use std::future::IntoFuture;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "redis_accounts")]
struct Account {
    #[field(key)]
    id: Option<Key<Account>>,
    #[field(unique)]
    email: String,
    #[field(index)]
    city: String,
    #[field(index)]
    score: i64,
    visits: i64,
}

fn account(email: &str, city: &str, score: i64) -> Account {
    Account { id: None, email: email.into(), city: city.into(), score, visits: 0 }
}

/// Runs `f` and returns the requests and commands it sent.
async fn cost<T>(redis: &Redis, f: impl std::future::Future<Output = T>) -> (T, Stats) {
    let before = redis.stats();
    let out = f.await;
    let after = redis.stats();
    let spent = Stats {
        round_trips: after.round_trips - before.round_trips,
        commands: after.commands - before.commands,
        entries_read: after.entries_read - before.entries_read,
    };
    (out, spent)
}

/// Requests and commands of a cost.
fn requests(s: Stats) -> (u64, u64) {
    (s.round_trips, s.commands)
}

/// `round_trips` requests of one command each.
fn one(round_trips: u64) -> (u64, u64) {
    (round_trips, round_trips)
}

#[tokio::test]
async fn each_operation_is_one_round_trip() {
    let redis = support::fresh().await;
    let db = Database::new(redis.clone());
    // Warm the server's script cache, so counts do not include the one-time script load.
    db.save(&mut account("warm@x", "Oslo", 0)).await.unwrap();
    db.query::<Account>().filter(Account::city().eq("Oslo")).all().await.unwrap();
    db.delete_many::<Account, _>([Key::<Account>::from(1i64)]).await.unwrap();

    // A save of a new record: one script (record, entries, unique check).
    let mut ann = account("ann@x", "Oslo", 5);
    let (r, s) = cost(&redis, db.save(&mut ann)).await;
    r.unwrap();
    assert_eq!(requests(s), one(1), "save of a new record");
    // An insert: one script.
    let mut bob = account("bob@x", "Rome", 7);
    let (r, s) = cost(&redis, db.insert(&mut bob)).await;
    r.unwrap();
    assert_eq!(requests(s), one(1), "insert");
    // A save over a stored record: the script sends it back, its unknown fields are merged,
    // and a compare-and-set script writes it (hand-written code keeping unknown fields
    // reads the record first too).
    ann.visits = 1;
    let (r, s) = cost(&redis, db.save(&mut ann)).await;
    r.unwrap();
    assert_eq!(requests(s), one(2), "save over a stored record");
    // A get: one MGET.
    let key = ann.id.clone().unwrap();
    let (r, s) = cost(&redis, db.get::<Account>(&key)).await;
    assert_eq!(r.unwrap().unwrap(), ann);
    assert_eq!(requests(s), one(1), "get");

    // A batch of 200: one script to write, one MGET to read, one script to delete.
    let mut batch: Vec<Account> = (0..200).map(|i| account(&format!("u{i}@x"), "Lima", i)).collect();
    let (r, s) = cost(&redis, db.save_many(&mut batch)).await;
    r.unwrap();
    assert_eq!(requests(s), one(1), "save_many of new records");
    let keys: Vec<Key<Account>> = batch.iter().map(|a| a.id.clone().unwrap()).collect();
    let (r, s) = cost(&redis, db.get_many::<Account, _>(keys.iter())).await;
    assert_eq!(r.unwrap().into_iter().flatten().count(), 200);
    assert_eq!(requests(s), one(1), "get_many");

    // An indexed equality query: one script reads the index range and the records.
    let (r, s) = cost(&redis, db.query::<Account>().filter(Account::city().eq("Rome")).all()).await;
    assert_eq!(r.unwrap(), vec![bob.clone()]);
    assert_eq!(requests(s), one(1), "indexed query");
    // An indexed range query, and a page of it.
    let (r, s) = cost(&redis, db.query::<Account>().filter(Account::score().range(10i64, 19i64)).all()).await;
    assert_eq!(r.unwrap().len(), 10);
    assert_eq!(requests(s), one(1), "indexed range query");
    // A bounded count over the whole collection reads one batch, not the collection.
    let (r, s) = cost(&redis, db.query::<Account>().count_upto(5)).await;
    assert_eq!(r.unwrap(), 5);
    assert_eq!(requests(s), one(1), "count_upto");
    // An update by query: one read, one compare-and-set script.
    let (r, s) = cost(
        &redis,
        db.query::<Account>().filter(Account::city().eq("Rome")).update().inc(Account::visits(), 1i64).into_future(),
    )
    .await;
    assert_eq!((r.unwrap().modified), 1);
    assert_eq!(requests(s), one(2), "update by query");

    let (r, s) = cost(&redis, db.delete_many::<Account, _>(keys.iter())).await;
    assert_eq!(r.unwrap(), 200);
    assert_eq!(requests(s), one(1), "delete_many");
}

#[tokio::test]
async fn unique_values_hold_under_racing_writers() {
    let db = Database::new(support::fresh().await);
    for round in 0..5 {
        let mut tasks = Vec::new();
        for i in 0..16 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut a = account(&format!("same{round}@x"), "Oslo", i);
                db.save(&mut a).await
            }));
        }
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => won += 1,
                Err(e) => assert_eq!(e.kind(), ErrorKind::UniqueViolation, "{e}"),
            }
        }
        assert_eq!(won, 1, "exactly one writer gets the value");
        let holders =
            db.query::<Account>().filter(Account::email().eq(format!("same{round}@x"))).count().await.unwrap();
        assert_eq!(holders, 1);
    }
    assert!(db.integrity_check().await.unwrap().is_ok());
}

#[tokio::test]
async fn concurrent_updates_by_query_lose_nothing() {
    let db = Database::new(support::fresh().await);
    let mut a = account("n@x", "Oslo", 1);
    db.save(&mut a).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                let q = db.query::<Account>().filter(Account::city().eq("Oslo"));
                q.update().inc(Account::visits(), 1i64).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(db.get::<Account>(a.id.as_ref().unwrap()).await.unwrap().unwrap().visits, 200);
}

/// An equality query returning 10 records sends the same requests and reads the same
/// members whether the collection holds 2,000 or 20,000 records: its cost follows the result.
#[tokio::test]
async fn indexed_query_cost_follows_the_result() {
    let redis = support::fresh().await;
    let db = Database::new(redis.clone());
    let mut cities = Vec::new();
    for size in [2_000usize, 20_000] {
        let have = db.query::<Account>().count().await.unwrap() as usize;
        for chunk in (have..size).collect::<Vec<_>>().chunks(1000) {
            let mut batch: Vec<Account> = chunk
                .iter()
                .map(|&i| account(&format!("{i}@x"), if i < 10 { "Rare" } else { "Common" }, i as i64))
                .collect();
            db.save_many(&mut batch).await.unwrap();
        }
        let q = db.query::<Account>().filter(Account::city().eq("Rare"));
        let (r, s) = cost(&redis, q.all()).await;
        assert_eq!(r.unwrap().len(), 10);
        cities.push(s);
    }
    assert_eq!(cities[0], cities[1]);
    assert_eq!(requests(cities[0]), one(1));
    assert_eq!(cities[0].entries_read, 10);
}

#[tokio::test]
async fn copies_and_dumps_between_backends_keep_every_record_and_key() {
    let redis = Database::new(support::fresh().await);
    let embedded = Database::in_memory().unwrap();
    let mut all: Vec<Account> = (0..50).map(|i| account(&format!("c{i}@x"), "Kyiv", i)).collect();
    embedded.save_many(&mut all).await.unwrap();
    assert_eq!(embedded.copy_to::<Account, _>(&redis).await.unwrap(), 50);
    let mut back = redis.query::<Account>().all().await.unwrap();
    back.sort_by_key(|a| a.score);
    assert_eq!(back, all);

    // Redis to a fresh embedded database through a dump, and back through a copy.
    let mut text = Vec::new();
    redis.dump(&mut text).await.unwrap();
    let again = Database::in_memory().unwrap();
    again.load(text.as_slice(), LoadOptions::default()).await.unwrap();
    let mut text2 = Vec::new();
    again.dump(&mut text2).await.unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), String::from_utf8(text2).unwrap(), "dumps agree byte for byte");
    let other = Database::new(support::fresh().await);
    again.copy_to::<Account, _>(&other).await.unwrap();
    let mut copied = other.query::<Account>().all().await.unwrap();
    copied.sort_by_key(|a| a.score);
    assert_eq!(copied, all);
    // The automatic key counter was not consulted for copied keys: a new record gets a
    // key no copied record holds.
    let mut fresh = account("new@x", "Kyiv", 99);
    other.save(&mut fresh).await.unwrap();
    assert!(!all.iter().any(|a| a.id == fresh.id));
}

/// With append-only persistence and `appendfsync always`, every write the server
/// acknowledged is there after the server is killed and started again.
#[tokio::test]
async fn acknowledged_writes_survive_a_restart_with_append_only_persistence() {
    let dir = std::env::temp_dir().join(format!("nonrel-redis-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let start = || {
        std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server) for the durability test")
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let connect = || async {
        for _ in 0..100 {
            if let Ok(r) = Redis::connect(&url).await {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the durability test's redis-server on port {port} did not start");
    };
    let mut server = start();
    let db = Database::new(connect().await);
    let mut written = Vec::new();
    for i in 0..100 {
        let mut a = account(&format!("d{i}@x"), "Bern", i);
        db.save(&mut a).await.unwrap();
        written.push(a);
    }
    server.kill().unwrap(); // SIGKILL: no shutdown, no final save
    server.wait().unwrap();
    let mut server = start();
    let db = Database::new(connect().await);
    let mut found = db.query::<Account>().all().await.unwrap();
    found.sort_by_key(|a| a.score);
    assert_eq!(found, written);
    assert!(db.integrity_check().await.unwrap().is_ok());
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
