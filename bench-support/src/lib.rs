//! What the backends' benchmarks share. Each compares nonrel against the same operations
//! written by hand with the same client on the same data, in one process:
//!
//! - [`rounds`] runs a criterion group of four benchmarks, nonrel, hand, hand, nonrel (the
//!   [`ROUNDS`]), so load from other jobs on shared cores meets both sides alike;
//! - [`cpu_now`] is the process's CPU time, for benchmarks that time the client's work while
//!   the server runs in another process;
//! - [`print`] reads this run's criterion samples back and prints `ratio <name> <value>
//!   <target>` per [`Ratio`]: the fastest sample of nonrel's rounds over the fastest of the
//!   hand-written ones (other jobs only ever add time).
//!
//! ```no_run
//! use nonrel_bench_support::{output_dir, print, Ratio};
//! let since = std::time::SystemTime::now();
//! // ... run the groups with `rounds` ...
//! // In a bench target, pass `env!("CARGO_TARGET_TMPDIR")`.
//! let out = output_dir("target/tmp");
//! print(&out, since, &[Ratio { name: "save_cpu", group: "save", target: 1.1 }]);
//! ```

use criterion::{Criterion, SamplingMode};
use rustix::time::{clock_gettime, ClockId};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::runtime::Runtime;

/// Which side a benchmark measures.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// nonrel (in a scaling group, the large collection).
    Ours,
    /// The hand-written baseline (in a scaling group, the small collection).
    Theirs,
}

/// The benchmarks of one group, in the order they run, and the side each measures.
pub const ROUNDS: [(&str, Side); 4] =
    [("nonrel_1", Side::Ours), ("hand_1", Side::Theirs), ("hand_2", Side::Theirs), ("nonrel_2", Side::Ours)];

/// A ratio: nonrel's rounds over the hand-written rounds of criterion group `group`, and the
/// largest value allowed.
#[derive(Clone, Copy, Debug)]
pub struct Ratio {
    /// The name printed on the `ratio` line.
    pub name: &'static str,
    /// The criterion group measured by [`rounds`].
    pub group: &'static str,
    /// The largest value allowed.
    pub target: f64,
}

/// This process's CPU time so far (user and system, every thread).
pub fn cpu_now() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The i-th index of a sequence that spreads over `n` without locality.
pub fn spread(i: u64, n: u64) -> u64 {
    i.wrapping_mul(7919) % n.max(1)
}

/// Group `name`: the routines `ours` and `theirs` (each given an iteration count, returning
/// the time of that many operations) as the benchmarks of [`ROUNDS`].
pub fn rounds<O, OF, T, TF>(c: &mut Criterion, rt: &Runtime, name: &str, mut ours: O, mut theirs: T)
where
    O: FnMut(u64) -> OF,
    OF: Future<Output = Duration>,
    T: FnMut(u64) -> TF,
    TF: Future<Output = Duration>,
{
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat);
    for (id, side) in ROUNDS {
        match side {
            Side::Ours => g.bench_function(id, |b| b.to_async(rt).iter_custom(&mut ours)),
            Side::Theirs => g.bench_function(id, |b| b.to_async(rt).iter_custom(&mut theirs)),
        };
    }
    g.finish();
}

/// Where criterion writes: `$CRITERION_HOME`, else `criterion/` beside the calling bench's
/// `CARGO_TARGET_TMPDIR` (pass `env!("CARGO_TARGET_TMPDIR")`).
pub fn output_dir(target_tmpdir: &str) -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let tmp = Path::new(target_tmpdir);
    tmp.parent().unwrap_or(tmp).join("criterion")
}

/// The per-iteration times (ns) of this run's samples of benchmark `id`, if it ran.
fn samples(out: &Path, id: &str, since: SystemTime) -> Option<Vec<f64>> {
    let path = out.join(id).join("new").join("sample.json");
    let fresh = std::fs::metadata(&path).and_then(|m| m.modified()).is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let sample: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    let (iters, times) = (sample["iters"].as_array()?, sample["times"].as_array()?);
    Some(iters.iter().zip(times).filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()?)).collect())
}

/// Every sample of `side` in `group` over both its rounds, if both ran.
fn side_samples(out: &Path, group: &str, side: Side, since: SystemTime) -> Option<Vec<f64>> {
    let mut all = Vec::new();
    for (id, _) in ROUNDS.iter().filter(|(_, s)| *s == side) {
        all.extend(samples(out, &format!("{group}/{id}"), since)?);
    }
    Some(all)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Prints `time <group>/<side> min .. median ..` per side, then `ratio <name> <value>
/// <target>` per ratio (the fastest sample of one side over the fastest of the other).
pub fn print(out: &Path, since: SystemTime, ratios: &[Ratio]) {
    for r in ratios {
        let ours = side_samples(out, r.group, Side::Ours, since);
        let theirs = side_samples(out, r.group, Side::Theirs, since);
        let (Some(ours), Some(theirs)) = (ours, theirs) else {
            eprintln!("ratio {}: not measured in this run (filtered out?)", r.name);
            continue;
        };
        let (a, b) = (ours.iter().copied().fold(f64::MAX, f64::min), theirs.iter().copied().fold(f64::MAX, f64::min));
        println!("time {}/nonrel min {a:.1}ns median {:.1}ns", r.group, median(ours));
        println!("time {}/hand min {b:.1}ns median {:.1}ns", r.group, median(theirs));
        println!("ratio {} {:.3} {}", r.name, a / b, r.target);
    }
}
