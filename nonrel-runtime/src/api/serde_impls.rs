//! `Serialize` and `Deserialize` for the value types users put in models (feature `serde`),
//! so `#[derive(Model, Serialize, Deserialize)]` works and a model round-trips through
//! `serde_json`. The forms are listed in the guide's serde page:
//!
//! - [`Key`] and [`Ref`]: the key's URL-safe string (`"42"`, `"ann%20lee"`, 24 hex digits).
//! - [`ObjectId`]: 24 hex digits.
//! - [`Blob`]: standard base64 with padding.
//! - [`Decimal`](crate::Decimal) and [`DateTime`](crate::DateTime): the forms of
//!   `rust_decimal` and `chrono` (a string of the digits, scale kept; RFC 3339 text).
//! - [`Value`]: relaxed extended JSON: numbers, text, booleans, null, lists and documents as
//!   themselves, the types JSON lacks in a one-field wrapper (`{"$date": ...}`).
//! - [`Extra`]: a map of the kept fields, each a [`Value`].
//!
//! The impls use the types' public API only: every value is checked by the same parser a
//! URL or a stored document goes through, and a bad one is an error naming the model.

use crate::core::codec::base64::STANDARD;
use crate::core::value::{Blob, Extra, Value};
use crate::schema::key::{Key, ObjectId, Ref};
use crate::schema::model::Model;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

impl<M> Serialize for Key<M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_url_safe())
    }
}

impl<'de, M: Model> Deserialize<'de> for Key<M> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyVisitor::<M>(std::marker::PhantomData))
    }
}

/// Reads a key from its URL-safe string; an integer is taken as its decimal digits.
struct KeyVisitor<M>(std::marker::PhantomData<fn() -> M>);

impl<M: Model> Visitor<'_> for KeyVisitor<M> {
    type Value = Key<M>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the URL-safe string of a key of {}", M::DESC.name)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<M>, E> {
        Key::parse(s).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Key<M>, E> {
        self.visit_str(&n.to_string())
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Key<M>, E> {
        self.visit_str(&n.to_string())
    }
}

impl<T> Serialize for Ref<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.key().serialize(s)
    }
}

impl<'de, T: Model> Deserialize<'de> for Ref<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Key::deserialize(d).map(Ref::new)
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        ObjectId::parse(&text).map_err(de::Error::custom)
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        decode_base64(&text).map(Blob).map_err(de::Error::custom)
    }
}

fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    STANDARD.decode(text).ok_or_else(|| format!("{} is not padded standard base64", short(text)))
}

/// A value in a message: quoted, and cut after 40 characters.
fn short(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{:?}...", &text[..at]),
        None => format!("{text:?}"),
    }
}

impl Serialize for Extra {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let names = self.names();
        let mut map = s.serialize_map(Some(names.len()))?;
        for name in &names {
            let value = self.get(name).map_err(serde::ser::Error::custom)?.unwrap_or(Value::Null);
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Extra {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fields = d.deserialize_map(DocumentVisitor)?;
        let mut extra = Extra::default();
        for (name, value) in fields {
            extra.insert(&name, value).map_err(de::Error::custom)?;
        }
        Ok(extra)
    }
}

/// The one-field wrappers of relaxed extended JSON this form writes. A document whose first
/// field has one of these names is written inside `{"$document": ...}`.
const WRAPPERS: &[&str] =
    &["$date", "$oid", "$binary", "$numberDecimal", "$numberDouble", "$numberLong", "$numberInt", "$bson", "$document"];

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int32(n) => s.serialize_i32(*n),
            Value::Int64(n) => s.serialize_i64(*n),
            Value::Double(x) if x.is_finite() => s.serialize_f64(*x),
            Value::Double(x) => wrapper(s, "$numberDouble", &non_finite(*x)),
            Value::Decimal(d) => wrapper(s, "$numberDecimal", &d.to_string()),
            Value::String(text) => s.serialize_str(text),
            Value::DateTime(at) => serialize_date(s, at),
            Value::Binary(bytes) => wrapper(s, "$binary", &BinaryBody(bytes)),
            Value::ObjectId(o) => wrapper(s, "$oid", &o.to_hex()),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Document(fields) => match fields.first() {
                Some((name, _)) if WRAPPERS.contains(&name.as_str()) => wrapper(s, "$document", &Fields(fields)),
                _ => Fields(fields).serialize(s),
            },
            Value::Raw(ty, bytes) => wrapper(s, "$bson", &raw_hex(*ty, bytes)),
        }
    }
}

fn wrapper<S: Serializer, T: Serialize + ?Sized>(s: S, name: &str, body: &T) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(1))?;
    map.serialize_entry(name, body)?;
    map.end()
}

fn non_finite(x: f64) -> String {
    match x {
        x if x.is_nan() => "NaN".into(),
        x if x > 0.0 => "Infinity".into(),
        _ => "-Infinity".into(),
    }
}

