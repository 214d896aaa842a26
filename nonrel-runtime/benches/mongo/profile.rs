//! Profiling mode: with `NONREL_MONGO_PROFILE=<op>/<side>` (op: insert, get, update,
//! find_1000; side: nonrel, driver) the benchmark skips criterion, runs that one operation
//! `NONREL_MONGO_PROFILE_N` times (default 300) after the usual setup, and prints its wall
//! and CPU time per operation. Instruction counts free of the machine's noise come from two
//! runs under `valgrind --tool=callgrind`, n and 1 operations: (Ir(n) - Ir(1)) / (n - 1).

use crate::fixture::{self, Sides, GROUPS, RECORDS};
use crate::model::twin;
use nonrel_bench_support::cpu_now;
use std::time::Instant;

/// The operation to profile, if asked.
pub fn requested() -> Option<String> {
    std::env::var("NONREL_MONGO_PROFILE").ok()
}

/// Runs `what` (`<op>/<side>`) the requested number of times on `s`.
pub async fn run(s: &Sides, what: &str) {
    let n: usize = std::env::var("NONREL_MONGO_PROFILE_N").map_or(300, |v| v.parse().expect("a count"));
    let inserts = if what.starts_with("insert/") { n as u64 } else { 0 };
    let mut items = s.fresh(inserts);
    let mut twins: Vec<_> = items.iter().map(twin).collect();
    let key = |i: usize| i * 7919 % RECORDS as usize;
    let (wall, cpu) = (Instant::now(), cpu_now());
    for i in 0..n {
        match what {
            "insert/nonrel" => fixture::ours_insert(&s.db, &mut items[i]).await,
            "insert/driver" => fixture::theirs_insert(&s.coll, &mut twins[i]).await,
            "get/nonrel" => drop(fixture::ours_get(&s.db, &s.keys[key(i)]).await),
            "get/driver" => drop(fixture::theirs_get(&s.coll, s.oids[key(i)]).await),
            "update/nonrel" => fixture::ours_update(&s.db, &s.skus[key(i)], i as i64).await,
            "update/driver" => fixture::theirs_update(&s.coll, &s.skus[key(i)], i as i64).await,
            "find_1000/nonrel" => drop(fixture::ours_find(&s.db, i as i64 % GROUPS).await),
            "find_1000/driver" => drop(fixture::theirs_find(&s.coll, i as i64 % GROUPS).await),
            _ => panic!("NONREL_MONGO_PROFILE={what}: expected <insert|get|update|find_1000>/<nonrel|driver>"),
        }
    }
    let (wall, cpu) = (wall.elapsed() / n as u32, cpu_now().saturating_sub(cpu) / n as u32);
    eprintln!("profile {what}: {n} operations, wall {wall:.1?} and CPU {cpu:.1?} per operation");
}
