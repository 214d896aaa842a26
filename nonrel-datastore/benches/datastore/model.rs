//! The benchmarks' record.

use nonrel_runtime::{Key, Model};

pub const KIND: &str = "bench_recs";

/// Records per group.
pub const GROUP_SIZE: i64 = 50;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bench_recs")]
pub struct Rec {
    #[field(key)]
    pub id: Option<Key<Rec>>,
    #[field(index)]
    pub group: String,
    pub n: i64,
    pub title: String,
    pub tags: Vec<String>,
}

pub fn record(i: i64) -> Rec {
    Rec {
        id: None,
        group: format!("g{}", i / GROUP_SIZE),
        n: i,
        title: format!("record number {i}, with a title of some length"),
        tags: vec![format!("t{}", i % 7), format!("u{}", i % 11)],
    }
}
