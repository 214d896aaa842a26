//! Commands per operation, counted by the driver's command monitoring (`CommandStartedEvent`s)
//! on a second pair of clients (monitoring costs CPU, so the timed clients have none); and,
//! for context, how long the server takes to answer each side's operation.

use crate::fixture::{self, Sides, GROUPS, RECORDS};
use crate::model::twin;
use nonrel_runtime::mongo::mongodb::event::command::CommandEvent;
use nonrel_runtime::mongo::mongodb::event::EventHandler;
use nonrel_runtime::mongo::mongodb::options::ClientOptions;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Times each side runs each operation.
const RUNS: usize = 5;

/// One operation on each side: commands sent and wall time, per operation.
pub struct Count {
    pub op: &'static str,
    pub ours: f64,
    pub theirs: f64,
    pub ours_wall: Duration,
    pub theirs_wall: Duration,
}

/// `options` with a handler that counts started commands into `counter`.
fn counting(options: &ClientOptions, counter: &Arc<AtomicU64>) -> ClientOptions {
    let mut options = options.clone();
    let sink = counter.clone();
    options.command_event_handler = Some(EventHandler::callback(move |e: CommandEvent| {
        if let CommandEvent::Started(_) = e {
            sink.fetch_add(1, Ordering::Relaxed);
        }
    }));
    options
}

/// Commands and wall time per run of `op` (called with the run's number).
async fn measure<F: std::future::Future<Output = ()>>(
    counter: &AtomicU64,
    mut op: impl FnMut(usize) -> F,
) -> (f64, Duration) {
    counter.store(0, Ordering::Relaxed);
    let started = Instant::now();
    for i in 0..RUNS {
        op(i).await;
    }
    let wall = started.elapsed() / RUNS as u32;
    (counter.swap(0, Ordering::Relaxed) as f64 / RUNS as f64, wall)
}

/// Counts the commands of each measured operation, on monitored clients of `loaded`'s databases.
pub async fn count(options: &ClientOptions, base: &str, loaded: &Sides) -> Vec<Count> {
    let (n_ours, n_theirs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut s = Sides::connect(counting(options, &n_ours), counting(options, &n_theirs), base).await;
    s.share_records(loaded);
    let s = &s;
    let key = |i: usize| i * 13 % RECORDS as usize;
    let mut out = Vec::new();

    let mut items = s.fresh(RUNS as u64);
    let mut twins: Vec<_> = s.fresh(RUNS as u64).iter().map(twin).collect();
    let (mut items, mut twins) = (items.iter_mut(), twins.iter_mut());
    let (ours, ours_wall) = measure(&n_ours, |_| fixture::ours_insert(&s.db, items.next().expect("a record"))).await;
    let (theirs, theirs_wall) =
        measure(&n_theirs, |_| fixture::theirs_insert(&s.coll, twins.next().expect("a record"))).await;
    out.push(Count { op: "insert", ours, theirs, ours_wall, theirs_wall });

    let (ours, ours_wall) =
        measure(&n_ours, |i| async move { drop(fixture::ours_get(&s.db, &s.keys[key(i)]).await) }).await;
    let (theirs, theirs_wall) =
        measure(&n_theirs, |i| async move { drop(fixture::theirs_get(&s.coll, s.oids[key(i)]).await) }).await;
    out.push(Count { op: "get", ours, theirs, ours_wall, theirs_wall });

    let (ours, ours_wall) = measure(&n_ours, |i| fixture::ours_update(&s.db, &s.skus[key(i)], -(i as i64))).await;
    let (theirs, theirs_wall) =
        measure(&n_theirs, |i| fixture::theirs_update(&s.coll, &s.skus[key(i)], -(i as i64))).await;
    out.push(Count { op: "update", ours, theirs, ours_wall, theirs_wall });

    let group = |i: usize| i as i64 % GROUPS;
    let (ours, ours_wall) = measure(&n_ours, |i| async move { drop(fixture::ours_find(&s.db, group(i)).await) }).await;
    let (theirs, theirs_wall) =
        measure(&n_theirs, |i| async move { drop(fixture::theirs_find(&s.coll, group(i)).await) }).await;
    out.push(Count { op: "find_1000", ours, theirs, ours_wall, theirs_wall });
    out
}
