//! Maintained counts on Redis: every write path keeps the counters in the script that writes
//! the records, a count of one group reads its counter with one command at any size, a
//! damaged counter is reported and rebuilt, a counter that never covered the records is not
//! trusted until `rebuild_indexes`, and racing writers (with a rebuild beside them) leave
//! every counter equal to its records.

mod support;

use nonrel_redis::{Redis, Stats};
use nonrel_runtime::order::encoded;
use nonrel_runtime::{Database, Error, ErrorKind, Key, KeyValue, Model, Value};
use std::collections::BTreeMap;
use std::future::IntoFuture;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "redis_counted", count_by(author), count_by("author", "status"), count_by())]
struct Post {
    #[field(key)]
    id: i64,
    author: String,
    status: Option<String>,
    #[field(unique)]
    slug: String,
    score: i64,
}

const AUTHORS: [&str; 3] = ["ann", "bob", "cy"];
const STATUSES: [Option<&str>; 3] = [None, Some("draft"), Some("live")];

fn post(id: i64, author: &str, status: Option<&str>) -> Post {
    Post { id, author: author.into(), status: status.map(str::to_owned), slug: format!("s{id}"), score: id }
}

fn key(id: i64) -> Key<Post> {
    Key::from_value(KeyValue::Int(id))
}

/// Runs `f` and returns what it sent.
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

/// Every declared count, each read from its counter (one command, nothing else read), equal
/// to the count of the stored records. (In a collection never written there is no counter
/// yet: its counts read the empty collection.)
async fn counts_match_records(redis: &Redis, db: &Database<Redis>, ctx: &str) {
    let all = db.query::<Post>().all().await.unwrap();
    for a in AUTHORS {
        let want = all.iter().filter(|p| p.author == a).count() as u64;
        let (got, s) = cost(redis, db.count_by(Post::author(), a)).await;
        assert_eq!(got.unwrap(), want, "count of author {a}: {ctx}");
        if !all.is_empty() {
            let spent = (s.round_trips, s.commands, s.entries_read);
            assert_eq!(spent, (1, 1, 0), "count of author {a} reads its counter: {ctx}");
        }
        for st in STATUSES {
            let want = all.iter().filter(|p| p.author == a && p.status.as_deref() == st).count() as u64;
            let by_status = match st {
                Some(st) => Post::status().eq(st),
                None => Post::status().isnull(true),
            };
            let q = db.query::<Post>().filter(Post::author().eq(a)).filter(by_status);
            let (got, s) = cost(redis, q.count()).await;
            assert_eq!(got.unwrap(), want, "count of author {a}, status {st:?}: {ctx}");
            if !all.is_empty() {
                assert_eq!((s.round_trips, s.entries_read), (1, 0), "counted by its counter: {ctx}");
            }
        }
    }
    assert_eq!(db.query::<Post>().count().await.unwrap(), all.len() as u64, "total: {ctx}");
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{ctx}: {:?}", report.problems);
}

#[tokio::test]
async fn every_write_path_keeps_the_counters() {
    let redis = support::fresh().await;
    let db = Database::new(redis.clone());
    counts_match_records(&redis, &db, "empty").await;

    let mut p = post(1, "ann", Some("draft"));
    db.insert(&mut p).await.unwrap();
    counts_match_records(&redis, &db, "insert").await;

    p.author = "bob".into();
    db.save(&mut p).await.unwrap();
    counts_match_records(&redis, &db, "save moving a record").await;

    let mut batch: Vec<Post> = (2..20).map(|i| post(i, AUTHORS[i as usize % 3], STATUSES[i as usize % 3])).collect();
    db.save_many(&mut batch).await.unwrap();
    counts_match_records(&redis, &db, "save_many").await;

    assert!(db.delete(key(2)).await.unwrap());
    counts_match_records(&redis, &db, "delete").await;
    assert_eq!(db.delete_many::<Post, _>([key(3), key(4), key(999)]).await.unwrap(), 2);
    counts_match_records(&redis, &db, "delete_many").await;

    let moved =
        db.query::<Post>().filter(Post::author().eq("cy")).update().set(Post::author(), "ann").into_future().await;
    assert!(moved.unwrap().modified > 0);
    counts_match_records(&redis, &db, "update by query").await;

    // A transaction moving one record and deleting another; then one that fails after
    // writing: nothing of it is counted.
    db.transaction(|tx| async move {
        let mut p = tx.get::<Post>(&key(5)).await?.expect("5 exists");
        p.status = Some("live".into());
        p.author = "cy".into();
        tx.save(&mut p).await?;
        tx.delete(key(6)).await?;
        Ok(())
    })
    .await
    .unwrap();
    counts_match_records(&redis, &db, "transaction").await;
    let failed = db
        .transaction(|tx| async move {
            tx.save(&mut post(50, "cy", None)).await?;
            Err::<(), _>(Error::new(ErrorKind::Unsupported, "given up"))
        })
        .await;
    assert!(failed.is_err());
    counts_match_records(&redis, &db, "failed transaction").await;

    // Refused writes count nothing: a duplicate key, a unique value another record holds
    // (in a batch whose other records would have been counted).
    assert_eq!(db.insert(&mut post(7, "cy", None)).await.unwrap_err().kind(), ErrorKind::DuplicateKey);
    let mut clash = vec![post(60, "cy", None), Post { slug: "s8".into(), ..post(61, "cy", None) }];
    assert_eq!(db.save_many(&mut clash).await.unwrap_err().kind(), ErrorKind::UniqueViolation);
    counts_match_records(&redis, &db, "refused writes").await;
}

