//! Opening a fresh database on the emulator `DATASTORE_EMULATOR_HOST` names.
#![allow(dead_code)]

use nonrel_datastore::Datastore;
use nonrel_runtime::Database;
use std::sync::atomic::{AtomicU64, Ordering};

/// A handle on a project no other test uses: an empty database.
pub fn backend() -> Datastore {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let project = format!("nonrel-test-{}-{nanos}-{n}", std::process::id());
    Datastore::from_env(&project).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh, empty database.
pub fn fresh() -> Database<Datastore> {
    Database::new(backend())
}

/// One non-transactional `commit` of `mutation` (JSON), sent by hand.
pub async fn raw_commit(ds: &Datastore, mutation: String) {
    use std::io::{Read, Write};
    let host = std::env::var("DATASTORE_EMULATOR_HOST").unwrap();
    let host = host.trim_start_matches("http://").to_string();
    let body = format!(r#"{{"mode":"NON_TRANSACTIONAL","mutations":[{mutation}]}}"#);
    let path = format!("/v1/projects/{}:commit", ds.project());
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        // The emulator keeps the connection open: read the head, then its content-length.
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if n == 0 || out.len() >= end + 4 + length {
                    return text;
                }
            } else if n == 0 {
                return text;
            }
        }
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
