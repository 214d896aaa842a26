//! A small client of the Datastore v1 REST API: `POST /v1/projects/{project}:{method}` with
//! JSON bodies over HTTP/1.1 keep-alive connections, and a count of the calls per method.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use nonrel_runtime::{Error, ErrorKind, Result};
use serde_json::Value as Json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The methods of the API this backend calls, in the order of [`RpcCounts`]'s fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Lookup,
    Commit,
    RunQuery,
    RunAggregationQuery,
    BeginTransaction,
    Rollback,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Lookup => "lookup",
            Method::Commit => "commit",
            Method::RunQuery => "runQuery",
            Method::RunAggregationQuery => "runAggregationQuery",
            Method::BeginTransaction => "beginTransaction",
            Method::Rollback => "rollback",
        }
    }
}

/// How many calls of each API method a handle has made (see
/// [`Datastore::rpc_counts`](crate::Datastore::rpc_counts)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RpcCounts {
    /// `lookup`: reads by key.
    pub lookup: u64,
    /// `commit`: writes.
    pub commit: u64,
    /// `runQuery`: queries and each further batch of a query's results.
    pub run_query: u64,
    /// `runAggregationQuery`: counts.
    pub run_aggregation_query: u64,
    /// `beginTransaction`.
    pub begin_transaction: u64,
    /// `rollback`.
    pub rollback: u64,
    /// Entities the store returned to lookups and queries (not a call: what the calls read).
    pub entities: u64,
}

impl RpcCounts {
    /// All calls together.
    pub fn total(&self) -> u64 {
        self.lookup + self.commit + self.run_query + self.run_aggregation_query + self.begin_transaction + self.rollback
    }
}

impl std::ops::Sub for RpcCounts {
    type Output = RpcCounts;
    fn sub(self, o: RpcCounts) -> RpcCounts {
        RpcCounts {
            lookup: self.lookup - o.lookup,
            commit: self.commit - o.commit,
            run_query: self.run_query - o.run_query,
            run_aggregation_query: self.run_aggregation_query - o.run_aggregation_query,
            begin_transaction: self.begin_transaction - o.begin_transaction,
            rollback: self.rollback - o.rollback,
            entities: self.entities - o.entities,
        }
    }
}

/// The connection to one endpoint and project.
pub(crate) struct Client {
    /// `host:port`.
    host: String,
    /// `/v1/projects/{project}:` (the method follows).
    prefix: String,
    pub(crate) project: String,
    /// Idle keep-alive connections.
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    counts: [AtomicU64; 6],
    entities: AtomicU64,
}

/// How long connecting may take before the endpoint is reported unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take (a commit may wait for locks).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The error of an endpoint that cannot be reached, saying how to start the emulator.
pub(crate) fn unreachable(host: &str, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Storage,
        format!(
            "cannot reach the Datastore endpoint at {host} ({why}); start the emulator with \
             `gcloud emulators firestore start --database-mode=datastore-mode --host-port={host}` \
             and set DATASTORE_EMULATOR_HOST={host}"
        ),
    )
}

impl Client {
    pub(crate) fn new(host: &str, project: &str) -> Client {
        Client {
            host: host.to_string(),
            prefix: format!("/v1/projects/{project}:"),
            project: project.to_string(),
            idle: Mutex::new(Vec::new()),
            counts: Default::default(),
            entities: AtomicU64::new(0),
        }
    }

    pub(crate) fn counts(&self) -> RpcCounts {
        let c = |m: Method| self.counts[m as usize].load(Ordering::Relaxed);
        RpcCounts {
            lookup: c(Method::Lookup),
            commit: c(Method::Commit),
            run_query: c(Method::RunQuery),
            run_aggregation_query: c(Method::RunAggregationQuery),
            begin_transaction: c(Method::BeginTransaction),
            rollback: c(Method::Rollback),
            entities: self.entities.load(Ordering::Relaxed),
        }
    }

    /// Counts entities a call returned.
    pub(crate) fn read(&self, n: usize) {
        self.entities.fetch_add(n as u64, Ordering::Relaxed);
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&self.host)).await {
            Err(_) => return Err(unreachable(&self.host, "no answer within 5 s")),
            Ok(Err(e)) => return Err(unreachable(&self.host, e)),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&self.host, e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }

    /// One call: the JSON answer, or the API's error as a nonrel error (`ABORTED` is a
    /// `Conflict`, `ALREADY_EXISTS` a `DuplicateKey`).
    pub(crate) async fn call(&self, method: Method, body: &Json) -> Result<Json> {
        let body = serde_json::to_vec(body).map_err(|e| Error::new(ErrorKind::Encode, e.to_string()))?;
        self.call_bytes(method, body).await
    }

    /// [`call`](Self::call) with the request's JSON already written.
    pub(crate) async fn call_bytes(&self, method: Method, body: Vec<u8>) -> Result<Json> {
        let bytes = self.call_raw(method, body).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Json::Null))
    }

    /// [`call_bytes`](Self::call_bytes) returning the reply's bytes, for a caller that reads
    /// them into types of its own (see [`reply`](crate::reply)).
    pub(crate) async fn call_raw(&self, method: Method, body: Vec<u8>) -> Result<Bytes> {
        self.counts[method as usize].fetch_add(1, Ordering::Relaxed);
        let body = Bytes::from(body);
        // A pooled connection the server closed meanwhile fails before sending anything:
        // try again once on a new one.
        for attempt in 0..2 {
            let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut send = match pooled {
                Some(s) if !s.is_closed() => s,
                _ => self.connect().await?,
            };
            if send.ready().await.is_err() {
                continue;
            }
            let request = hyper::Request::post(format!("{}{}", self.prefix, method.name()))
                .header("host", &self.host)
                .header("content-type", "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| Error::new(ErrorKind::Storage, e.to_string()))?;
            let response = match tokio::time::timeout(CALL_TIMEOUT, send.send_request(request)).await {
                Err(_) => return Err(unreachable(&self.host, "no answer within 60 s")),
                Ok(Err(e)) if attempt == 0 && (e.is_canceled() || e.is_closed() || e.is_incomplete_message()) => {
                    continue
                }
                Ok(Err(e)) => return Err(unreachable(&self.host, e)),
                Ok(Ok(r)) => r,
            };
            let status = response.status();
            let bytes = response.into_body().collect().await.map_err(|e| unreachable(&self.host, e))?.to_bytes();
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(send);
            if status.is_success() {
                return Ok(bytes);
            }
            let json: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
            return Err(api_error(method, status.as_u16(), &json, &bytes));
        }
        Err(unreachable(&self.host, "the connection closed"))
    }
}

fn api_error(method: Method, status: u16, json: &Json, raw: &[u8]) -> Error {
    let err = &json["error"];
    let code = err["status"].as_str().unwrap_or("");
    let message =
        err["message"].as_str().map(str::to_string).unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned());
    let kind = match code {
        "ABORTED" => ErrorKind::Conflict,
        "ALREADY_EXISTS" => ErrorKind::DuplicateKey,
        _ => ErrorKind::Storage,
    };
    Error::new(kind, format!("Datastore {} failed ({status} {code}): {message}", method.name()))
}
