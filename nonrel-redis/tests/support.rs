//! Opening a fresh database on the test server.

use nonrel_redis::Redis;
use std::sync::atomic::{AtomicU64, Ordering};

/// The server's address: `REDIS_URL`, or a failure saying how to start one.
pub fn url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "REDIS_URL is not set: start a server with `scripts/servers.sh start` and `source .servers/env`, \
             or run `redis-server --port 6390 --save ''` and set REDIS_URL=redis://127.0.0.1:6390/"
        )
    })
}

/// A handle under a key prefix no other test uses, on the server of `REDIS_URL`.
#[allow(dead_code)]
pub async fn fresh() -> Redis {
    fresh_with_prefix().await.0
}

/// [`fresh`], and its key prefix (for tests that reach the layout's keys themselves).
#[allow(dead_code)]
pub async fn fresh_with_prefix() -> (Redis, String) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let url = url();
    let redis = Redis::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("t{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    (redis.with_prefix(&prefix).unwrap(), prefix)
}

/// The cluster's nodes: `REDIS_CLUSTER_URLS` (comma-separated), or a failure saying how to
/// start one.
pub fn cluster_urls() -> Vec<String> {
    let urls = std::env::var("REDIS_CLUSTER_URLS").unwrap_or_else(|_| {
        panic!(
            "REDIS_CLUSTER_URLS is not set: start a six-node cluster with `scripts/servers.sh start` and \
             `source .servers/env`, or set REDIS_CLUSTER_URLS=redis://127.0.0.1:7000/,redis://127.0.0.1:7001/,..."
        )
    });
    urls.split(',').filter(|u| !u.is_empty()).map(str::to_owned).collect()
}

/// A handle on the cluster of `REDIS_CLUSTER_URLS` under a fresh key prefix.
#[allow(dead_code)]
pub async fn fresh_cluster() -> Redis {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let urls = cluster_urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let redis = Redis::connect_cluster(&urls).await.unwrap_or_else(|e| panic!("{e}"));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("c{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    redis.with_prefix(&prefix).unwrap()
}
