//! Dynamic values, blobs and the holder of unknown fields.

use crate::core::codec::{self, begin_document, cname, end_document, header, Decode, Element, Elements, Encode};
use crate::core::key::ObjectId;
use crate::error::Result;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::cmp::Ordering;

/// A value of any stored type: the dynamic field type (`Value` fields and map values hold
/// anything), and the operand of query filters.
///
/// ```
/// use nonrel_runtime::Value;
/// let v = Value::from("ann");
/// assert_eq!(v, Value::String("ann".into()));
/// assert!(Value::Int32(2) < Value::Double(2.5));
/// ```
#[derive(Debug, Clone)]
pub enum Value {
    /// Null (or a missing field).
    Null,
    /// A boolean.
    Bool(bool),
    /// A 32-bit integer.
    Int32(i32),
    /// A 64-bit integer.
    Int64(i64),
    /// A double.
    Double(f64),
    /// A decimal.
    Decimal(Decimal),
    /// UTF-8 text.
    String(String),
    /// A date-time (millisecond precision, as stored).
    DateTime(DateTime<Utc>),
    /// Bytes.
    Binary(Vec<u8>),
    /// A MongoDB ObjectId.
    ObjectId(ObjectId),
    /// A list.
    Array(Vec<Value>),
    /// An embedded document, fields in stored order.
    Document(Vec<(String, Value)>),
    /// Any other BSON value (regex, timestamp, ...), kept verbatim: type byte and value bytes.
    Raw(u8, Vec<u8>),
}

impl Value {
    /// Reads one element's value.
    pub fn from_element(ty: u8, value: &[u8]) -> Result<Value> {
        Ok(match ty {
            codec::NULL => Value::Null,
            codec::BOOL => Value::Bool(bool::decode(ty, value)?),
            codec::INT32 => Value::Int32(i32::decode(ty, value)?),
            codec::INT64 => Value::Int64(i64::decode(ty, value)?),
            codec::DOUBLE => Value::Double(f64::decode(ty, value)?),
            codec::STRING => Value::String(String::decode(ty, value)?),
            codec::DATETIME => Value::DateTime(DateTime::decode(ty, value)?),
            codec::BINARY if value.get(4) == Some(&0) => Value::Binary(Blob::decode(ty, value)?.0),
            codec::OBJECT_ID => Value::ObjectId(ObjectId::decode(ty, value)?),
            codec::DECIMAL128 => match Decimal::decode(ty, value) {
                Ok(d) => Value::Decimal(d),
                Err(_) => Value::Raw(ty, value.to_vec()),
            },
            codec::ARRAY => Value::Array(codec::nested(|| {
                Elements::new(value)?.map(|el| el.and_then(|e| Value::from_element(e.ty, e.value))).collect()
            })?),
            codec::DOCUMENT => Value::Document(codec::nested(|| Value::fields_of(value))?),
            other => Value::Raw(other, value.to_vec()),
        })
    }

    /// Whether documents and arrays nest more than `levels` levels deep in this value (a
    /// scalar nests none). Walks at most `levels + 1` levels, however deep the value.
    pub(crate) fn nests_past(&self, levels: usize) -> bool {
        let deeper = |v: &Value| v.nests_past(levels - 1);
        match self {
            Value::Document(fields) => levels == 0 || fields.iter().any(|(_, v)| deeper(v)),
            Value::Array(items) => levels == 0 || items.iter().any(deeper),
            _ => false,
        }
    }

    /// Reads a whole document's fields.
    pub fn fields_of(doc: &[u8]) -> Result<Vec<(String, Value)>> {
        Elements::new(doc)?
            .map(|el| {
                let el = el?;
                Ok((el.name_str().into_owned(), Value::from_element(el.ty, el.value)?))
            })
            .collect()
    }

    /// The BSON type byte this value is stored as.
    pub fn bson_type(&self) -> u8 {
        match self {
            Value::Null => codec::NULL,
            Value::Bool(_) => codec::BOOL,
            Value::Int32(_) => codec::INT32,
            Value::Int64(_) => codec::INT64,
            Value::Double(_) => codec::DOUBLE,
            Value::Decimal(_) => codec::DECIMAL128,
            Value::String(_) => codec::STRING,
            Value::DateTime(_) => codec::DATETIME,
            Value::Binary(_) => codec::BINARY,
            Value::ObjectId(_) => codec::OBJECT_ID,
            Value::Array(_) => codec::ARRAY,
            Value::Document(_) => codec::DOCUMENT,
            Value::Raw(ty, _) => *ty,
        }
    }

