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
pub async fn fresh() -> Redis {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let url = url();
    let redis = Redis::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("t{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    redis.with_prefix(&prefix).unwrap()
}
