//! The HTTP side: one `reqwest` client, every request counted, errors named after the
//! cluster's address.

use nonrel_runtime::{Error, ErrorKind, Result};
use reqwest::{Method, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A connection to one cluster: the base URL and a pooled HTTP client.
#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: Arc<str>,
    requests: Arc<AtomicU64>,
}

/// An answer: the status and the body.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON of type `T`.
    pub fn json<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            storage(format!("unexpected answer from the server: {e}: {}", String::from_utf8_lossy(self.snippet())))
        })
    }

    /// The start of the body, for messages.
    pub fn snippet(&self) -> &[u8] {
        &self.body[..self.body.len().min(600)]
    }

    /// The server's error type (`error.type`), if the body is an error.
    pub fn error_type(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("error")?.get("type")?.as_str().map(str::to_string)
    }

    /// An error for an answer that was not expected.
    pub fn fail(&self, what: &str) -> Error {
        storage(format!("{what} failed with status {}: {}", self.status, String::from_utf8_lossy(self.snippet())))
    }
}

/// An error of kind `Storage`.
pub(crate) fn storage(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Storage, message)
}

impl Client {
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout * 6)
            .build()
            .map_err(|e| storage(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client { http, base: url.trim_end_matches('/').into(), requests: Arc::default() })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Requests sent so far (each retry counts).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Sends one request; `path` starts with `/` and is already percent-encoded.
    pub async fn send(&self, method: Method, path: &str, body: Option<(Vec<u8>, &'static str)>) -> Result<Reply> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        let mut req = self.http.request(method, url);
        if let Some((body, content_type)) = body {
            req = req.header("content-type", content_type).body(body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| storage(format!("cannot reach Elasticsearch at {}: {e}", self.base)).with_source(e))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| storage(format!("reading an answer from {}: {e}", self.base)).with_source(e))?;
        Ok(Reply { status, body: body.into() })
    }

    /// Sends a JSON body.
    pub async fn json(&self, method: Method, path: &str, body: &serde_json::Value) -> Result<Reply> {
        let bytes = serde_json::to_vec(body).map_err(|e| storage(e.to_string()))?;
        self.send(method, path, Some((bytes, "application/json"))).await
    }

    /// Sends a body of JSON text.
    pub async fn json_bytes(&self, method: Method, path: &str, body: Vec<u8>) -> Result<Reply> {
        self.send(method, path, Some((body, "application/json"))).await
    }

    /// Sends a `_bulk` body (newline-delimited JSON).
    pub async fn bulk(&self, path: &str, body: String) -> Result<Reply> {
        self.send(Method::POST, path, Some((body.into_bytes(), "application/x-ndjson"))).await
    }
}

/// Percent-encodes one path segment (a document id).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
