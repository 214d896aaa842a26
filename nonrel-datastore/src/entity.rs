//! Records as Datastore entities, and keys as Datastore keys.
//!
//! Every field of the BSON document becomes a property of the entity: embedded documents are
//! entity values, lists array values, binaries blob values (base64 in JSON), dates timestamp
//! values, integers integer values, doubles double values. What has no exact Datastore type
//! is written as the closest one and named, by its path, in one unindexed string property,
//! [`TYPES`], read back on load: 32-bit integers (integer values), decimals (their 16
//! decimal128 bytes as a blob), ObjectIds (their 12 bytes as a blob), binaries of another
//! subtype, `-0.0`, dates outside the years 1 to 9999 (milliseconds as an integer), a list
//! inside a list (Datastore has no nested arrays: an entity value holding it as `v`), a
//! document or list nested deeper than Datastore's [`MAX_NESTING`] levels (its BSON bytes as
//! a blob), and any other BSON type (its value bytes as a blob). So a document loads back with the same
//! values and types; the fields of a document come back sorted by name.

use crate::reply::{Key, PathElement, Props, Val};
use base64::Engine as _;
use nonrel_runtime::chrono::{DateTime, SecondsFormat};
use nonrel_runtime::{Error, ErrorKind, KeyValue, ModelDesc, ObjectId, Result};
use serde_json::{json, Map, Value as Json};

/// The property naming the values whose BSON type is not the natural one of their Datastore
/// value (unindexed; absent when there are none).
pub const TYPES: &str = "__nonrel_types";

/// The largest indexed string Datastore accepts, in bytes.
pub const MAX_INDEXED_STRING: usize = 1500;
/// The largest entity Datastore accepts, in bytes.
pub const MAX_ENTITY: usize = 1_048_572;
/// The most entity and array values Datastore nests in one property (both count).
pub const MAX_NESTING: usize = 20;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---- keys ----

/// The marker of names that are not string keys as they are (negative and zero integer
/// keys, ObjectIds, and strings Datastore reserves or that start with the marker).
const MARK: char = '\u{1}';

/// A JSON object of `members`, moved in: `json!` serializes each value it is given into a
/// copy, which for a built entity or list is a second walk and a second set of allocations.
pub fn object<const N: usize>(members: [(&str, Json); N]) -> Json {
    let mut map = Map::with_capacity(N);
    for (name, value) in members {
        map.insert(name.to_string(), value);
    }
    Json::Object(map)
}

/// The path element of a key: positive integers are ids; other keys are names.
pub fn key_element(kind: &str, key: &KeyValue) -> Json {
    match key {
        KeyValue::Int(i) if *i > 0 => json!({"kind": kind, "id": i.to_string()}),
        KeyValue::Int(i) => json!({"kind": kind, "name": format!("{MARK}i{i}")}),
        KeyValue::ObjectId(o) => json!({"kind": kind, "name": format!("{MARK}o{}", o.to_hex())}),
        KeyValue::Str(s) if s.starts_with(MARK) || (s.len() >= 4 && s.starts_with("__") && s.ends_with("__")) => {
            json!({"kind": kind, "name": format!("{MARK}s{s}")})
        }
        KeyValue::Str(s) => json!({"kind": kind, "name": s}),
    }
}

/// A key as the API takes it.
pub fn key_json(kind: &str, key: &KeyValue) -> Json {
    object([("path", Json::Array(vec![key_element(kind, key)]))])
}

/// [`key_json`] as JSON text appended to `out`, written without building the JSON value.
pub fn write_key_json(kind: &str, key: &KeyValue, out: &mut String) {
    out.push_str("{\"path\":[{\"kind\":");
    nonrel_runtime::json::write_json_str(kind, out);
    match key {
        KeyValue::Int(i) if *i > 0 => {
            out.push_str(",\"id\":\"");
            out.push_str(&i.to_string());
            out.push('"');
        }
        KeyValue::Str(s) if !(s.starts_with(MARK) || (s.len() >= 4 && s.starts_with("__") && s.ends_with("__"))) => {
            out.push_str(",\"name\":");
            nonrel_runtime::json::write_json_str(s, out);
        }
        _ => {
            // Names nonrel marks: the same text as the JSON value gives.
            let element = key_element(kind, key);
            out.push_str(",\"name\":");
            out.push_str(&element["name"].to_string());
        }
    }
    out.push_str("}]}");
}

