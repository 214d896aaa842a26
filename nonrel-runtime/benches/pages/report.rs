//! Reads this run's criterion samples and prints the ratios.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Ours over the baseline (lower is better) and the largest value allowed (`None`: printed
/// with target `-`, a control to read the others by).
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

/// The fastest sample's time per iteration in ns (the one the shared cores disturbed least),
/// if this run measured `id`.
fn min_ns(out: &Path, id: &str, since: SystemTime) -> Option<f64> {
    let path = out.join(id).join("new").join("sample.json");
    let fresh = std::fs::metadata(&path).and_then(|m| m.modified()).is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let sample: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    let iters = sample["iters"].as_array()?;
    let times = sample["times"].as_array()?;
    iters.iter().zip(times).filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()?)).reduce(f64::min)
}

/// One `time` line per measured side, then one `ratio` line per ratio.
pub fn print(out: &Path, since: SystemTime, ratios: &[&Ratio]) {
    for r in ratios {
        match (min_ns(out, r.ours, since), min_ns(out, r.baseline, since)) {
            (Some(ours), Some(base)) => {
                println!("time {} min {ours:.1}ns / {} min {base:.1}ns", r.ours, r.baseline);
                let target = r.target.map_or_else(|| "-".to_string(), |t| t.to_string());
                println!("ratio {} {:.3} {target}", r.name, ours / base);
            }
            _ => eprintln!("ratio {}: not measured in this run (filtered out?)", r.name),
        }
    }
}
