//! One model with every supported field type and every field and model attribute.

use nonrel_runtime::{Blob, DateTime, Decimal, Embedded, Extra, Key, Model, ObjectId, Ref, Utc, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

#[derive(Model)]
struct User {
    #[field(key)]
    username: String,
}

#[derive(Embedded)]
struct Address {
    city: String,
    #[field(rename = "zip_code")]
    zip: Option<String>,
}

#[derive(Embedded)]
struct Comment {
    author: String,
    text: String,
    votes: i32,
    /// Nested embedded model.
    address: Address,
    /// Recursive list of embedded models.
    replies: Vec<Comment>,
    #[field(skip)]
    rendered: Option<String>,
    #[field(default)]
    flagged: bool,
}

fn default_rating() -> f64 {
    2.5
}

#[derive(Model)]
#[model(collection = "kitchen_sink", index = "comment.author", index = "comments.address.city")]
struct Everything {
    #[field(key)]
    id: Option<Key<Everything>>,
    flag: bool,
    int8: i8,
    int16: i16,
    int32: i32,
    #[field(index)]
    int64: i64,
    int128: i128,
    int_size: isize,
    uint8: u8,
    uint16: u16,
    uint32: u32,
    uint64: u64,
    uint128: u128,
    uint_size: usize,
    float32: f32,
    #[field(default = "default_rating")]
    float64: f64,
    #[field(unique)]
    text: String,
    price: Decimal,
    when: DateTime<Utc>,
    maybe: Option<i32>,
    maybe_text: Option<String>,
    list: Vec<String>,
    nested_list: Vec<Vec<i64>>,
    set: BTreeSet<String>,
    hash_set: HashSet<i64>,
    dict: BTreeMap<String, Value>,
    hash_dict: HashMap<String, Vec<Comment>>,
    dynamic: Value,
    blob: Blob,
    comment: Comment,
    comments: Vec<Comment>,
    maybe_comment: Option<Comment>,
    boxed: Box<Comment>,
    author: Ref<User>,
    other: Option<Key<User>>,
    user_key: Key<User>,
    object_id: ObjectId,
    #[field(rename = "pub")]
    published: bool,
    #[field(rename = "type")]
    kind: String,
    r#match: String,
    #[field(skip)]
    cache: Vec<u8>,
    #[field(default)]
    defaulted: u32,
    #[field(extra)]
    extra: Extra,
}

/// A natural integer key.
#[derive(Model)]
#[model(collection = "counters")]
struct Counter {
    #[field(key)]
    name_hash: u64,
    count: i64,
}

/// A field named `id` is the key without `#[field(key)]`.
#[derive(Model)]
struct Implicit {
    id: Option<Key<Implicit>>,
    note: String,
}

fn main() {
    assert_eq!(<Everything as Model>::DESC.collection, "kitchen_sink");
    assert_eq!(<Counter as Model>::DESC.collection, "counters");
    assert_eq!(<User as Model>::DESC.collection, "users");
    assert_eq!(<Implicit as Model>::DESC.key.field, "id");
    let paths = <Everything as Model>::DESC.indexes.iter().map(|i| i.path).collect::<Vec<_>>();
    assert_eq!(paths, ["int64", "text", "comment.author", "comments.address.city"]);
}