/// A new automatic key: a positive id larger than every id this process assigned before,
/// so records inserted one after another come back in that order without `order_by` (as on
/// every other backend; Datastore's own `allocateIds` scatters its ids). The id is the time
/// in milliseconds shifted left by 20 bits plus a random per-process offset, or the last id
/// plus one when that is not larger: ids of other processes interleave by time, like
/// MongoDB's ObjectIds. Records are written with `insert`, so an id another process took
/// meanwhile is refused by Datastore, and the write runs again with new ids.
pub fn new_key() -> KeyValue {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let salt = *SALT.get_or_init(|| std::collections::hash_map::RandomState::new().build_hasher().finish() >> 45);
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let floor = (ms << 20) | salt;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = floor.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return KeyValue::Int(next as i64),
            Err(now) => last = now,
        }
    }
}

/// The nonrel key of a Datastore key (the last element of its path).
pub(crate) fn key_of(key: &Key) -> Result<KeyValue> {
    let last = key.path.last();
    let bad = || {
        let shown = match last {
            Some(PathElement { id: Some(id), .. }) => format!("id {:?}", &**id),
            Some(PathElement { name: Some(name), .. }) => format!("name {:?}", &**name),
            _ => "without an id or name".to_string(),
        };
        Error::new(ErrorKind::Decode, format!("Datastore key {shown} is not a nonrel key"))
    };
    let last = last.ok_or_else(bad)?;
    if let Some(id) = &last.id {
        return id.parse().map(KeyValue::Int).map_err(|_| bad());
    }
    let name = last.name.as_deref().ok_or_else(bad)?;
    let Some(rest) = name.strip_prefix(MARK) else { return Ok(KeyValue::Str(name.to_string())) };
    match rest.split_at_checked(1) {
        Some(("i", n)) => n.parse().map(KeyValue::Int).map_err(|_| bad()),
        Some(("o", hex)) => ObjectId::parse(hex).map(KeyValue::ObjectId).map_err(|_| bad()),
        Some(("s", s)) => Ok(KeyValue::Str(s.to_string())),
        _ => Err(bad()),
    }
}

// ---- BSON reading and writing ----

/// One element of a BSON document: type, name, value bytes.
struct Element<'a> {
    ty: u8,
    name: &'a str,
    value: &'a [u8],
}

fn corrupt(what: &str) -> Error {
    Error::new(ErrorKind::Decode, format!("malformed BSON document: {what}"))
}

fn i32_at(b: &[u8], at: usize) -> Result<usize> {
    let bytes: [u8; 4] = b.get(at..at + 4).and_then(|s| s.try_into().ok()).ok_or_else(|| corrupt("truncated"))?;
    usize::try_from(i32::from_le_bytes(bytes)).map_err(|_| corrupt("negative length"))
}

/// The elements of a document.
fn elements(doc: &[u8]) -> Result<Vec<Element<'_>>> {
    let len = i32_at(doc, 0)?;
    if len != doc.len() || len < 5 {
        return Err(corrupt("length"));
    }
    let mut out = Vec::new();
    let mut at = 4;
    while at < len - 1 {
        let ty = doc[at];
        at += 1;
        let end = doc[at..].iter().position(|&b| b == 0).ok_or_else(|| corrupt("name"))? + at;
        let name = std::str::from_utf8(&doc[at..end]).map_err(|_| corrupt("name"))?;
        at = end + 1;
        let size = match ty {
            0x01 | 0x09 | 0x11 | 0x12 => 8,
            0x02 | 0x0D | 0x0E => 4 + i32_at(doc, at)?,
            0x03 | 0x04 | 0x0F => i32_at(doc, at)?,
            0x05 => 5 + i32_at(doc, at)?,
            0x06 | 0x0A | 0x7F | 0xFF => 0,
            0x07 => 12,
            0x08 => 1,
            0x0B => {
                let a = doc[at..].iter().position(|&b| b == 0).ok_or_else(|| corrupt("regex"))?;
                let b = doc[at + a + 1..].iter().position(|&b| b == 0).ok_or_else(|| corrupt("regex"))?;
                a + b + 2
            }
            0x0C => 4 + i32_at(doc, at)? + 12,
            0x10 => 4,
            0x13 => 16,
            _ => return Err(corrupt("unknown element type")),
        };
        let value = doc.get(at..at + size).ok_or_else(|| corrupt("truncated value"))?;
        at += size;
        out.push(Element { ty, name, value });
    }
    Ok(out)
}