    /// The type's place in the sort order shared by every backend (MongoDB's): null, numbers,
    /// strings, documents, arrays, binary, ObjectId, bool, date, others.
    pub(crate) fn type_rank(&self) -> u8 {
        match self {
            Value::Raw(0xFF, _) => 0,
            Value::Null => 1,
            Value::Int32(_) | Value::Int64(_) | Value::Double(_) | Value::Decimal(_) => 2,
            Value::String(_) => 3,
            Value::Document(_) => 4,
            Value::Array(_) => 5,
            Value::Binary(_) => 6,
            Value::ObjectId(_) => 7,
            Value::Bool(_) => 8,
            Value::DateTime(_) => 9,
            Value::Raw(0x7F, _) => 11,
            Value::Raw(..) => 10,
        }
    }

    /// The value as an f64, for comparing numbers of different types.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int32(n) => Some(*n as f64),
            Value::Int64(n) => Some(*n as f64),
            Value::Double(f) => Some(*f),
            Value::Decimal(d) => rust_decimal::prelude::ToPrimitive::to_f64(d),
            _ => None,
        }
    }

    /// Text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Total order of values (MongoDB's comparison order), used for sorting and range filters.
pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    let rank = a.type_rank().cmp(&b.type_rank());
    if rank != Ordering::Equal {
        return rank;
    }
    match (a, b) {
        (Value::Int32(_) | Value::Int64(_), Value::Int32(_) | Value::Int64(_) | Value::Double(_))
        | (Value::Double(_), Value::Int32(_) | Value::Int64(_) | Value::Double(_)) => compare_numbers(a, b),
        (Value::Decimal(x), Value::Decimal(y)) => x.cmp(y),
        (Value::Decimal(x), y) => compare_decimal(x, y),
        (x, Value::Decimal(y)) => compare_decimal(y, x).reverse(),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::DateTime(x), Value::DateTime(y)) => x.cmp(y),
        (Value::Binary(x), Value::Binary(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
        (Value::ObjectId(x), Value::ObjectId(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => compare_seq(x.iter(), y.iter()),
        (Value::Document(x), Value::Document(y)) => compare_documents(x, y),
        (Value::Raw(tx, x), Value::Raw(ty, y)) => tx.cmp(ty).then_with(|| x.cmp(y)),
        (x, y) => match (x.as_f64(), y.as_f64()) {
            (Some(fx), Some(fy)) => compare_doubles(fx, fy),
            _ => Ordering::Equal,
        },
    }
}

/// Documents in MongoDB's order: pair by pair, the values' type classes, then the field
/// names (by bytes), then the values; a document with further pairs sorts after one without.
fn compare_documents(x: &[(String, Value)], y: &[(String, Value)]) -> Ordering {
    for ((kx, vx), (ky, vy)) in x.iter().zip(y) {
        let c = vx.type_rank().cmp(&vy.type_rank()).then_with(|| kx.as_bytes().cmp(ky.as_bytes()));
        let c = c.then_with(|| compare(vx, vy));
        if c != Ordering::Equal {
            return c;
        }
    }
    x.len().cmp(&y.len())
}

/// Integers and doubles compared exactly, as MongoDB compares them: −0.0 equals 0.0, NaN
/// equals NaN and sorts below every other number.
fn compare_numbers(a: &Value, b: &Value) -> Ordering {
    let int = |v: &Value| match v {
        Value::Int32(n) => Some(i64::from(*n)),
        Value::Int64(n) => Some(*n),
        _ => None,
    };
    match (int(a), int(b), a.as_f64(), b.as_f64()) {
        (Some(x), Some(y), ..) => x.cmp(&y),
        (Some(x), None, _, Some(y)) => compare_int_double(x, y),
        (None, Some(y), Some(x), _) => compare_int_double(y, x).reverse(),
        (_, _, Some(x), Some(y)) => compare_doubles(x, y),
        _ => Ordering::Equal,
    }
}

/// Doubles in MongoDB's order: NaN (any sign or payload) first and equal to itself, −0.0
/// equal to 0.0.
pub(crate) fn compare_doubles(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// An integer against a double, exactly (no rounding of the integer to a double).
fn compare_int_double(i: i64, f: f64) -> Ordering {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || f < -TWO_63 {
        return Ordering::Greater;
    }
    if f >= TWO_63 {
        return Ordering::Less;
    }
    // |f| < 2^63: its integer part is an exact i64.
    let t = f.trunc();
    i.cmp(&(t as i64)).then_with(|| t.partial_cmp(&f).unwrap_or(Ordering::Equal))
}

/// A decimal against an integer or a double, exactly (MongoDB compares decimal128 with the
/// other numbers by value; an f64 would round digits away).
fn compare_decimal(d: &Decimal, other: &Value) -> Ordering {
    match other {
        Value::Int32(n) => d.cmp(&Decimal::from(*n)),
        Value::Int64(n) => d.cmp(&Decimal::from(*n)),
        Value::Double(f) => compare_decimal_double(d, *f),
        _ => Ordering::Equal,
    }
}

/// A decimal against a double: integer parts first, then the fractions as exact ratios.
fn compare_decimal_double(d: &Decimal, f: f64) -> Ordering {
    // 2^96: every decimal lies strictly between its negation and it.
    const TWO_96: f64 = 79_228_162_514_264_337_593_543_950_336.0;
    if f.is_nan() || f <= -TWO_96 {
        return Ordering::Greater;
    }
    if f >= TWO_96 {
        return Ordering::Less;
    }
    let t = f.trunc();
    let whole = Decimal::from_i128_with_scale(t as i128, 0);
    let c = d.trunc().cmp(&whole);
    if c != Ordering::Equal {
        return c;
    }
    // Same integer part (so the fractions do not have opposite signs unless one is zero).
    let (df, ff) = (d.fract(), f - t);
    let sign = |neg: bool, zero: bool| {
        if zero {
            0
        } else if neg {
            -1
        } else {
            1
        }
    };
    let (sd, sf) = (sign(df.is_sign_negative(), df.is_zero()), sign(ff < 0.0, ff == 0.0));
    if sd != sf || sd == 0 {
        return sd.cmp(&sf);
    }
    let magnitude = fraction_cmp(df.mantissa().unsigned_abs(), df.scale(), ff.abs());
    if sd < 0 {
        magnitude.reverse()
    } else {
        magnitude
    }
}

/// `n / 10^s` against `x` (both in (0, 1)), exactly: with `x = m / 2^k`, compares
/// `n * 2^k` with `m * 5^s * 2^s`.
fn fraction_cmp(n: u128, s: u32, x: f64) -> Ordering {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7FF) as i32;
    let (mut m, mut k) = if exponent == 0 {
        (bits & ((1 << 52) - 1), 1074)
    } else {
        ((bits & ((1 << 52) - 1)) | (1 << 52), 1075 - exponent)
    };
    while m % 2 == 0 && k > 0 {
        m /= 2;
        k -= 1;
    }
    let (m, k, s) = (u128::from(m), k as u32, s);
    // m < 2^53 and 5^s <= 5^28 < 2^66: the right side fits before the power of two.
    let right = m * 5u128.pow(s);
    let shifted = |v: u128, by: u32| if by >= 128 { None } else { v.checked_mul(1u128 << by) };
    if k >= s {
        shifted(n, k - s).map_or(Ordering::Greater, |left| left.cmp(&right))
    } else {
        shifted(right, s - k).map_or(Ordering::Less, |right| n.cmp(&right))
    }
}

fn compare_seq<'a>(x: impl Iterator<Item = &'a Value>, y: impl Iterator<Item = &'a Value>) -> Ordering {
    let (x, y): (Vec<_>, Vec<_>) = (x.collect(), y.collect());
    for (a, b) in x.iter().zip(y.iter()) {
        let c = compare(a, b);
        if c != Ordering::Equal {
            return c;
        }
    }
    x.len().cmp(&y.len())
}

/// Values as a person reads them in messages: text quoted, numbers plain.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int32(n) => write!(f, "{n}"),
            Value::Int64(n) => write!(f, "{n}"),
            Value::Double(x) => write!(f, "{x}"),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::DateTime(d) => write!(f, "{}", d.to_rfc3339()),
            Value::Binary(b) => write!(f, "<{} bytes>", b.len()),
            Value::ObjectId(o) => write!(f, "ObjectId({o})"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Document(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Raw(ty, _) => write!(f, "<{}>", codec::type_name(*ty)),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        compare(self, other) == Ordering::Equal
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(compare(self, other))
    }
}

impl Encode for Value {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self {
            Value::Null => {
                header(out, codec::NULL, name);
                Ok(())
            }
            Value::Bool(b) => b.encode(name, out),
            Value::Int32(n) => n.encode(name, out),
            Value::Int64(n) => n.encode(name, out),
            Value::Double(f) => f.encode(name, out),
            Value::Decimal(d) => d.encode(name, out),
            Value::String(s) => s.encode(name, out),
            Value::DateTime(d) => d.encode(name, out),
            Value::Binary(b) => Blob(b.clone()).encode(name, out),
            Value::ObjectId(o) => o.encode(name, out),
            Value::Array(items) => codec::encode_seq(items.iter(), name, out),
            Value::Document(fields) => {
                header(out, codec::DOCUMENT, name);
                let start = begin_document(out);
                for (k, v) in fields {
                    v.encode(&cname(k)?, out).map_err(|e| e.with_field(k))?;
                }
                end_document(out, start)
            }
            Value::Raw(ty, bytes) => {
                header(out, *ty, name);
                out.extend_from_slice(bytes);
                Ok(())
            }
        }
    }
}

