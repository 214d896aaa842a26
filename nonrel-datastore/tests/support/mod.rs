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