// ---- encoding ----

/// One step of a path: a field name or a list position.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Name(String),
    Pos(usize),
}

/// What an encoding needs to know and collects.
struct Enc<'a> {
    model: &'static ModelDesc,
    indexed: &'a dyn Fn(&str) -> bool,
    /// The path of the value being encoded (names and positions) ...
    path: Vec<Step>,
    /// ... and its dotted form without positions (how Datastore names nested properties).
    dotted: String,
    tags: Vec<Json>,
    size: usize,
    /// The entity and array values around the value being encoded.
    nesting: usize,
}

impl Enc<'_> {
    fn tag(&mut self, tag: &str) {
        let path: Vec<Json> = self
            .path
            .iter()
            .map(|s| match s {
                Step::Name(n) => Json::String(n.clone()),
                Step::Pos(p) => Json::from(*p),
            })
            .collect();
        self.tags.push(json!([path, tag]));
    }

    fn too_large(&self, what: String) -> Error {
        let top = self.dotted.split('.').next().unwrap_or_default();
        Error::new(ErrorKind::TooLarge, what).with_model(self.model.name).with_field(field_of(self.model, top))
    }

    /// Whether a path, or a path under it, is indexed.
    fn indexed_here(&self) -> bool {
        (self.indexed)(&self.dotted)
    }

    fn doc(&mut self, doc: &[u8]) -> Result<Map<String, Json>> {
        let mut props = Map::new();
        for e in elements(doc)? {
            let depth = (self.path.len(), self.dotted.len());
            self.path.push(Step::Name(e.name.to_string()));
            if !self.dotted.is_empty() {
                self.dotted.push('.');
            }
            self.dotted.push_str(e.name);
            self.size += e.name.len();
            let v = self.value(e.ty, e.value, false)?;
            props.insert(e.name.to_string(), v);
            self.path.truncate(depth.0);
            self.dotted.truncate(depth.1);
        }
        Ok(props)
    }

    /// The Datastore value of one BSON value; `in_list` for list elements (a list there
    /// cannot be an array value).
    fn value(&mut self, ty: u8, v: &[u8], in_list: bool) -> Result<Json> {
        let indexed = self.indexed_here();
        let blob = |this: &mut Self, bytes: &[u8], tag: Option<&str>| {
            if let Some(t) = tag {
                this.tag(t);
            }
            this.size += bytes.len();
            json!({"blobValue": B64.encode(bytes), "excludeFromIndexes": true})
        };
        let mut out = match ty {
            0x01 => {
                self.size += 8;
                let f = f64::from_le_bytes(v.try_into().map_err(|_| corrupt("double"))?);
                if f == 0.0 && f.is_sign_negative() {
                    self.tag("z");
                }
                json!({"doubleValue": double_json(f)})
            }
            0x02 => {
                let s = std::str::from_utf8(&v[4..v.len() - 1]).map_err(|_| corrupt("string"))?;
                self.size += s.len();
                if indexed && s.len() > MAX_INDEXED_STRING {
                    return Err(self.too_large(format!(
                        "indexed string of {} bytes at `{}`: Datastore indexes strings of at most {MAX_INDEXED_STRING} bytes",
                        s.len(),
                        self.dotted
                    )));
                }
                json!({"stringValue": s})
            }
            // Deeper than Datastore nests: the value's BSON bytes, read back as they are.
            0x03 if self.nesting >= MAX_NESTING => return Ok(blob(self, v, Some("r3"))),
            0x04 if self.nesting + usize::from(in_list) >= MAX_NESTING => return Ok(blob(self, v, Some("r4"))),
            0x03 => {
                self.nesting += 1;
                let props = self.doc(v);
                self.nesting -= 1;
                let props = props?;
                let mut e = object([("entityValue", object([("properties", Json::Object(props))]))]);
                if !indexed {
                    e["excludeFromIndexes"] = Json::Bool(true);
                }
                return Ok(e);
            }
            0x04 => {
                let mut values = Vec::new();
                let around = self.nesting;
                self.nesting += 1 + usize::from(in_list);
                for (i, e) in elements(v)?.into_iter().enumerate() {
                    self.path.push(Step::Pos(i));
                    let value = self.value(e.ty, e.value, true);
                    self.path.pop();
                    match value {
                        Ok(value) => values.push(value),
                        Err(e) => {
                            self.nesting = around;
                            return Err(e);
                        }
                    }
                }
                self.nesting = around;
                let array = object([("arrayValue", object([("values", Json::Array(values))]))]);
                if in_list {
                    self.tag("l");
                    let props = object([("properties", object([("v", array)]))]);
                    return Ok(object([("entityValue", props), ("excludeFromIndexes", Json::Bool(true))]));
                }
                return Ok(array);
            }
            0x05 => {
                let sub = v[4];
                return Ok(blob(self, &v[5..], (sub != 0).then(|| format!("b{sub}")).as_deref()));
            }
            0x07 => return Ok(blob(self, v, Some("o"))),
            0x08 => {
                self.size += 1;
                json!({"booleanValue": v[0] != 0})
            }
            0x09 => {
                self.size += 8;
                let ms = i64::from_le_bytes(v.try_into().map_err(|_| corrupt("date"))?);
                match DateTime::from_timestamp_millis(ms)
                    .filter(|d| (1..=9999).contains(&d.format("%Y").to_string().parse::<i32>().unwrap_or(0)))
                {
                    Some(d) => json!({"timestampValue": d.to_rfc3339_opts(SecondsFormat::Millis, true)}),
                    None => {
                        self.tag("t");
                        json!({"integerValue": ms.to_string(), "excludeFromIndexes": true})
                    }
                }
            }
            0x0A => json!({"nullValue": null}),
            0x10 => {
                self.size += 8;
                self.tag("i");
                let n = i32::from_le_bytes(v.try_into().map_err(|_| corrupt("int32"))?);
                json!({"integerValue": n.to_string()})
            }
            0x12 => {
                self.size += 8;
                let n = i64::from_le_bytes(v.try_into().map_err(|_| corrupt("int64"))?);
                json!({"integerValue": n.to_string()})
            }
            0x13 => return Ok(blob(self, v, Some("d"))),
            other => return Ok(blob(self, v, Some(&format!("r{other}")))),
        };
        if !indexed {
            out["excludeFromIndexes"] = Json::Bool(true);
        }
        Ok(out)
    }
}

