//! Order-preserving byte encodings of values, for index keys.
//!
//! Within a type class the bytes sort like the values (MongoDB's order): numbers of every
//! width and doubles together, text by bytes, dates by time. Documents and lists are
//! encoded for equality only.

use crate::core::value::Value;

const MIN_KEY: u8 = 0x01;
const NULL: u8 = 0x05;
pub(crate) const NUMBER: u8 = 0x10;
pub(crate) const DECIMAL: u8 = 0x12;
const STRING: u8 = 0x20;
const DOCUMENT: u8 = 0x30;
const ARRAY: u8 = 0x40;
const BINARY: u8 = 0x50;
const OBJECT_ID: u8 = 0x60;
const BOOL: u8 = 0x70;
pub(crate) const DATETIME: u8 = 0x80;
const OTHER: u8 = 0x90;
const MAX_KEY: u8 = 0xF0;

/// The first byte of every value of `v`'s type class.
pub fn class_tag(v: &Value) -> u8 {
    match v {
        Value::Raw(0xFF, _) => MIN_KEY,
        Value::Null => NULL,
        Value::Int32(_) | Value::Int64(_) | Value::Double(_) => NUMBER,
        Value::Decimal(_) => DECIMAL,
        Value::String(_) => STRING,
        Value::Document(_) => DOCUMENT,
        Value::Array(_) => ARRAY,
        Value::Binary(_) => BINARY,
        Value::ObjectId(_) => OBJECT_ID,
        Value::Bool(_) => BOOL,
        Value::DateTime(_) => DATETIME,
        Value::Raw(0x7F, _) => MAX_KEY,
        Value::Raw(..) => OTHER,
    }
}

/// The same number in the other numeric type class (a decimal for an integer or a double, an
/// integer or a double for a decimal), if one holds it exactly. Decimals keep a class of their
/// own in index keys, so an equality lookup reads both classes where the index holds both.
pub fn other_class(v: &Value) -> Option<Value> {
    use rust_decimal::prelude::ToPrimitive;
    let found = match v {
        Value::Int32(n) => Value::Decimal((*n).into()),
        Value::Int64(n) => Value::Decimal((*n).into()),
        Value::Double(f) => Value::Decimal(rust_decimal::Decimal::from_f64_retain(*f)?),
        Value::Decimal(d) => match d.to_i64().filter(|_| d.fract().is_zero()) {
            Some(n) => Value::Int64(n),
            None => Value::Double(d.to_f64()?),
        },
        _ => return None,
    };
    (crate::core::value::compare(v, &found) == std::cmp::Ordering::Equal).then_some(found)
}

/// Whether the encodings of `v`'s type class sort like the values (documents, lists and the
/// rarer types are encoded for equality only, so an index cannot serve a range on them).
pub fn ordered_class(v: &Value) -> bool {
    !matches!(v, Value::Document(_) | Value::Array(_) | Value::Raw(..))
}

/// Appends the order-preserving encoding of `v`.
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    out.push(class_tag(v));
    match v {
        Value::Null => {}
        Value::Int32(n) => number(*n as f64, *n as i128, out),
        Value::Int64(n) => number(*n as f64, *n as i128, out),
        Value::Double(f) => number(*f, 0, out),
        Value::Decimal(d) => decimal(d, out),
        Value::String(s) => escaped(s.as_bytes(), out),
        Value::Binary(b) => {
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
        Value::ObjectId(o) => out.extend_from_slice(&o.bytes()),
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::DateTime(d) => out.extend_from_slice(&flip(d.timestamp_millis())),
        Value::Document(_) | Value::Array(_) | Value::Raw(..) => {
            let mut bson = Vec::new();
            let _ = crate::core::codec::Encode::encode(v, b"\0", &mut bson);
            escaped(&bson, out);
        }
    }
}

fn flip(n: i64) -> [u8; 8] {
    ((n as u64) ^ (1 << 63)).to_be_bytes()
}

/// A double's order key, then the integer's distance from it (0 for doubles), so that
/// large integers that share a double still sort exactly. As on MongoDB, −0.0 is 0.0, and
/// every NaN is one value below every other number.
fn number(f: f64, exact: i128, out: &mut Vec<u8>) {
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    let key = if f.is_nan() {
        0
    } else if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    out.extend_from_slice(&key.to_be_bytes());
    let residual = if exact == 0 { 0 } else { (exact - f as i128) as i64 };
    out.extend_from_slice(&flip(residual));
}

