//! The benchmarked model, its serde twin, sample data and the hand-written baselines.
//!
//! `Item` has ten stored fields (the key lives outside the document). `SerdeItem` is the
//! same document for serde: same names, same order, same BSON types (a `bson::DateTime`
//! stands in for `DateTime<Utc>`, both are a BSON date), so both write identical bytes.

use bson::raw::{cstr, RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};
use nonrel_runtime::{Condition, DateTime, Key, Model, Utc};
use serde::{Deserialize, Serialize};

/// The nonrel model.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bench_items")]
pub struct Item {
    #[field(key)]
    pub id: Option<Key<Item>>,
    #[field(index)]
    pub group: i64,
    pub name: String,
    pub email: String,
    pub city: String,
    pub active: bool,
    pub score: f64,
    pub level: i32,
    pub nickname: Option<String>,
    pub tags: Vec<String>,
    pub created: DateTime<Utc>,
}

/// [`Item`] with a covering index on `group` (each index entry holds its record), in a
/// collection of its own.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bench_items_covered")]
pub struct CoveredItem {
    #[field(key)]
    pub id: Option<Key<CoveredItem>>,
    #[field(index(covering))]
    pub group: i64,
    pub name: String,
    pub email: String,
    pub city: String,
    pub active: bool,
    pub score: f64,
    pub level: i32,
    pub nickname: Option<String>,
    pub tags: Vec<String>,
    pub created: DateTime<Utc>,
}

/// A benchmarked model: made from record number `i`, queried by its `group` field.
pub trait Grouped: Model + Clone {
    fn make(i: i64, groups: i64) -> Self;
    fn in_group(v: i64) -> Condition<Self>;
    fn name(&self) -> &str;
}

