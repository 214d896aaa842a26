//! The "Foundation" benchmarks: nonrel against hand-written and serde baselines, measured
//! by criterion in one run, reported as `ratio <name> <ours/baseline> <max allowed>` lines.
//!
//! Run everything with `scripts/bench` (which adds the compile-cost ratio), or only these
//! with `cargo bench -p nonrel-runtime --bench foundation`.

mod codec;
mod model;
mod report;
mod store;

use criterion::Criterion;
use report::Ratio;
use std::time::{Duration, SystemTime};

const RATIOS: &[Ratio] = &[
    Ratio {
        name: "encode_vs_raw_document_buf",
        ours: "encode/nonrel",
        baseline: "encode/raw_document_buf",
        target: Some(1.0),
    },
    Ratio { name: "encode_vs_serde", ours: "encode/nonrel", baseline: "encode/serde", target: Some(0.9) },
    Ratio { name: "decode_vs_serde", ours: "decode/nonrel", baseline: "decode/serde", target: Some(0.7) },
    Ratio { name: "get_vs_redb", ours: "get/nonrel", baseline: "get/redb_by_hand", target: Some(1.15) },
    Ratio {
        name: "indexed_query_vs_redb",
        ours: "query_200k/nonrel",
        baseline: "query_200k/redb_by_hand",
        target: Some(1.25),
    },
    Ratio { name: "indexed_query_scaling", ours: "query_200k/nonrel", baseline: "query_20k/nonrel", target: Some(1.3) },
    // The same growth for the hand-written redb reads: what the storage engine and the
    // memory hierarchy cost on a collection ten times larger, before nonrel adds anything.
    Ratio {
        name: "indexed_query_scaling_redb_by_hand",
        ours: "query_200k/redb_by_hand",
        baseline: "query_20k/redb_by_hand",
        target: None,
    },
    // The same query through a covering index (`#[field(index(covering))]`: each entry
    // holds its record, so the ten records are read from one or two adjacent pages instead
    // of ten pages spread over the collection).
    Ratio {
        name: "indexed_query_scaling_covering",
        ours: "query_200k/nonrel_covering",
        baseline: "query_20k/nonrel_covering",
        target: Some(1.3),
    },
    Ratio {
        name: "indexed_query_covering_vs_redb",
        ours: "query_200k/nonrel_covering",
        baseline: "query_200k/redb_by_hand",
        target: Some(1.25),
    },
    // Against the same covering read written by hand (range scan, decode what it holds).
    Ratio {
        name: "indexed_query_covering_vs_redb_covering",
        ours: "query_200k/nonrel_covering",
        baseline: "query_200k/redb_by_hand_covering",
        target: None,
    },
    Ratio {
        name: "indexed_query_scaling_redb_by_hand_covering",
        ours: "query_200k/redb_by_hand_covering",
        baseline: "query_20k/redb_by_hand_covering",
        target: None,
    },
];

/// Measured for context only.
const EXTRA: &[&str] = &["decode/raw_document"];

fn main() {
    let since = SystemTime::now();
    let out = report::output_dir();
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();

    model::check_codecs();
    codec::encode(&mut c);
    codec::decode(&mut c);

    let rt = tokio::runtime::Builder::new_current_thread().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let f = store::fixture::<model::Item>(&rt, dir.path(), "get", 10_000, store::values_for(10_000));
        store::get(&mut c, &rt, &f);
    }
    for (size, records) in [("20k", 20_000), ("200k", 200_000)] {
        let values = store::values_for(records);
        let f = store::fixture::<model::Item>(&rt, dir.path(), &format!("query_{size}"), records, values);
        store::query(&mut c, &rt, &f, size, "");
        drop(f);
        let f = store::fixture::<model::CoveredItem>(&rt, dir.path(), &format!("covered_{size}"), records, values);
        store::query(&mut c, &rt, &f, size, "_covering");
    }

    c.final_summary();
    report::print(&out, since, RATIOS, EXTRA);
}
