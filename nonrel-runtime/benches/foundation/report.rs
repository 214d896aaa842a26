//! Reads this run's criterion estimates and prints the ratios.

use std::borrow::Borrow;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A ratio: ours over the baseline (lower is better), and the largest value allowed; without
/// a target it is printed as a `note` (context for reading the ratios, not a goal).
pub struct Ratio {
    pub name: &'static str,
    pub ours: &'static str,
    pub baseline: &'static str,
    pub target: Option<f64>,
}

/// Where criterion writes: `$CRITERION_HOME`, else `<target>/criterion`.
pub fn output_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("criterion")
}

/// This run's criterion file `name` of benchmark `id` (`group/function`), if any.
fn fresh_json(out: &Path, id: &str, name: &str, since: SystemTime) -> Option<serde_json::Value> {
    let path = out.join(id).join("new").join(name);
    let fresh = std::fs::metadata(&path).and_then(|m| m.modified()).is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    serde_json::from_slice(&std::fs::read(&path).ok()?).ok()
}

/// Criterion's median estimate, in ns per iteration.
fn median_ns(out: &Path, id: &str, since: SystemTime) -> Option<f64> {
    fresh_json(out, id, "estimates.json", since)?["median"]["point_estimate"].as_f64()
}

/// The fastest sample's time per iteration, in ns: what the ratios use.
///
/// The two cores are shared with other jobs, which only ever add time; the fastest of the
/// equal-sized samples is the one they disturbed least, so ratios of minima stay stable
/// where ratios of means or medians swing with the neighbours' load.
fn min_ns(out: &Path, id: &str, since: SystemTime) -> Option<f64> {
    let sample = fresh_json(out, id, "sample.json", since)?;
    let iters = sample["iters"].as_array()?;
    let times = sample["times"].as_array()?;
    let per_iter = iters.iter().zip(times).filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()?));
    per_iter.reduce(f64::min)
}

/// Prints one `time <id> ...` line per benchmark (`extra` ones too), then one
/// `ratio <name> <value> <target>` (or `note <name> <value>`) line per ratio whose two sides
/// this run measured.
/// `ratios` holds the ratios or references to them (a benchmark that picks its ratios from
/// several lists).
pub fn print<R: Borrow<Ratio>>(out: &Path, since: SystemTime, ratios: &[R], extra: &[&'static str]) {
    let ratios = ratios.iter().map(Borrow::borrow);
    let mut ids: Vec<&str> = Vec::new();
    for id in ratios.clone().flat_map(|r: &Ratio| [r.ours, r.baseline]).chain(extra.iter().copied()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    for id in &ids {
        if let (Some(min), Some(median)) = (min_ns(out, id, since), median_ns(out, id, since)) {
            println!("time {id} min {min:.1}ns median {median:.1}ns");
        }
    }
    for r in ratios {
        match (min_ns(out, r.ours, since), min_ns(out, r.baseline, since)) {
            (Some(ours), Some(base)) => match r.target {
                Some(target) => println!("ratio {} {:.3} {target}", r.name, ours / base),
                None => println!("note {} {:.3}", r.name, ours / base),
            },
            _ => eprintln!("ratio {}: not measured in this run (filtered out?)", r.name),
        }
    }
}