/// Sign, then the decimal exponent, then the significant digits.
fn decimal(d: &rust_decimal::Decimal, out: &mut Vec<u8>) {
    let d = d.normalize();
    if d.is_zero() {
        out.push(0x81);
        return;
    }
    let digits = d.mantissa().unsigned_abs().to_string();
    let exponent = (digits.len() as i32 - d.scale() as i32 + 64) as u8;
    let digits = digits.trim_end_matches('0');
    if d.is_sign_negative() {
        out.push(0x80);
        out.push(255 - exponent);
        out.extend(digits.bytes().map(|b| 255 - b));
        out.push(0xFF);
    } else {
        out.push(0x82);
        out.push(exponent);
        out.extend_from_slice(digits.as_bytes());
        out.push(0x00);
    }
}

/// Bytes with 0x00 escaped as 0x00 0xFF and a 0x00 0x00 terminator: sorts like the bytes,
/// and a prefix's escaping is a prefix of the escaping of every string it starts.
fn escaped(bytes: &[u8], out: &mut Vec<u8>) {
    escaped_prefix(bytes, out);
    out.extend_from_slice(&[0, 0]);
}

/// Appends the escaping of `bytes` without the terminator: a prefix of the encoding of every
/// string that starts with `bytes` (after the string class tag).
pub fn escaped_prefix(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

/// Appends the encoding of a text value: [`encode`] of `Value::String(s)`, without
/// the `String` it would take to build one.
pub(crate) fn encode_str(s: &str, out: &mut Vec<u8>) {
    out.push(STRING);
    escaped(s.as_bytes(), out);
}

/// The length of the one encoded value at the start of `bytes`, as [`encode`] writes it,
/// or `None` when `bytes` does not start with a whole one. (Index entry keys are a value's
/// encoding followed by the record key: this finds where the record key starts.)
pub(crate) fn encoded_len(bytes: &[u8]) -> Option<usize> {
    let (&tag, rest) = bytes.split_first()?;
    let body = match tag {
        NULL => 0,
        NUMBER => 16,
        BOOL => 1,
        DATETIME => 8,
        OBJECT_ID => 12,
        BINARY => 4 + u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize,
        // Zero alone; else the sign, the exponent, the digits (never 0x00 or 0xFF) and a
        // terminator: 0xFF after a negative's, 0x00 after a positive's.
        DECIMAL => match *rest.first()? {
            0x81 => 1,
            0x80 => 2 + rest.get(2..)?.iter().position(|&b| b == 0xFF)? + 1,
            0x82 => 2 + rest.get(2..)?.iter().position(|&b| b == 0x00)? + 1,
            _ => return None,
        },
        // Escaped bytes up to the 0x00 0x00 terminator (text, BSON of documents, lists and
        // the other types, MinKey and MaxKey among them).
        STRING | DOCUMENT | ARRAY | OTHER | MIN_KEY | MAX_KEY => {
            let mut i = 0;
            loop {
                match (rest.get(i)?, rest.get(i + 1)) {
                    (0, Some(0)) => break i + 2,
                    (0, Some(0xFF)) => i += 2,
                    (0, _) => return None,
                    _ => i += 1,
                }
            }
        }
        _ => return None,
    };
    (body <= rest.len()).then_some(1 + body)
}

/// The encoding of `v` as a fresh buffer.
pub fn encoded(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    encode(v, &mut out);
    out
}

/// The smallest byte string greater than every string starting with `prefix`.
pub fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xFF {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    #[test]
    fn encoded_len_finds_where_each_value_ends() {
        let inner = Value::Document(vec![("a".into(), Value::String("x\0y".into()))]);
        let values = [
            Value::Null,
            Value::Raw(0xFF, Vec::new()),
            Value::Raw(0x7F, Vec::new()),
            Value::Raw(0x0D, b"\x02\0\0\0x\0".to_vec()),
            Value::Int32(-7),
            Value::Int64(i64::MAX),
            Value::Double(f64::NAN),
            Value::Decimal(Decimal::ZERO),
            Value::Decimal(Decimal::from_str("-120.5").unwrap()),
            Value::Decimal(Decimal::from_str("0.0000001").unwrap()),
            Value::Decimal(Decimal::MAX),
            Value::Decimal(Decimal::MIN),
            Value::String(String::new()),
            Value::String("\0\0\u{ff}".into()),
            Value::Binary(vec![0, 0, 0xFF]),
            Value::Binary(Vec::new()),
            Value::ObjectId(crate::core::key::ObjectId::new()),
            Value::Bool(false),
            Value::DateTime(chrono::DateTime::from_timestamp_millis(0).unwrap()),
            Value::Array(vec![inner.clone(), Value::Null]),
            Value::Array(Vec::new()),
            inner,
        ];
        let suffixes: [&[u8]; 4] = [b"", b"\x01\0\0\0\0\0\0\0\x07", b"\x02\0\0", b"\xFF"];
        for v in &values {
            let e = encoded(v);
            for s in suffixes {
                let mut bytes = e.clone();
                bytes.extend_from_slice(s);
                assert_eq!(encoded_len(&bytes), Some(e.len()), "{v:?} then {s:?}");
            }
            // Cut short, it is not a whole value.
            assert_eq!(encoded_len(&e[..e.len() - 1]), None, "{v:?} cut short");
        }
        assert_eq!(encoded_len(b""), None);
        assert_eq!(encoded_len(&[0x33]), None);
    }

    fn assert_sorted(values: &[Value]) {
        for w in values.windows(2) {
            assert!(encoded(&w[0]) < encoded(&w[1]), "{:?} < {:?}", w[0], w[1]);
        }
    }

    #[test]
    fn numbers_sort_across_widths() {
        let big = (1i64 << 53) + 1;
        assert_sorted(&[
            Value::Double(f64::NEG_INFINITY),
            Value::Int64(i64::MIN),
            Value::Int32(-5),
            Value::Double(-0.5),
            Value::Int32(0),
            Value::Double(0.25),
            Value::Int64(1 << 53),
            Value::Int64(big),
            Value::Int64(i64::MAX),
        ]);
        assert_eq!(encoded(&Value::Int32(7)), encoded(&Value::Int64(7)));
        assert_eq!(encoded(&Value::Double(-0.0)), encoded(&Value::Int32(0)));
        assert_sorted(&[Value::Null, Value::Double(f64::NAN), Value::Double(f64::NEG_INFINITY)]);
        assert_eq!(encoded(&Value::Double(-f64::NAN)), encoded(&Value::Double(f64::NAN)));
    }

    #[test]
    fn number_encodings_order_like_values() {
        // The index order and the in-memory comparison must agree on every pair.
        let mut values: Vec<Value> = [f64::NAN, -f64::NAN, f64::NEG_INFINITY, -1.5, -0.0, 0.0, 1e-300, 0.5, 2.0]
            .into_iter()
            .chain([f64::INFINITY, i64::MAX as f64, i64::MIN as f64, (1u64 << 53) as f64 + 2.0])
            .map(Value::Double)
            .collect();
        values.extend([i64::MIN, -2, 0, 1, 2, 9007199254740993, i64::MAX].map(Value::Int64));
        values.extend([-1, 0, 2].map(Value::Int32));
        for a in &values {
            for b in &values {
                let want = crate::core::value::compare(a, b);
                assert_eq!(encoded(a).cmp(&encoded(b)), want, "{a:?} against {b:?}");
            }
        }
    }

    #[test]
    fn decimals_text_and_dates_sort() {
        let d = |s| Value::Decimal(Decimal::from_str(s).unwrap());
        assert_sorted(&[d("-10.5"), d("-0.125"), d("-0.12"), d("0"), d("0.12"), d("0.125"), d("3"), d("12.5")]);
        assert_eq!(encoded(&d("1.50")), encoded(&d("1.5")));
        let s = |s: &str| Value::String(s.into());
        assert_sorted(&[s(""), s("a"), s("a\0"), s("a\0b"), s("ab"), s("b")]);
        let mut prefix = vec![STRING];
        escaped_prefix(b"a", &mut prefix);
        assert!(encoded(&s("ab")).starts_with(&prefix));
    }
}
