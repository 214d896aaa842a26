//! Maintained counts on Datastore: one `lookup` per count of a declared group at any size,
//! concurrent writers never make the shards drift, a damaged shard is reported and
//! repaired, and a grouping declared after records exist reads records until it is filled.

mod support;

use nonrel_datastore::{Datastore, RpcCounts};
use nonrel_runtime::{Database, Key, Model};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "ds_counted", count_by(author), count_by("author", "status"), count_by())]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: String,
    status: String,
    n: i64,
}

fn post(author: &str, status: &str) -> Post {
    Post { id: None, author: author.into(), status: status.into(), n: 0 }
}

fn calls(d: RpcCounts) -> u64 {
    d.lookup + d.commit + d.run_query + d.run_aggregation_query + d.begin_transaction + d.rollback
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_count_is_one_lookup_at_any_size() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    for size in [3usize, 60] {
        let mut posts: Vec<Post> = (0..size).map(|i| post(["ann", "bob", "cy"][i % 3], "live")).collect();
        db.save_many(&mut posts).await.unwrap();
        let before = ds.rpc_counts();
        let ann = db.query::<Post>().filter(Post::author().eq("ann")).count().await.unwrap();
        let d = ds.rpc_counts() - before;
        assert_eq!((d.lookup, calls(d)), (1, 1), "count by author at {size}: {d:?}");
        let before = ds.rpc_counts();
        let by = db.count_by(Post::author(), "ann").await.unwrap();
        let d = ds.rpc_counts() - before;
        assert_eq!((d.lookup, calls(d)), (1, 1), "count_by at {size}: {d:?}");
        assert_eq!(ann, by);
        let before = ds.rpc_counts();
        let total = db.query::<Post>().count().await.unwrap();
        let pair = db.query::<Post>().filter(Post::author().eq("bob")).filter(Post::status().eq("live"));
        let pair = pair.count().await.unwrap();
        let d = ds.rpc_counts() - before;
        assert_eq!((d.lookup, calls(d)), (2, 2), "total and a pair at {size}: {d:?}");
        let all = db.query::<Post>().all().await.unwrap();
        assert_eq!(total, all.len() as u64);
        assert_eq!(ann, all.iter().filter(|p| p.author == "ann").count() as u64);
        assert_eq!(pair, all.iter().filter(|p| p.author == "bob" && p.status == "live").count() as u64);
    }
    // Another condition beside the grouping's equality reads records.
    let before = ds.rpc_counts();
    let q = db.query::<Post>().filter(Post::author().eq("ann")).filter(Post::n().eq(0));
    assert_eq!(q.count().await.unwrap(), 21);
    let d = ds.rpc_counts() - before;
    assert_eq!(d.lookup, 0, "{d:?}");
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// What each write costs, and that a write that fails changes no count: an insert refused
/// for its existing key, a transaction whose closure fails after saving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_cost_and_failed_writes_leave_counts() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    let mut first = post("ann", "live");
    db.save(&mut first).await.unwrap();
    let mut before = ds.rpc_counts();
    let mut step = |what: &str, expected: (u64, u64, u64, u64)| {
        let now = ds.rpc_counts();
        let d = now - before;
        before = now;
        let got = (d.lookup, d.commit, d.run_query + d.run_aggregation_query, d.begin_transaction);
        assert_eq!(got, expected, "{what}: (lookup, commit, query, beginTransaction)");
    };
    // The groupings are known filled: an insert's increments join its one commit.
    let mut second = post("ann", "draft");
    db.save(&mut second).await.unwrap();
    step("insert (automatic key)", (0, 1, 0, 0));
    second.author = "bob".into();
    db.save(&mut second).await.unwrap();
    step("save moving a record between groups", (1, 1, 0, 1));
    let mut again = first.clone();
    assert!(db.insert(&mut again).await.is_err(), "the key exists");
    step("insert of an existing key (a lookup names it)", (1, 1, 0, 0));
    let failed = db
        .transaction(|tx| async move {
            let mut p = post("ann", "live");
            tx.save(&mut p).await?;
            Err::<(), _>(nonrel_runtime::Error::new(nonrel_runtime::ErrorKind::Conflict, "changed its mind"))
        })
        .tries(2)
        .await;
    assert!(failed.is_err());
    db.delete(second.id.clone().unwrap()).await.unwrap();
    step("delete", (1, 1, 0, 1));
    assert_eq!(db.count_by(Post::author(), "ann").await.unwrap(), 1);
    assert_eq!(db.count_by(Post::author(), "bob").await.unwrap(), 0);
    assert_eq!(db.query::<Post>().count().await.unwrap(), 1);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// Writers on several handles (each its own process, as far as Datastore knows) move
/// records into and out of one group at once, by transactions that run again on conflict,
/// saves, updates and deletes; the shards then equal the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_to_one_group_never_drift() {
    let first = support::backend();
    let project = first.project().to_string();
    let host = std::env::var("DATASTORE_EMULATOR_HOST").unwrap();
    let db = Database::new(first.clone());
    let mut seed: Vec<Post> = (0..8).map(|i| post("ann", if i % 2 == 0 { "draft" } else { "live" })).collect();
    db.save_many(&mut seed).await.unwrap();
    let keys: Vec<Key<Post>> = seed.iter().map(|p| p.id.clone().unwrap()).collect();
    // Every transaction also moves this record between authors: concurrent ones conflict.
    let mut hot = post("ann", "live");
    db.save(&mut hot).await.unwrap();
    let hot = hot.id.unwrap();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let attempts = attempts.clone();
        let db = Database::new(Datastore::new(host.trim_start_matches("http://"), &project));
        let keys = keys.clone();
        let hot = hot.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..8u64 {
                let key = keys[((w * 3 + round) % keys.len() as u64) as usize].clone();
                match (w + round) % 4 {
                    0 => {
                        // A transaction moving one record between authors (run again on conflict).
                        let to = if round % 2 == 0 { "bob" } else { "ann" };
                        db.transaction(|tx| {
                            let (key, hot) = (key.clone(), hot.clone());
                            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            async move {
                                if let Some(mut p) = tx.get::<Post>(key).await? {
                                    p.author = to.into();
                                    p.n += 1;
                                    tx.save(&mut p).await?;
                                }
                                let mut extra = post("ann", "live");
                                tx.save(&mut extra).await?;
                                if let Some(mut h) = tx.get::<Post>(hot).await? {
                                    h.author = if h.author == "ann" { "bob".into() } else { "ann".into() };
                                    h.n += 1;
                                    tx.save(&mut h).await?;
                                }
                                Ok(())
                            }
                        })
                        .tries(50)
                        .await
                        .unwrap();
                    }
                    1 => {
                        let mut p = post("ann", "draft");
                        db.save(&mut p).await.unwrap();
                    }
                    2 => {
                        let q = db.query::<Post>().filter(Post::id().eq(key.clone()));
                        q.update().set(Post::status(), "live").await.unwrap();
                    }
                    _ => {
                        db.delete(key).await.unwrap();
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Each transaction moved the hot record once, however often it ran again.
    let hot = db.get(hot).await.unwrap().unwrap();
    assert_eq!(hot.n, 8, "one move per transaction");
    eprintln!("8 transactions, {} attempts", attempts.load(std::sync::atomic::Ordering::Relaxed));
    let all = db.query::<Post>().all().await.unwrap();
    for author in ["ann", "bob"] {
        let want = all.iter().filter(|p| p.author == author).count() as u64;
        assert_eq!(db.count_by(Post::author(), author).await.unwrap(), want, "author {author}");
        for status in ["draft", "live"] {
            let want = all.iter().filter(|p| p.author == author && p.status == status).count() as u64;
            let q = db.query::<Post>().filter(Post::author().eq(author)).filter(Post::status().eq(status));
            assert_eq!(q.count().await.unwrap(), want, "author {author}, status {status}");
        }
    }
    assert_eq!(db.query::<Post>().count().await.unwrap(), all.len() as u64);
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_shard_is_reported_and_rebuilt() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    let mut posts: Vec<Post> = ["ann", "ann", "bob"].iter().map(|a| post(a, "live")).collect();
    db.save_many(&mut posts).await.unwrap();
    assert!(db.integrity_check().await.unwrap().is_ok());
    // Add 5 to a shard of `author = "ann"` behind nonrel's back.
    let group = nonrel_runtime::order::encoded(&nonrel_runtime::Value::String("ann".into()));
    let name = format!("ds_counted/author/g{}/3", b64url(&group));
    raw_commit(&ds, &name, &group, 5).await;
    assert_eq!(db.count_by(Post::author(), "ann").await.unwrap(), 7, "the shards are read");
    let report = db.integrity_check().await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let p = &report.problems[0];
    assert_eq!((p.model, p.index), ("Post", "author"));
    assert!(p.message.contains(r#"author = "ann""#) && p.message.contains("holds 7, its records number 2"), "{p:?}");
    // A shard of a group no record belongs to.
    let ghost = nonrel_runtime::order::encoded(&nonrel_runtime::Value::String("zed".into()));
    raw_commit(&ds, &format!("ds_counted/author/g{}/0", b64url(&ghost)), &ghost, 2).await;
    let report = db.integrity_check().await.unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(report.problems[1].message.contains("no record belongs to"), "{:?}", report.problems);
    db.rebuild_indexes().await.unwrap();
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(db.count_by(Post::author(), "ann").await.unwrap(), 2);
    assert_eq!(db.count_by(Post::author(), "zed").await.unwrap(), 0);
}

/// `rebuild_indexes()` corrects a damaged grouping while another handle keeps writing to
/// the same groups: afterwards every count equals its records.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_beside_live_writes_leaves_counts_exact() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    let mut posts: Vec<Post> = (0..30).map(|i| post(["ann", "bob"][i % 2], "live")).collect();
    db.save_many(&mut posts).await.unwrap();
    let group = nonrel_runtime::order::encoded(&nonrel_runtime::Value::String("ann".into()));
    raw_commit(&ds, &format!("ds_counted/author/g{}/0", b64url(&group)), &group, 9).await;
    let host = std::env::var("DATASTORE_EMULATOR_HOST").unwrap();
    let other = Database::new(Datastore::new(host.trim_start_matches("http://"), ds.project()));
    let keys: Vec<Key<Post>> = posts.iter().map(|p| p.id.clone().unwrap()).collect();
    let writer = tokio::spawn(async move {
        for (i, key) in keys.iter().enumerate().take(12) {
            let mut p = post("ann", "draft");
            other.save(&mut p).await.unwrap();
            match i % 3 {
                0 => {
                    other.delete(key.clone()).await.unwrap();
                }
                1 => {
                    let q = other.query::<Post>().filter(Post::id().eq(key.clone()));
                    q.update().set(Post::author(), "ann").await.unwrap();
                }
                _ => {
                    if let Some(mut p) = other.get(key.clone()).await.unwrap() {
                        p.author = "bob".into();
                        other.save(&mut p).await.unwrap();
                    }
                }
            }
        }
    });
    for _ in 0..3 {
        db.rebuild_indexes().await.unwrap();
    }
    writer.await.unwrap();
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let all = db.query::<Post>().all().await.unwrap();
    for author in ["ann", "bob"] {
        let want = all.iter().filter(|p| p.author == author).count() as u64;
        assert_eq!(db.count_by(Post::author(), author).await.unwrap(), want, "author {author}");
    }
}

/// A grouping declared after records were written has no marker (here removed behind
/// nonrel's back, with a shard off by some writes): its counts read records, exact, the
/// integrity check says it is not built, and `rebuild_indexes()` fills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grouping_declared_after_records_reads_records_until_rebuilt() {
    let ds = support::backend();
    let db = Database::new(ds.clone());
    let mut posts: Vec<Post> = ["ann", "ann", "bob"].iter().map(|a| post(a, "live")).collect();
    db.save_many(&mut posts).await.unwrap();
    support::raw_commit(
        &ds,
        r#"{"delete":{"path":[{"kind":"nonrel_counter","name":"ds_counted/author/built"}]}}"#.into(),
    )
    .await;
    let group = nonrel_runtime::order::encoded(&nonrel_runtime::Value::String("ann".into()));
    raw_commit(&ds, &format!("ds_counted/author/g{}/1", b64url(&group)), &group, -4).await;
    let mut more = post("ann", "draft");
    db.save(&mut more).await.unwrap();
    db.delete(posts[2].id.clone().unwrap()).await.unwrap();
    let before = ds.rpc_counts();
    assert_eq!(db.count_by(Post::author(), "ann").await.unwrap(), 3);
    assert_eq!(db.count_by(Post::author(), "bob").await.unwrap(), 0);
    let d = ds.rpc_counts() - before;
    assert!(d.run_query + d.run_aggregation_query >= 2, "records counted: {d:?}");
    let report = db.integrity_check().await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].message.contains("count_by(author) not built yet"), "{:?}", report.problems);
    db.rebuild_indexes().await.unwrap();
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let before = ds.rpc_counts();
    assert_eq!(db.count_by(Post::author(), "ann").await.unwrap(), 3);
    assert_eq!(db.count_by(Post::author(), "bob").await.unwrap(), 0);
    let d = ds.rpc_counts() - before;
    assert_eq!((d.lookup, calls(d)), (2, 2), "the shards answer: {d:?}");
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Adds `delta` to a counter shard with a commit of the Datastore API, as another client would.
async fn raw_commit(ds: &Datastore, name: &str, group: &[u8], delta: i64) {
    let of = name.rsplitn(3, '/').nth(2).unwrap().to_string();
    let mutation = format!(
        r#"{{"upsert":{{"key":{{"path":[{{"kind":"nonrel_counter","name":"{name}"}}]}},"properties":{{"of":{{"stringValue":"{of}"}},"group":{{"blobValue":"{}","excludeFromIndexes":true}}}}}},"propertyMask":{{"paths":["of","group"]}},"propertyTransforms":[{{"property":"n","increment":{{"integerValue":"{delta}"}}}}]}}"#,
        b64(group)
    );
    support::raw_commit(ds, mutation).await;
}

fn b64(bytes: &[u8]) -> String {
    b64url(bytes).replace('-', "+").replace('_', "/") + ["", "==", "="][bytes.len() % 3]
}
