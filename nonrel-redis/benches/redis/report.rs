//! Reads this run's criterion samples and prints the ratios, as the MongoDB benchmarks do:
//! each side's fastest sample over its two rounds.

use crate::{Side, ROUNDS};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A ratio: the `nonrel_*` rounds over the `hand_*` rounds of criterion group `group`, and
/// the largest value allowed.
pub struct Ratio {
    pub name: &'static str,
    pub group: &'static str,
    pub target: f64,
}

/// Where criterion writes: `$CRITERION_HOME`, else `<target>/criterion`.
pub fn output_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
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

/// Every sample of `side` in `group` over both rounds, if both ran.
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
/// <target>` per ratio: the fastest sample of one side over the fastest of the other (other
/// jobs on the shared cores only ever add time).
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
