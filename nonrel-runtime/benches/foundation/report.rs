//! Reads this run's criterion estimates and prints the ratios.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A ratio: ours over the baseline (lower is better), and the largest value allowed.
pub struct Ratio {
    pub name: &'static str,
    pub ours: &'static str,
    pub baseline: &'static str,
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

/// The median time in ns of benchmark `id` (`group/function`), if this run measured it.
///
/// The median rather than the mean: the cores are shared, and the median ignores the
/// samples a neighbour's compile job slowed down.
fn median_ns(out: &Path, id: &str, since: SystemTime) -> Option<f64> {
    let path = out.join(id).join("new").join("estimates.json");
    let fresh = std::fs::metadata(&path).and_then(|m| m.modified()).is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Prints one `time <id> <ns>` line per benchmark and one `ratio <name> <value> <target>` line
/// per ratio whose two sides this run measured.
pub fn print(out: &Path, since: SystemTime, ratios: &[Ratio]) {
    let mut ids: Vec<&str> = Vec::new();
    for id in ratios.iter().flat_map(|r| [r.ours, r.baseline]) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    for id in &ids {
        if let Some(ns) = median_ns(out, id, since) {
            println!("time {id} {ns:.1}ns");
        }
    }
    for r in ratios {
        match (median_ns(out, r.ours, since), median_ns(out, r.baseline, since)) {
            (Some(ours), Some(base)) => println!("ratio {} {:.3} {}", r.name, ours / base, r.target),
            _ => eprintln!("ratio {}: not measured in this run (filtered out?)", r.name),
        }
    }
}
