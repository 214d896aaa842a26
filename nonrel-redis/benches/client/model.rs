//! The benchmarked model, its serde twin (the same document: same names, order and BSON
//! types) and the sample records.

use nonrel_runtime::Model;
use serde::{Deserialize, Serialize};

/// Records per value of the indexed `group`: what a group query returns.
pub const GROUP_SIZE: i64 = 10;

/// The nonrel model: nine stored fields besides its key; `sku` unique, `group` indexed.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bench_recs")]
pub struct Rec {
    #[field(key)]
    pub id: i64,
    #[field(unique)]
    pub sku: String,
    #[field(index)]
    pub group: i64,
    pub name: String,
    pub email: String,
    pub city: String,
    pub active: bool,
    pub score: f64,
    pub qty: i64,
    pub tags: Vec<String>,
}

/// The same document for serde (the key is not in the document: it names the record).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SerdeRec {
    pub sku: String,
    pub group: i64,
    pub name: String,
    pub email: String,
    pub city: String,
    pub active: bool,
    pub score: f64,
    pub qty: i64,
    pub tags: Vec<String>,
}

const CITIES: [&str; 5] = ["Lisbon", "Oslo", "Nairobi", "Montevideo", "Hanoi"];
const TAGS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

/// The unique SKU of record `i`.
pub fn sku(i: i64) -> String {
    format!("SKU-{i:08}")
}

/// Record number `i`, in group `i / GROUP_SIZE`.
pub fn record(i: i64) -> Rec {
    Rec {
        id: i,
        sku: sku(i),
        group: i / GROUP_SIZE,
        name: format!("User Number {i}"),
        email: format!("user.number.{i}@example.com"),
        city: CITIES[(i % 5) as usize].to_owned(),
        active: i % 3 != 0,
        score: i as f64 * 0.25,
        qty: i % 100,
        tags: (0..2 + i % 2).map(|t| TAGS[((i + t) % 4) as usize].to_owned()).collect(),
    }
}

/// The serde twin of a record.
pub fn twin(r: &Rec) -> SerdeRec {
    SerdeRec {
        sku: r.sku.clone(),
        group: r.group,
        name: r.name.clone(),
        email: r.email.clone(),
        city: r.city.clone(),
        active: r.active,
        score: r.score,
        qty: r.qty,
        tags: r.tags.clone(),
    }
}