/// The model field a top-level property belongs to: itself, or for an index field of an
/// emulated lookup (`_ix_{field}_{suffix}`) the field it is computed from.
fn field_of<'a>(model: &'a ModelDesc, top: &'a str) -> &'a str {
    let Some(rest) = top.strip_prefix("_ix_") else { return top };
    model
        .fields
        .iter()
        .map(|f| f.name)
        .filter(|f| rest.len() > f.len() && rest.starts_with(f) && rest.as_bytes()[f.len()] == b'_')
        .max_by_key(|f| f.len())
        .unwrap_or(top)
}

/// A double in the API's JSON: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn double_json(f: f64) -> Json {
    if f.is_nan() {
        Json::from("NaN")
    } else if f.is_infinite() {
        Json::from(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        Json::from(f)
    }
}

/// The properties of the entity for a record. `indexed` says which dotted paths nonrel
/// queries (those are indexed; everything else is excluded from indexes).
pub fn encode(model: &'static ModelDesc, doc: &[u8], indexed: &dyn Fn(&str) -> bool) -> Result<Map<String, Json>> {
    let mut enc =
        Enc { model, indexed, path: Vec::new(), dotted: String::new(), tags: Vec::new(), size: 0, nesting: 0 };
    let mut props = enc.doc(doc).map_err(|e| if e.model().is_none() { e.with_model(model.name) } else { e })?;
    if enc.size > MAX_ENTITY {
        let largest = props.iter().max_by_key(|(_, v)| v.to_string().len()).map(|(k, _)| k.clone()).unwrap_or_default();
        let msg = format!(
            "record of about {} bytes: a Datastore entity holds at most 1 MiB (largest field `{largest}`)",
            enc.size
        );
        return Err(Error::new(ErrorKind::TooLarge, msg).with_model(model.name).with_field(field_of(model, &largest)));
    }
    if !enc.tags.is_empty() {
        let tags = Json::Array(enc.tags).to_string();
        props.insert(TYPES.to_string(), json!({"stringValue": tags, "excludeFromIndexes": true}));
    }
    Ok(props)
}