impl Grouped for Item {
    fn make(i: i64, groups: i64) -> Self {
        item(i, groups)
    }
    fn in_group(v: i64) -> Condition<Self> {
        Item::group().eq(v)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Grouped for CoveredItem {
    fn make(i: i64, groups: i64) -> Self {
        let m = item(i, groups);
        CoveredItem {
            id: None,
            group: m.group,
            name: m.name,
            email: m.email,
            city: m.city,
            active: m.active,
            score: m.score,
            level: m.level,
            nickname: m.nickname,
            tags: m.tags,
            created: m.created,
        }
    }
    fn in_group(v: i64) -> Condition<Self> {
        CoveredItem::group().eq(v)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// The same document for serde, and the target of the hand-written decoder.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SerdeItem {
    pub group: i64,
    pub name: String,
    pub email: String,
    pub city: String,
    pub active: bool,
    pub score: f64,
    pub level: i32,
    pub nickname: Option<String>,
    pub tags: Vec<String>,
    pub created: bson::DateTime,
}

const CITIES: [&str; 5] = ["Lisbon", "Oslo", "Nairobi", "Montevideo", "Hanoi"];
const TAGS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

/// Record number `i`; `groups` distinct values of the indexed field, repeating.
pub fn item(i: i64, groups: i64) -> Item {
    let tags = (0..2 + i % 2).map(|t| TAGS[((i + t) % 4) as usize].to_owned()).collect();
    Item {
        id: None,
        group: i % groups,
        name: format!("User Number {i}"),
        email: format!("user.number.{i}@example.com"),
        city: CITIES[(i % 5) as usize].to_owned(),
        active: i % 2 == 0,
        score: i as f64 * 0.5 + 0.25,
        level: (i % 100) as i32,
        nickname: (i % 3 != 0).then(|| format!("nick{i}")),
        tags,
        created: DateTime::from_timestamp_millis(1_700_000_000_000 + i * 1000).expect("in range"),
    }
}

/// The serde twin holding the same values.
pub fn twin(m: &Item) -> SerdeItem {
    SerdeItem {
        group: m.group,
        name: m.name.clone(),
        email: m.email.clone(),
        city: m.city.clone(),
        active: m.active,
        score: m.score,
        level: m.level,
        nickname: m.nickname.clone(),
        tags: m.tags.clone(),
        created: bson::DateTime::from_millis(m.created.timestamp_millis()),
    }
}

/// Baseline (a): the same fields written with bson's raw document builder.
pub fn raw_encode(m: &Item) -> RawDocumentBuf {
    let mut doc = RawDocumentBuf::new();
    doc.append(cstr!("group"), m.group);
    doc.append(cstr!("name"), m.name.as_str());
    doc.append(cstr!("email"), m.email.as_str());
    doc.append(cstr!("city"), m.city.as_str());
    doc.append(cstr!("active"), m.active);
    doc.append(cstr!("score"), m.score);
    doc.append(cstr!("level"), m.level);
    match &m.nickname {
        Some(n) => doc.append(cstr!("nickname"), n.as_str()),
        None => doc.append(cstr!("nickname"), RawBsonRef::Null),
    }
    let mut tags = RawArrayBuf::new();
    for t in &m.tags {
        tags.push(t.as_str());
    }
    doc.append(cstr!("tags"), &tags);
    doc.append(cstr!("created"), bson::DateTime::from_millis(m.created.timestamp_millis()));
    doc
}

/// A baseline decode failure.
#[derive(Debug)]
pub struct BadDoc(pub String);

impl std::fmt::Display for BadDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(what: impl std::fmt::Display) -> BadDoc {
    BadDoc(what.to_string())
}

fn want<T>(v: Option<T>, field: &str) -> Result<T, BadDoc> {
    v.ok_or_else(|| bad(format!("field {field} is missing or has the wrong type")))
}

fn owned(v: RawBsonRef<'_>, field: &str) -> Result<String, BadDoc> {
    want(v.as_str(), field).map(str::to_owned)
}

fn tags(v: RawBsonRef<'_>) -> Result<Vec<String>, BadDoc> {
    let array = want(v.as_array(), "tags")?;
    array.into_iter().map(|t| owned(t.map_err(bad)?, "tags[]")).collect()
}

/// The hand-written decoder of the baselines: one pass over bson's `RawDocument`, matching
/// names, with the same checks the model's decoder makes (types, missing fields).
pub fn hand_decode(bytes: &[u8]) -> Result<SerdeItem, BadDoc> {
    let doc = RawDocument::from_bytes(bytes).map_err(bad)?;
    let (mut group, mut name, mut email, mut city, mut active) = (None, None, None, None, None);
    let (mut score, mut level, mut nickname, mut tag_list, mut created) = (None, None, None, None, None);
    for el in doc {
        let (key, v) = el.map_err(bad)?;
        match key.as_str() {
            "group" => group = Some(want(v.as_i64(), "group")?),
            "name" => name = Some(owned(v, "name")?),
            "email" => email = Some(owned(v, "email")?),
            "city" => city = Some(owned(v, "city")?),
            "active" => active = Some(want(v.as_bool(), "active")?),
            "score" => score = Some(want(v.as_f64(), "score")?),
            "level" => level = Some(want(v.as_i32(), "level")?),
            "nickname" => nickname = Some(if v.as_null().is_some() { None } else { Some(owned(v, "nickname")?) }),
            "tags" => tag_list = Some(tags(v)?),
            "created" => created = Some(want(v.as_datetime(), "created")?),
            _ => {}
        }
    }
    Ok(SerdeItem {
        group: want(group, "group")?,
        name: want(name, "name")?,
        email: want(email, "email")?,
        city: want(city, "city")?,
        active: want(active, "active")?,
        score: want(score, "score")?,
        level: want(level, "level")?,
        nickname: nickname.unwrap_or(None),
        tags: tag_list.unwrap_or_default(),
        created: want(created, "created")?,
    })
}

/// Checks, once, that the four codecs agree byte for byte and value for value.
pub fn check_codecs() {
    let m = item(7, 20_000);
    let mut ours = Vec::new();
    m.encode(&mut ours).expect("encode");
    assert_eq!(ours, raw_encode(&m).as_bytes(), "raw encoder writes other bytes");
    assert_eq!(ours, bson::serialize_to_vec(&twin(&m)).expect("serde"), "serde writes other bytes");
    assert_eq!(Item::decode(None, &ours).expect("decode"), m);
    assert_eq!(hand_decode(&ours).expect("hand decode"), twin(&m));
    let back: SerdeItem = bson::deserialize_from_slice(&ours).expect("serde decode");
    assert_eq!(back, twin(&m));
}
