//! Connecting tests to the cluster the test command started.

#![allow(dead_code)]

use nonrel_elasticsearch::Elastic;
use nonrel_runtime::Database;
use std::sync::atomic::{AtomicU32, Ordering};

/// The cluster's URL; a test that needs one fails, with how to start one, without it.
pub fn url() -> String {
    std::env::var("ELASTICSEARCH_URL").unwrap_or_else(|_| {
        panic!(
            "ELASTICSEARCH_URL is not set: run the tests with scripts/test (or `scripts/servers.sh start` \
             and source .servers/env), which starts osmem-server, an Elasticsearch-compatible server; \
             or set ELASTICSEARCH_URL to an Elasticsearch 8 or OpenSearch 2 cluster"
        )
    })
}

/// An index prefix no other test uses.
pub fn fresh_prefix(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("nonrel_{prefix}_{}_{nanos}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A handle on fresh indexes.
pub async fn backend(prefix: &str) -> Elastic {
    let url = url();
    Elastic::connect(&url, &fresh_prefix(prefix)).await.unwrap_or_else(|e| {
        panic!("cannot reach Elasticsearch at {url}: {e}; run scripts/servers.sh start to start one")
    })
}

/// Two handles on the same fresh indexes (two clients of one cluster), their indexes made.
pub async fn two_handles(prefix: &str) -> (Database<Elastic>, Database<Elastic>) {
    let (url, prefix) = (url(), fresh_prefix(prefix));
    let one = Database::new(Elastic::connect(&url, &prefix).await.unwrap());
    let two = Database::new(Elastic::connect(&url, &prefix).await.unwrap());
    one.sync_indexes().await.unwrap();
    two.sync_indexes().await.unwrap();
    (one, two)
}

/// A fresh, empty database.
pub async fn fresh() -> Database<Elastic> {
    Database::new(backend("t").await)
}