// ---- decoding ----

/// The tags of one entity: each path (names and positions) with its tag.
struct Tags(Vec<(Vec<Json>, String)>);

impl Tags {
    fn find(&self, path: &[Json]) -> Option<&str> {
        self.0.iter().find(|(p, _)| p.as_slice() == path).map(|(_, t)| t.as_str())
    }
}

fn bad_value(v: &Val) -> Error {
    let text = match v {
        Val::Other(text) => text.clone(),
        v => format!("{v:?}"),
    };
    Error::new(ErrorKind::Decode, format!("Datastore value {text} is not one nonrel reads"))
}

/// The record of an entity's properties (the [`TYPES`] property read, not kept).
pub(crate) fn decode(props: &Props) -> Result<Vec<u8>> {
    let types = props.0.iter().find(|(name, _)| &**name == TYPES).map(|(_, v)| v);
    let tags = match types {
        None => Tags(Vec::new()),
        Some(Val::Str(s)) => {
            let list: Vec<Json> = serde_json::from_str(s).map_err(|e| Error::new(ErrorKind::Decode, e.to_string()))?;
            Tags(
                list.into_iter().filter_map(|e| Some((e[0].as_array()?.clone(), e[1].as_str()?.to_string()))).collect(),
            )
        }
        Some(v) => return Err(bad_value(v)),
    };
    let mut path = Vec::new();
    let mut out = Vec::with_capacity(256);
    decode_doc(props, &tags, &mut path, true, &mut out)?;
    Ok(out)
}

/// Appends the document of `props`. `path` (the names and positions down to here) is kept
/// only when the entity has type tags to look up.
fn decode_doc(props: &Props, tags: &Tags, path: &mut Vec<Json>, top: bool, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    for (name, v) in &props.0 {
        if top && &**name == TYPES {
            continue;
        }
        let tracked = !tags.0.is_empty();
        if tracked {
            path.push(Json::String(name.to_string()));
        }
        let at = element_head(out, name.as_bytes());
        out[at] = decode_value(v, tags, path, out)?;
        if tracked {
            path.pop();
        }
    }
    finish_doc(out, start);
    Ok(())
}

/// Appends an element's head (a type byte to be set, the name and its NUL); returns where
/// the type byte is.
fn element_head(out: &mut Vec<u8>, name: &[u8]) -> usize {
    let at = out.len();
    out.push(0);
    out.extend_from_slice(name);
    out.push(0);
    at
}

/// Closes the document begun at `start`.
fn finish_doc(out: &mut Vec<u8>, start: usize) {
    out.push(0);
    let len = ((out.len() - start) as i32).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
}