impl Decode for Value {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        // The caller (a field's or a collection's decoder) has entered this element's level
        // already: counting it again would refuse a value at exactly `MAX_DEPTH` levels.
        match ty {
            codec::ARRAY => Ok(Value::Array(
                Elements::new(value)?
                    .map(|el| el.and_then(|e| Value::from_element(e.ty, e.value)))
                    .collect::<Result<_>>()?,
            )),
            codec::DOCUMENT => Ok(Value::Document(Value::fields_of(value)?)),
            _ => Value::from_element(ty, value),
        }
    }

    fn when_missing() -> Option<Self> {
        Some(Value::Null)
    }
}

macro_rules! value_from {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Value {
                Value::$v(x.into())
            }
        }
    )*};
}

value_from!(bool => Bool, i8 => Int32, i16 => Int32, i32 => Int32, u8 => Int32, u16 => Int32,
    i64 => Int64, u32 => Int64, f32 => Double, f64 => Double, String => String, &str => String,
    Decimal => Decimal, DateTime<Utc> => DateTime, ObjectId => ObjectId, Vec<Value> => Array);

/// Bytes stored as a BSON binary (a blob field).
///
/// `Vec<u8>` is a list of small integers; use `Blob` for bytes.
///
/// ```
/// use nonrel_runtime::Blob;
/// let b = Blob::from(vec![0xde, 0xad]);
/// assert_eq!(b.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Blob(pub Vec<u8>);

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Self {
        Blob(v)
    }
}

