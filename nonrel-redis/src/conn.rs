//! The connection: one multiplexed connection to a single server, or the async cluster
//! client, with every request counted.

use crate::scripts::Script;
use nonrel_runtime::{Error, ErrorKind, Result};
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// A connection to one server or to a cluster (both cheap to clone: they share one socket
/// per node).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// Requests sent to the server and commands they carried, since the handle was opened.
#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub(crate) round_trips: AtomicU64,
    pub(crate) commands: AtomicU64,
    /// Key-set or index members reads returned.
    pub(crate) entries: AtomicU64,
}

/// A client error as a nonrel error: `Storage`, naming the server's message.
pub(crate) fn storage(e: redis::RedisError) -> Error {
    Error::new(ErrorKind::Storage, format!("Redis: {e}")).with_source(e)
}

impl Conn {
    /// Sends one command: one round trip.
    pub(crate) async fn call(&self, counters: &Counters, cmd: &Cmd) -> Result<Value> {
        counters.round_trips.fetch_add(1, Ordering::Relaxed);
        counters.commands.fetch_add(1, Ordering::Relaxed);
        match self {
            Conn::Single(c) => cmd.query_async(&mut c.clone()).await,
            Conn::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        }
        .map_err(storage)
    }

    /// Runs a script by its hash (`EVALSHA`); a server that does not know it yet (after a
    /// restart or `SCRIPT FLUSH`) is sent the text first, once.
    pub(crate) async fn eval(&self, counters: &Counters, script: &Script, cmd: &Cmd) -> Result<Value> {
        counters.round_trips.fetch_add(1, Ordering::Relaxed);
        counters.commands.fetch_add(1, Ordering::Relaxed);
        let first = match self {
            Conn::Single(c) => cmd.query_async::<Value>(&mut c.clone()).await,
            Conn::Cluster(c) => cmd.query_async::<Value>(&mut c.clone()).await,
        };
        match first {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                let mut load = redis::cmd("SCRIPT");
                load.arg("LOAD").arg(&script.text);
                self.call(counters, &load).await?;
                self.call(counters, cmd).await
            }
            other => other.map_err(storage),
        }
    }
}