/// Appends the BSON value of a Datastore value; returns its BSON type.
fn decode_value(v: &Val, tags: &Tags, path: &mut Vec<Json>, out: &mut Vec<u8>) -> Result<u8> {
    let tag = if tags.0.is_empty() { None } else { tags.find(path) };
    Ok(match v {
        Val::Str(s) => {
            out.extend_from_slice(&((s.len() + 1) as i32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
            0x02
        }
        Val::Int(text) => {
            let n: i64 = text.parse().map_err(|_| bad_value(v))?;
            match tag {
                Some("i") => {
                    out.extend_from_slice(&(n as i32).to_le_bytes());
                    0x10
                }
                Some("t") => {
                    out.extend_from_slice(&n.to_le_bytes());
                    0x09
                }
                _ => {
                    out.extend_from_slice(&n.to_le_bytes());
                    0x12
                }
            }
        }
        Val::Double(f) => {
            let f = if tag == Some("z") { -0.0 } else { *f };
            out.extend_from_slice(&f.to_le_bytes());
            0x01
        }
        Val::Bool(b) => {
            out.push(u8::from(*b));
            0x08
        }
        Val::Null => 0x0A,
        Val::Timestamp(text) => {
            let d = DateTime::parse_from_rfc3339(text).map_err(|_| bad_value(v))?;
            out.extend_from_slice(&d.timestamp_millis().to_le_bytes());
            0x09
        }
        Val::Blob(text) => {
            let bytes = B64.decode(text.as_bytes()).map_err(|_| bad_value(v))?;
            let (ty, bytes) = match tag {
                Some("o") => (0x07, bytes),
                Some("d") => (0x13, bytes),
                Some(t) if t.starts_with('r') => (t[1..].parse().map_err(|_| bad_value(v))?, bytes),
                Some(t) if t.starts_with('b') => {
                    let sub: u8 = t[1..].parse().map_err(|_| bad_value(v))?;
                    (0x05, binary(sub, &bytes))
                }
                _ => (0x05, binary(0, &bytes)),
            };
            out.extend_from_slice(&bytes);
            ty
        }
        Val::Entity(props) => {
            if tag == Some("l") {
                let inner = props.0.iter().find(|(name, _)| &**name == "v").ok_or_else(|| bad_value(v))?;
                return decode_value(&inner.1, tags, path, out);
            }
            decode_doc(props, tags, path, false, out)?;
            0x03
        }
        Val::Array(items) => {
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            let tracked = !tags.0.is_empty();
            for (i, item) in items.iter().enumerate() {
                if tracked {
                    path.push(Json::from(i));
                }
                // The element's head: a type byte to be set and its name (NUL included).
                let at = out.len();
                out.push(0);
                out.extend_from_slice(nonrel_runtime::codec::IndexName::new(i).as_bytes());
                out[at] = decode_value(item, tags, path, out)?;
                if tracked {
                    path.pop();
                }
            }
            finish_doc(out, start);
            0x04
        }
        Val::Other(_) => return Err(bad_value(v)),
    })
}

fn binary(sub: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 5);
    out.extend_from_slice(&(bytes.len() as i32).to_le_bytes());
    out.push(sub);
    out.extend_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nonrel_runtime::conformance::Rng;

    /// A key of every kind: ids, names for the integers that are not ids, names that need
    /// escapes or that Datastore reserves, ObjectIds.
    fn keys() -> Vec<KeyValue> {
        vec![
            KeyValue::Int(7),
            KeyValue::Int(0),
            KeyValue::Int(-3),
            KeyValue::Str("plain".into()),
            KeyValue::Str("q\"uo\\te\n\u{1}x".into()),
            KeyValue::Str("__reserved__".into()),
            KeyValue::ObjectId(nonrel_runtime::ObjectId::new()),
        ]
    }

    /// The key written as text is the JSON of [`key_json`], for every kind of key.
    #[test]
    fn key_text_is_the_key_json() {
        for key in &keys() {
            for kind in ["Post", "we\"ird"] {
                let mut text = String::new();
                write_key_json(kind, key, &mut text);
                let parsed: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(parsed, key_json(kind, key), "{text}");
            }
        }
    }

    /// Text with quotes, escapes, control characters and characters beyond ASCII.
    fn text(r: &mut Rng) -> String {
        const PARTS: [&str; 9] = ["a", "Z", "\"", "\\", "\n", "\u{1}", "é", "漢", "/"];
        (0..r.below_u64(6)).map(|_| PARTS[r.below_u64(PARTS.len() as u64) as usize]).collect()
    }

    /// A random BSON value: its type and bytes.
    fn value(r: &mut Rng, depth: usize) -> (u8, Vec<u8>) {
        let kinds = if depth > 23 { 11 } else { 14 };
        match r.below_u64(kinds) {
            0 => {
                let f = [1.5, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, (r.next() >> 11) as f64 / 7.0]
                    [r.below_u64(7) as usize];
                (0x01, f.to_le_bytes().to_vec())
            }
            1 => {
                let s = text(r);
                let mut b = ((s.len() + 1) as i32).to_le_bytes().to_vec();
                b.extend_from_slice(s.as_bytes());
                b.push(0);
                (0x02, b)
            }
            2 => {
                let bytes: Vec<u8> = (0..r.below_u64(9)).map(|_| r.next() as u8).collect();
                let mut b = (bytes.len() as i32).to_le_bytes().to_vec();
                b.push([0, 4, 128][r.below_u64(3) as usize]);
                b.extend_from_slice(&bytes);
                (0x05, b)
            }
            3 => (0x07, (0..12).map(|_| r.next() as u8).collect()),
            4 => (0x08, vec![r.below_u64(2) as u8]),
            5 => {
                // Within the years 1 to 9999 (a timestamp value) or outside them.
                let ms = [0, 1_700_000_000_123, -62_135_596_800_000, 253_402_300_799_999, i64::MIN / 2, i64::MAX / 3]
                    [r.below_u64(6) as usize];
                (0x09, ms.to_le_bytes().to_vec())
            }
            6 => (0x0A, Vec::new()),
            7 => (0x10, (r.next() as i32).to_le_bytes().to_vec()),
            8 => (0x12, (r.next() as i64).to_le_bytes().to_vec()),
            9 => (0x13, (0..16).map(|_| r.next() as u8).collect()),
            10 => (0x11, (r.next()).to_le_bytes().to_vec()),
            11 => (0x03, doc(r, depth + 1, false)),
            _ => (0x04, doc(r, depth + 1, true)),
        }
    }

    /// A random document (a list's when `list`: its names are the positions).
    fn doc(r: &mut Rng, depth: usize, list: bool) -> Vec<u8> {
        let mut out = vec![0; 4];
        for i in 0..r.below_u64(if depth > 3 { 2 } else { 5 }) {
            let (ty, bytes) = value(r, depth);
            out.push(ty);
            let name = if list { i.to_string() } else { format!("f{i}{}", text(r).replace('\0', "")) };
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            out.extend_from_slice(&bytes);
        }
        out.push(0);
        let len = (out.len() as i32).to_le_bytes();
        out[..4].copy_from_slice(&len);
        out
    }

    /// Every document written as entity properties reads back the same from the reply's
    /// text (as the store writes it, indented, and compact), through the borrowing reply
    /// types; so does every kind of key.
    #[test]
    fn documents_read_back_from_reply_text() {
        use crate::reply::{LookupReply, QueryReply};
        let model = <nonrel_runtime::conformance::models::User as nonrel_runtime::Model>::DESC;
        let keys = keys();
        let mut r = Rng::new(0x9E37_79B9_7F4A_7C15);
        for case in 0..3000 {
            let doc = doc(&mut r, 0, false);
            // Every property indexed, or none (which writes `excludeFromIndexes`).
            let indexed = r.one_in(2);
            let props = encode(model, &doc, &|_| indexed).unwrap_or_else(|e| panic!("case {case}: {e}"));
            let key = &keys[case % keys.len()];
            let entity = json!({"key": key_json("Kind", key), "properties": props});
            let found = json!({"found": [{"entity": entity, "version": "12", "cursor": "abc"}], "readTime": "x"});
            let query = json!({"batch": {"entityResults": [{"entity": entity, "version": "12"}],
                "endCursor": "c", "moreResults": "NO_MORE_RESULTS"}});
            for text in [serde_json::to_string_pretty(&found).unwrap(), serde_json::to_string(&found).unwrap()] {
                let reply: LookupReply = serde_json::from_str(&text).unwrap_or_else(|e| panic!("case {case}: {e}"));
                let e = &reply.found[0].entity;
                assert_eq!(&key_of(&e.key).unwrap(), key, "case {case}");
                assert_eq!(decode(&e.properties).unwrap_or_else(|e| panic!("case {case}: {e}")), doc, "case {case}");
            }
            let text = serde_json::to_string_pretty(&query).unwrap();
            let reply: QueryReply = serde_json::from_str(&text).unwrap();
            assert_eq!(decode(&reply.batch.entity_results[0].entity.properties).unwrap(), doc, "case {case}");
            assert_eq!(reply.batch.more_results.as_deref(), Some("NO_MORE_RESULTS"));
        }
    }

    /// A value nonrel does not read fails the decode naming it; a malformed one too.
    #[test]
    fn values_nonrel_does_not_read_are_named() {
        let cases = [
            (r#"{"p":{"geoPointValue":{"latitude":1.5,"longitude":2.5}}}"#, "geoPointValue"),
            (r#"{"p":{"keyValue":{"path":[]}}}"#, "keyValue"),
            (r#"{"p":{"integerValue":"x1"}}"#, "x1"),
            (r#"{"p":{"integerValue":5}}"#, "integerValue"),
            (r#"{"p":{"booleanValue":"yes"}}"#, "booleanValue"),
            (r#"{"p":{"excludeFromIndexes":true}}"#, "{}"),
            (r#"{"p":{"timestampValue":"yesterday"}}"#, "yesterday"),
        ];
        for (text, named) in cases {
            let props: Props = serde_json::from_str(text).unwrap();
            let err = decode(&props).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{text}");
            assert!(err.to_string().contains(named), "{text}: {err}");
        }
    }
}