impl std::ops::Deref for Blob {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

/// The fields of a stored document that the model does not declare, kept verbatim so that a
/// load-modify-save keeps them (declare a field of this type with `#[field(extra)]`).
///
/// Models without such a field keep unknown fields too on the embedded backend, which merges
/// them from the stored record on save; an `Extra` field makes them visible and portable.
///
/// ```
/// use nonrel_runtime::{Extra, Value};
/// let extra = Extra::default();
/// assert!(extra.is_empty());
/// assert_eq!(extra.get("legacy").unwrap(), None);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Extra {
    raw: Vec<u8>,
}

impl Extra {
    /// Whether no unknown field was kept.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Keeps one element verbatim (used by generated decoders).
    pub(crate) fn push_raw(&mut self, raw: &[u8]) {
        self.raw.extend_from_slice(raw);
    }

    /// Writes the kept elements into a document being encoded (used by generated encoders).
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.raw);
    }

    fn elements(&self) -> impl Iterator<Item = Element<'_>> {
        Elements::concatenated(&self.raw).flatten()
    }

    /// The names of the kept fields, in stored order.
    pub fn names(&self) -> Vec<String> {
        self.elements().map(|el| el.name_str().into_owned()).collect()
    }

    /// The value of a kept field.
    pub fn get(&self, name: &str) -> Result<Option<Value>> {
        for el in self.elements() {
            if el.name == name.as_bytes() {
                return Value::from_element(el.ty, el.value).map(Some);
            }
        }
        Ok(None)
    }

    /// Sets a field to keep (replacing one of the same name).
    pub fn insert(&mut self, name: &str, value: impl Into<Value>) -> Result<()> {
        let mut raw = Vec::new();
        for el in self.elements() {
            if el.name != name.as_bytes() {
                raw.extend_from_slice(el.raw);
            }
        }
        value.into().encode(&cname(name)?, &mut raw)?;
        self.raw = raw;
        Ok(())
    }
}

impl std::fmt::Debug for Extra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// A document of the given fields, in order (for tests).
#[cfg(test)]
pub(crate) fn test_document(fields: &[(&str, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = codec::begin_document(&mut out);
    for (k, v) in fields {
        v.encode(&codec::cname(k).expect("a field name"), &mut out).expect("an encodable value");
    }
    codec::end_document(&mut out, start).expect("a document within the size limit");
    out
}
