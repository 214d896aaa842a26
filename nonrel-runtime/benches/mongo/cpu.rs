//! Client CPU time of each operation, nonrel against the driver by hand.
//!
//! The server is another process on this machine, so wall time would mostly measure it:
//! each routine returns this process's CPU time (`CLOCK_PROCESS_CPUTIME_ID`, user + system
//! time of every thread, what `getrusage(RUSAGE_SELF)` reports, in nanoseconds) through
//! criterion's `iter_custom`. Inputs (fresh records, keys, SKUs) are made before the clock
//! starts. Both sides run in the same current-thread tokio runtime.
//!
//! The two cores are shared, and what runs beside this process changes its CPU time per
//! operation by 20% and more from one ten-second stretch to the next. So each side is
//! measured twice, in the order nonrel, driver, driver, nonrel (`<op>/nonrel_1`,
//! `<op>/hand_1`, ...), and the ratio takes each side's fastest sample over both rounds.
//!
//! A caveat measured on the KVM guest these run on: the CPU time of an operation grows with
//! how long the process slept waiting for the answer (caches and predictors go cold
//! meanwhile). The same driver `find_one` costs about 55 µs of client CPU when the server
//! answers `{_id: x}` in 0.3 ms, and about 440 µs for `{$and: [{_id: x}]}`, which SecantusDB
//! answers in 50 ms by a scan. Where the `time mongo_wall/<op>` lines show the two sides
//! waiting very differently, read the ratio with instruction counts (profile.rs).

use crate::fixture::{self, Sides, GROUPS, RECORDS};
use crate::model::twin;
use criterion::Criterion;
use nonrel_bench_support::{cpu_now, rounds};
use std::hint::black_box;
use std::time::Duration;
use tokio::runtime::Runtime;

/// The CPU time since `start`.
fn cpu_since(start: Duration) -> Duration {
    cpu_now().saturating_sub(start)
}

/// The i-th index of a sequence that spreads over `n` without locality.
fn spread(i: u64, n: i64) -> usize {
    (i.wrapping_mul(7919) % n as u64) as usize
}

/// Insert one record with a fresh key and SKU: `db.insert` against `insert_one`.
pub fn insert(c: &mut Criterion, rt: &Runtime, s: &Sides) {
    let ours = |iters| async move {
        let mut items = s.fresh(iters);
        let start = cpu_now();
        for m in &mut items {
            fixture::ours_insert(&s.db, m).await;
        }
        cpu_since(start)
    };
    let theirs = |iters| async move {
        let mut twins: Vec<_> = s.fresh(iters).iter().map(twin).collect();
        let start = cpu_now();
        for t in &mut twins {
            fixture::theirs_insert(&s.coll, t).await;
        }
        cpu_since(start)
    };
    rounds(c, rt, "mongo_insert", ours, theirs);
}

/// Get one record by key: `db.get` against `find_one({_id})` into the serde twin.
pub fn get(c: &mut Criterion, rt: &Runtime, s: &Sides) {
    let (mut i, mut j) = (0u64, 0u64);
    let ours = |iters| {
        let keys: Vec<_> = (i..i + iters).map(|k| &s.keys[spread(k, RECORDS)]).collect();
        i += iters;
        async move {
            let start = cpu_now();
            for key in keys {
                black_box(fixture::ours_get(&s.db, key).await);
            }
            cpu_since(start)
        }
    };
    let theirs = |iters| {
        let ids: Vec<_> = (j..j + iters).map(|k| s.oids[spread(k, RECORDS)]).collect();
        j += iters;
        async move {
            let start = cpu_now();
            for id in ids {
                black_box(fixture::theirs_get(&s.coll, id).await);
            }
            cpu_since(start)
        }
    };
    rounds(c, rt, "mongo_get", ours, theirs);
}

/// Set one field of the record with a unique SKU: a query's `update().set` against
/// `update_one({sku}, {$set: {qty}})`.
pub fn update(c: &mut Criterion, rt: &Runtime, s: &Sides) {
    let (mut i, mut j) = (0u64, 0u64);
    let ours = |iters| {
        let skus: Vec<_> = (i..i + iters).map(|k| (s.skus[spread(k, RECORDS)].as_str(), k as i64)).collect();
        i += iters;
        async move {
            let start = cpu_now();
            for (sku, qty) in skus {
                fixture::ours_update(&s.db, sku, qty).await;
            }
            cpu_since(start)
        }
    };
    let theirs = |iters| {
        let skus: Vec<_> = (j..j + iters).map(|k| (s.skus[spread(k, RECORDS)].as_str(), k as i64)).collect();
        j += iters;
        async move {
            let start = cpu_now();
            for (sku, qty) in skus {
                fixture::theirs_update(&s.coll, sku, qty).await;
            }
            cpu_since(start)
        }
    };
    rounds(c, rt, "mongo_update", ours, theirs);
}

/// Find the 1,000 records of a group and drain them: `query().filter(..).all()` against
/// `find` and serde into a `Vec`, both with the driver's default batch sizes.
pub fn find_1000(c: &mut Criterion, rt: &Runtime, s: &Sides) {
    let (mut i, mut j) = (0i64, 0i64);
    let ours = |iters: u64| {
        let first = i;
        i += iters as i64;
        async move {
            let start = cpu_now();
            for k in first..first + iters as i64 {
                black_box(fixture::ours_find(&s.db, k % GROUPS).await);
            }
            cpu_since(start)
        }
    };
    let theirs = |iters: u64| {
        let first = j;
        j += iters as i64;
        async move {
            let start = cpu_now();
            for k in first..first + iters as i64 {
                black_box(fixture::theirs_find(&s.coll, k % GROUPS).await);
            }
            cpu_since(start)
        }
    };
    rounds(c, rt, "mongo_find_1000", ours, theirs);
}
