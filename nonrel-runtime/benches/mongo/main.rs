//! The MongoDB backend's benchmarks: nonrel against the same operations written by hand with
//! the driver on a serde `Collection<T>`, against the same server, measured in one run and
//! reported as `ratio <name> <ours/driver> <max allowed>` lines.
//!
//! - `mongo_{insert,get,update,find_1000}_cpu`: this process's CPU time per operation (the
//!   server is another process; see cpu.rs);
//! - `mongo_commands_<op>`: commands sent per operation (must be equal).
//!
//! Needs `MONGODB_URI`; `scripts/bench` starts a server when it is unset. Alone:
//! `cargo bench -p nonrel-runtime --features mongodb --bench mongo`.

mod commands;
mod cpu;
mod fixture;
mod model;
mod profile;

use criterion::Criterion;
use fixture::Sides;
use nonrel_bench_support::{output_dir, print, Ratio};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RATIOS: &[Ratio] = &[
    Ratio { name: "mongo_insert_cpu", group: "mongo_insert", target: 1.05 },
    Ratio { name: "mongo_get_cpu", group: "mongo_get", target: 1.05 },
    Ratio { name: "mongo_update_cpu", group: "mongo_update", target: 1.05 },
    Ratio { name: "mongo_find_1000_cpu", group: "mongo_find_1000", target: 1.1 },
];

/// Wall-clock time criterion spends measuring each round of each side (it plans its
/// iterations from the wall time of the warm-up, even with `iter_custom`): 16 rounds in all.
const MEASURE: Duration = Duration::from_secs(5);

fn main() {
    let since = SystemTime::now();
    let out = output_dir(env!("CARGO_TARGET_TMPDIR"));
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(MEASURE)
        .sample_size(20)
        .configure_from_args();
    model::check_documents();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let uri = fixture::mongodb_uri();
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let base = format!("nonrel_bench_{}_{stamp}", std::process::id());
    let options = rt.block_on(fixture::options(&uri));
    let mut sides = rt.block_on(Sides::connect(options.clone(), options.clone(), &base));
    let run = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(sides.load());
        rt.block_on(sides.check());
        if let Some(what) = profile::requested() {
            rt.block_on(profile::run(&sides, &what));
            return None;
        }
        let counts = rt.block_on(commands::count(&options, &base, &sides));
        cpu::insert(&mut c, &rt, &sides);
        cpu::get(&mut c, &rt, &sides);
        cpu::update(&mut c, &rt, &sides);
        cpu::find_1000(&mut c, &rt, &sides);
        Some(counts)
    }));
    rt.block_on(sides.drop_databases());
    let Some(counts) = run.unwrap_or_else(|panic| resume_unwind(panic)) else { return };

    c.final_summary();
    print(&out, since, RATIOS);
    // Context: the server's answer takes this long; this machine charges the client CPU time
    // for waking after a long wait (see cpu.rs), so a side the server answers more slowly
    // pays for it in its CPU ratio too.
    for n in &counts {
        println!("time mongo_wall/{} nonrel {:.1?} driver {:.1?} per operation", n.op, n.ours_wall, n.theirs_wall);
    }
    for n in &counts {
        println!("note mongo_commands_{}_per_op nonrel {} driver {}", n.op, n.ours, n.theirs);
    }
    for n in &counts {
        println!("ratio mongo_commands_{} {:.3} 1.0", n.op, n.ours / n.theirs);
    }
}
