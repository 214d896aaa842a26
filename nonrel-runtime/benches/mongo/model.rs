//! The benchmarked model, its serde twin and the sample data.
//!
//! `Item` has ten stored fields besides its automatic key (an ObjectId on MongoDB, stored as
//! `_id`); `sku` is unique and `group` indexed. `SerdeItem` is the same document for serde:
//! same names, same order, same BSON types (a `bson::DateTime` stands in for `DateTime<Utc>`),
//! the `_id` last, where nonrel appends it.

use bson::oid::ObjectId;
use nonrel_runtime::{DateTime, Key, Model, Utc};
use serde::{Deserialize, Serialize};

/// The nonrel model.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bench_items")]
pub struct Item {
    #[field(key)]
    pub id: Option<Key<Item>>,
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
    pub created: DateTime<Utc>,
}

/// The same document for serde and the driver's `Collection<SerdeItem>`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SerdeItem {
    pub sku: String,
    pub group: i64,
    pub name: String,
    pub email: String,
    pub city: String,
    pub active: bool,
    pub score: f64,
    pub qty: i64,
    pub tags: Vec<String>,
    pub created: bson::DateTime,
    #[serde(rename = "_id")]
    pub id: ObjectId,
}

const CITIES: [&str; 5] = ["Lisbon", "Oslo", "Nairobi", "Montevideo", "Hanoi"];
const TAGS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

/// Record number `i` with SKU `sku`, in group `group`.
pub fn item(i: i64, sku: String, group: i64) -> Item {
    let tags = (0..2 + i % 2).map(|t| TAGS[((i + t) % 4) as usize].to_owned()).collect();
    Item {
        id: None,
        sku,
        group,
        name: format!("User Number {i}"),
        email: format!("user.number.{i}@example.com"),
        city: CITIES[(i % 5) as usize].to_owned(),
        active: i % 2 == 0,
        score: i as f64 * 0.5 + 0.25,
        qty: i % 100,
        tags,
        created: DateTime::from_timestamp_millis(1_700_000_000_000 + i * 1000).expect("in range"),
    }
}

/// The serde twin holding the same values, with a fresh `_id`.
pub fn twin(m: &Item) -> SerdeItem {
    SerdeItem {
        sku: m.sku.clone(),
        group: m.group,
        name: m.name.clone(),
        email: m.email.clone(),
        city: m.city.clone(),
        active: m.active,
        score: m.score,
        qty: m.qty,
        tags: m.tags.clone(),
        created: bson::DateTime::from_millis(m.created.timestamp_millis()),
        id: ObjectId::new(),
    }
}

/// Checks, once, that nonrel and serde write the same document bytes for a record.
pub fn check_documents() {
    let mut m = item(7, "sku-7".into(), 1);
    let t = twin(&m);
    m.id = Some(Key::from(nonrel_runtime::ObjectId::from_bytes(t.id.bytes())));
    let mut ours = Vec::new();
    m.encode(&mut ours).expect("encode");
    let mut theirs = bson::serialize_to_vec(&t).expect("serde");
    // nonrel's document has no `_id` (the key travels beside it); serde's ends with it.
    let id_element = 1 + 4 + 12;
    let end = theirs.len() - 1;
    theirs.drain(end - id_element..end);
    let len = theirs.len() as i32;
    theirs[..4].copy_from_slice(&len.to_le_bytes());
    assert_eq!(ours, theirs, "nonrel and serde write different documents");
}