/// Dates of years 1970 to 9999 as RFC 3339 text with milliseconds, others as milliseconds
/// since the epoch (as MongoDB's relaxed extended JSON writes them).
fn serialize_date<S: Serializer>(s: S, at: &DateTime<Utc>) -> Result<S::Ok, S::Error> {
    let ms = at.timestamp_millis();
    if (0..253_402_300_800_000).contains(&ms) {
        wrapper(s, "$date", &at.to_rfc3339_opts(SecondsFormat::Millis, true))
    } else {
        wrapper(s, "$date", &Fields(&[("$numberLong".into(), Value::String(ms.to_string()))]))
    }
}

fn raw_hex(ty: u8, bytes: &[u8]) -> String {
    std::iter::once(ty).chain(bytes.iter().copied()).map(|b| format!("{b:02x}")).collect()
}

struct BinaryBody<'a>(&'a [u8]);

impl Serialize for BinaryBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("base64", &STANDARD.encode(self.0))?;
        map.serialize_entry("subType", "00")?;
        map.end()
    }
}

/// A document's fields as a map, in order.
struct Fields<'a>(&'a [(String, Value)]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// Reads any value; a one-field map whose field is a wrapper's name is that wrapper.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value (relaxed extended JSON)")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    /// An integer that fits 32 bits is an int32, a larger one an int64 (as relaxed extended
    /// JSON reads them; values compare equal whichever width they have).
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(i32::try_from(n).map_or(Value::Int64(n), Value::Int32))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        i64::try_from(n).map(|n| self.visit_i64(n)).unwrap_or(Ok(Value::Double(n as f64)))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Double(x))
    }

    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(Value::String(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Value, E> {
        Ok(Value::String(text))
    }

    fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Value, E> {
        Ok(Value::Binary(bytes.to_vec()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(Value::Document(Vec::new()));
        };
        if first == "$document" {
            let fields = map.next_value_seed(DocumentSeed)?;
            if map.next_key::<de::IgnoredAny>()?.is_some() {
                return Err(de::Error::custom("a {\"$document\": ...} wrapper has no other field"));
            }
            return Ok(Value::Document(fields));
        }
        let value: Value = map.next_value()?;
        let mut fields = vec![(first, value)];
        while let Some((name, value)) = map.next_entry()? {
            fields.push((name, value));
        }
        match fields.as_slice() {
            [(name, value)] if WRAPPERS.contains(&name.as_str()) => unwrap(name, value).map_err(de::Error::custom),
            _ => Ok(Value::Document(fields)),
        }
    }
}

/// A document's fields, read without taking a one-field map for a wrapper.
struct DocumentSeed;

impl<'de> DeserializeSeed<'de> for DocumentSeed {
    type Value = Vec<(String, Value)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Vec<(String, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of field names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(entry) = map.next_entry()? {
            fields.push(entry);
        }
        Ok(fields)
    }
}

/// The value a one-field wrapper stands for.
fn unwrap(name: &str, body: &Value) -> Result<Value, String> {
    let text = || body.as_str().ok_or_else(|| format!("the body of {name:?} must be text, not {body}"));
    let bad = |what: &str| format!("{} is not {what} (in {name:?})", short(&body.to_string()));
    Ok(match name {
        "$oid" => Value::ObjectId(ObjectId::parse(text()?).map_err(|e| e.to_string())?),
        "$numberInt" => Value::Int32(text()?.parse().map_err(|_| bad("a 32-bit integer"))?),
        "$numberLong" => Value::Int64(text()?.parse().map_err(|_| bad("a 64-bit integer"))?),
        "$numberDecimal" => Value::Decimal(text()?.parse::<Decimal>().map_err(|_| bad("a decimal"))?),
        "$numberDouble" => Value::Double(match text()? {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => other.parse().map_err(|_| bad("a double"))?,
        }),
        "$date" => Value::DateTime(date(body).ok_or_else(|| bad("a date (RFC 3339 text or milliseconds)"))?),
        "$binary" => Value::Binary(binary(body).ok_or_else(|| bad("a binary of sub-type 00"))?),
        "$bson" => raw(text()?).ok_or_else(|| bad("a BSON type byte and value bytes in hex"))?,
        _ => return Err(format!("{name:?} is not a wrapper this form reads")),
    })
}

fn date(body: &Value) -> Option<DateTime<Utc>> {
    match body {
        Value::String(text) => DateTime::parse_from_rfc3339(text).ok().map(|d| d.with_timezone(&Utc)),
        Value::Int64(ms) => DateTime::from_timestamp_millis(*ms),
        Value::Int32(ms) => DateTime::from_timestamp_millis(i64::from(*ms)),
        _ => None,
    }
}

fn binary(body: &Value) -> Option<Vec<u8>> {
    let Value::Document(fields) = body else { return None };
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_str());
    match (fields.len(), field("base64"), field("subType")) {
        (2, Some(text), Some("00" | "0")) => decode_base64(text).ok(),
        _ => None,
    }
}

fn raw(hex: &str) -> Option<Value> {
    if hex.len() < 2 || !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    let bytes =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect::<Option<Vec<u8>>>()?;
    Value::from_element(bytes[0], &bytes[1..]).ok()
}