/// A count of one group sends one `HMGET` and reads no record or index entry, whether the
/// collection holds 100 or 3,000 records.
#[tokio::test]
async fn a_count_of_one_group_is_one_command_at_any_size() {
    let redis = support::fresh().await;
    let db = Database::new(redis.clone());
    let mut costs = Vec::new();
    for size in [100i64, 3_000] {
        let have = db.query::<Post>().count().await.unwrap() as i64;
        for chunk in (have..size).collect::<Vec<_>>().chunks(1000) {
            let mut batch: Vec<Post> =
                chunk.iter().map(|&i| post(i, AUTHORS[i as usize % 3], STATUSES[i as usize % 3])).collect();
            db.save_many(&mut batch).await.unwrap();
        }
        let (n, s) = cost(&redis, db.count_by(Post::author(), "bob")).await;
        assert_eq!(n.unwrap(), (size / 3) as u64);
        costs.push(s);
        let q = db.query::<Post>().filter(Post::author().eq("bob")).filter(Post::status().eq("draft"));
        let (n, s) = cost(&redis, q.count()).await;
        assert_eq!(n.unwrap(), (size / 3) as u64);
        costs.push(s);
        // With another condition the records are counted.
        let q = db.query::<Post>().filter(Post::author().eq("bob")).filter(Post::score().lt(30i64));
        assert_eq!(q.count().await.unwrap(), 10);
    }
    for s in &costs {
        assert_eq!((s.round_trips, s.commands, s.entries_read), (1, 1, 0));
    }
}

/// The raw counter hash of the test's collection.
fn counter_key(prefix: &str, grouping: &str) -> String {
    format!("{{{prefix}:redis_counted}}:n:{grouping}")
}

async fn raw(prefix_cmd: redis::Cmd) -> redis::Value {
    let client = redis::Client::open(support::url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    prefix_cmd.query_async(&mut conn).await.unwrap()
}

#[tokio::test]
async fn a_damaged_counter_is_reported_and_rebuilt() {
    let (redis, prefix) = support::fresh_with_prefix().await;
    let db = Database::new(redis.clone());
    let mut batch: Vec<Post> = (0..12).map(|i| post(i, AUTHORS[i as usize % 3], STATUSES[i as usize % 3])).collect();
    db.save_many(&mut batch).await.unwrap();
    assert!(db.integrity_check().await.unwrap().is_ok());

    let ann = encoded(&Value::String("ann".into()));
    let mut cmd = redis::cmd("HINCRBY");
    cmd.arg(counter_key(&prefix, "author")).arg(&ann).arg(3);
    raw(cmd).await;
    assert_eq!(db.count_by(Post::author(), "ann").await.unwrap(), 7, "the damaged counter answers");
    let report = db.integrity_check().await.unwrap();
    let problems: Vec<_> = report.problems.iter().filter(|p| p.index == "author").collect();
    assert_eq!(problems.len(), 1, "{:?}", report.problems);
    assert_eq!(problems[0].model, "Post");
    let msg = &problems[0].message;
    assert!(msg.contains("count_by(author)") && msg.contains(r#"author = "ann""#), "{msg}");
    assert!(msg.contains("holds 7") && msg.contains("number 4"), "{msg}");

    // A group no record belongs to is reported too.
    let mut cmd = redis::cmd("HSET");
    cmd.arg(counter_key(&prefix, "author,status")).arg(encoded(&Value::String("zed".into()))).arg(2);
    raw(cmd).await;
    let report = db.integrity_check().await.unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.index == "author,status" && p.message.contains("no record")));

    db.rebuild_indexes().await.unwrap();
    assert!(db.integrity_check().await.unwrap().is_ok());
    counts_match_records(&redis, &db, "after rebuild").await;
}

/// A counter that never covered the records (a grouping declared after records were
/// written, as a counter removed from the store is) is not read: counts read records, and
/// are exact, until `rebuild_indexes` fills it.
#[tokio::test]
async fn a_counter_never_filled_is_not_trusted_until_rebuilt() {
    let (redis, prefix) = support::fresh_with_prefix().await;
    let db = Database::new(redis.clone());
    let mut batch: Vec<Post> = (0..30).map(|i| post(i, AUTHORS[i as usize % 3], STATUSES[i as usize % 3])).collect();
    db.save_many(&mut batch).await.unwrap();
    for grouping in ["author", "author,status"] {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(counter_key(&prefix, grouping));
        raw(cmd).await;
    }
    // Writes after it: the counter is written again, but does not cover the older records.
    db.save(&mut post(100, "ann", None)).await.unwrap();
    db.delete(key(1)).await.unwrap();
    let (n, s) = cost(&redis, db.count_by(Post::author(), "ann")).await;
    assert_eq!(n.unwrap(), 11);
    assert!(s.round_trips > 1 || s.entries_read > 0, "the records are counted: {s:?}");
    let q = db.query::<Post>().filter(Post::author().eq("bob")).filter(Post::status().eq("draft"));
    assert_eq!(q.count().await.unwrap(), 9);
    let q = db.query::<Post>().filter(Post::author().eq("bob")).filter(Post::status().isnull(true));
    assert_eq!(q.count().await.unwrap(), 0);
    let report = db.integrity_check().await.unwrap();
    assert!(
        report.problems.iter().any(|p| p.index == "author" && p.message.contains("not built yet")),
        "{:?}",
        report.problems
    );
    db.rebuild_indexes().await.unwrap();
    counts_match_records(&redis, &db, "after rebuild").await;
}

/// Tasks racing on the records of one group: inserting, moving between groups and back,
/// deleting, with rebuilds beside them when `rebuild`.
async fn race(db: &Database<Redis>, seed: u64, rebuild: bool) {
    let mut tasks = Vec::new();
    for t in 0..12u64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = nonrel_runtime::conformance::Rng::new(seed + t * 7919 + 1);
            for _ in 0..40 {
                let x = rng.next();
                let id = (x % 16) as i64;
                let author = if x.is_multiple_of(3) { "bob" } else { "ann" };
                match (x >> 8) % 5 {
                    0 | 1 => {
                        let mut p = post(id, author, STATUSES[(x >> 16) as usize % 3]);
                        db.save(&mut p).await.unwrap();
                    }
                    2 => {
                        db.delete(key(id)).await.unwrap();
                    }
                    3 => {
                        let q = db.query::<Post>().filter(Post::author().eq("ann")).filter(Post::id().eq(id));
                        q.update().set(Post::author(), "bob").into_future().await.unwrap();
                    }
                    _ => {
                        let q = db.query::<Post>().filter(Post::author().eq("bob"));
                        q.update().set(Post::author(), "ann").into_future().await.unwrap();
                    }
                }
            }
        }));
    }
    let rebuilds = {
        let db = db.clone();
        tokio::spawn(async move {
            for _ in 0..if rebuild { 3 } else { 0 } {
                db.rebuild_indexes_of::<Post>().await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    rebuilds.await.unwrap();
}

/// Every counter of the test's model equals its records, read from the counter.
async fn counters_equal_records(redis: &Redis, db: &Database<Redis>, ctx: &str) {
    let all = db.query::<Post>().all().await.unwrap();
    assert!(!all.is_empty(), "{ctx}");
    let mut by_author: BTreeMap<&str, u64> = BTreeMap::new();
    for p in &all {
        *by_author.entry(p.author.as_str()).or_default() += 1;
    }
    for a in AUTHORS {
        let (n, s) = cost(redis, db.count_by(Post::author(), a)).await;
        assert_eq!(n.unwrap(), by_author.get(a).copied().unwrap_or(0), "author {a}: {ctx}");
        assert_eq!(s.entries_read, 0, "read from the counter: {ctx}");
    }
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{ctx}: {:?}", report.problems);
}

async fn racing_writers(redis: Redis) {
    let db = Database::new(redis.clone());
    race(&db, 1, false).await;
    counters_equal_records(&redis, &db, "racing writers").await;
    race(&db, 2, true).await;
    counters_equal_records(&redis, &db, "racing writers beside rebuilds").await;
}

#[tokio::test]
async fn racing_writers_leave_every_counter_exact() {
    racing_writers(support::fresh().await).await;
}

#[tokio::test]
async fn racing_writers_leave_every_counter_exact_on_a_cluster() {
    racing_writers(support::fresh_cluster().await).await;
}
