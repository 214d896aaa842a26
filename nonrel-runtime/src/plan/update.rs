//! Update operations and their application to a stored document, for backends
//! without native update operators.

use crate::core::codec::{begin_document, cname, end_document, Elements, Encode};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use rust_decimal::Decimal;

/// One atomic update operation on the records a plan matches.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateOp {
    /// Dotted path of the field (not through a list).
    pub path: std::borrow::Cow<'static, str>,
    /// What to do.
    pub kind: UpdateKind,
    /// The operand.
    pub value: Value,
}

/// The kinds of update operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// Set the field to the value.
    Set,
    /// Add the value to a number (a missing or null field counts as 0; anything else that
    /// is not a number is a `Decode` error naming the value).
    Inc,
    /// Append the value to a list (a missing field counts as empty).
    Push,
    /// Remove every element equal to the value from a list.
    Pull,
}

/// Applies operations to a stored document (for backends without update operators).
pub(crate) fn apply(doc: &[u8], ops: &[UpdateOp]) -> Result<Vec<u8>> {
    if let Some(out) = set_in_place(doc, ops)? {
        return Ok(out);
    }
    decoded(doc, ops)
}

/// [`apply`] through the decoded document: every field read into a [`Value`], the operations
/// applied, every field written again.
fn decoded(doc: &[u8], ops: &[UpdateOp]) -> Result<Vec<u8>> {
    let mut fields = Value::fields_of(doc)?;
    for op in ops {
        let segments: Vec<&str> = op.path.split('.').collect();
        apply_at(&mut fields, &segments, op).map_err(|e| e.with_field(&op.path))?;
    }
    let mut out = Vec::with_capacity(doc.len() + 16);
    let start = begin_document(&mut out);
    for (k, v) in &fields {
        v.encode(&cname(k)?, &mut out)?;
    }
    end_document(&mut out, start)?;
    Ok(out)
}

/// [`apply`] for the common update: every operation sets a top-level field. The other
/// fields' bytes are copied as they are, where `apply` decodes every field and encodes it
/// again; taken only when that gives the same bytes (`None` otherwise: decode them).
fn set_in_place(doc: &[u8], ops: &[UpdateOp]) -> Result<Option<Vec<u8>>> {
    if ops.is_empty() || ops.iter().any(|op| op.kind != UpdateKind::Set || op.path.contains('.')) {
        return Ok(None);
    }
    // A path set twice takes its last value, in the place of its first.
    let last = |path: &str| ops.iter().rev().find(|op| op.path == path).map(|op| &op.value);
    let mut placed = vec![false; ops.len()];
    let mut out = Vec::with_capacity(doc.len() + 16);
    let start = begin_document(&mut out);
    for el in Elements::new(doc)? {
        let el = el?;
        let Ok(name) = std::str::from_utf8(el.name) else { return Ok(None) };
        if !round_trips(el.ty, el.value, 0) {
            return Ok(None);
        }
        match ops.iter().position(|op| op.path == name) {
            Some(i) if !placed[i] => {
                for (j, op) in ops.iter().enumerate() {
                    placed[j] |= op.path == ops[i].path;
                }
                let value = last(&ops[i].path).expect("the path is set");
                value.encode(&cname(&ops[i].path)?, &mut out)?;
            }
            _ => out.extend_from_slice(el.raw),
        }
    }
    for (i, op) in ops.iter().enumerate() {
        if !placed[i] {
            for (j, other) in ops.iter().enumerate() {
                placed[j] |= other.path == op.path;
            }
            last(&op.path).expect("the path is set").encode(&cname(&op.path)?, &mut out)?;
        }
    }
    end_document(&mut out, start)?;
    Ok(Some(out))
}

/// Whether reading a value into a [`Value`] and writing it again gives back its bytes,
/// known without building the value (`false`: not known to; documents and lists are
/// checked a few levels deep).
fn round_trips(ty: u8, value: &[u8], depth: usize) -> bool {
    use crate::core::codec::{self, Decode};
    match ty {
        codec::NULL => true,
        codec::OBJECT_ID => crate::core::key::ObjectId::decode(ty, value).is_ok(),
        codec::INT32 => i32::decode(ty, value).is_ok(),
        codec::INT64 => i64::decode(ty, value).is_ok(),
        codec::DOUBLE => f64::decode(ty, value).is_ok(),
        codec::BOOL => bool::decode(ty, value).is_ok(),
        codec::STRING => codec::read_str(ty, value).is_ok(),
        codec::DATETIME => chrono::DateTime::<chrono::Utc>::decode(ty, value).is_ok(),
        codec::ARRAY | codec::DOCUMENT if depth < 4 => {
            let Ok(elements) = Elements::new(value) else { return false };
            for (i, el) in elements.enumerate() {
                let Ok(el) = el else { return false };
                // A list's elements are named by their position, as it is written again.
                let named = if ty == codec::ARRAY {
                    let at = codec::IndexName::new(i);
                    el.name == &at.as_bytes()[..at.as_bytes().len() - 1]
                } else {
                    std::str::from_utf8(el.name).is_ok()
                };
                if !named || !round_trips(el.ty, el.value, depth + 1) {
                    return false;
                }
            }
            true
        }
        _ => false,
    }
}

fn apply_at(fields: &mut Vec<(String, Value)>, segments: &[&str], op: &UpdateOp) -> Result<()> {
    let (first, rest) = segments.split_first().expect("paths have a segment");
    let slot = match fields.iter().position(|(k, _)| k == first) {
        Some(i) => &mut fields[i].1,
        None => {
            fields.push((first.to_string(), Value::Null));
            &mut fields.last_mut().expect("just pushed").1
        }
    };
    if rest.is_empty() {
        return apply_value(slot, op);
    }
    match slot {
        Value::Document(inner) => apply_at(inner, rest, op),
        Value::Null => {
            *slot = Value::Document(Vec::new());
            let Value::Document(inner) = slot else { unreachable!("just set") };
            apply_at(inner, rest, op)
        }
        other => Err(Error::new(ErrorKind::Unsupported, format!("cannot update inside a {}", kind_of(other)))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    crate::core::codec::type_name(v.bson_type())
}

fn apply_value(slot: &mut Value, op: &UpdateOp) -> Result<()> {
    match op.kind {
        UpdateKind::Set => *slot = op.value.clone(),
        UpdateKind::Inc => *slot = add(slot, &op.value)?,
        UpdateKind::Push => match slot {
            Value::Array(items) => items.push(op.value.clone()),
            Value::Null => *slot = Value::Array(vec![op.value.clone()]),
            other => return Err(Error::new(ErrorKind::Unsupported, format!("cannot push to a {}", kind_of(other)))),
        },
        UpdateKind::Pull => match slot {
            Value::Array(items) => items.retain(|x| x != &op.value),
            Value::Null => {}
            other => return Err(Error::new(ErrorKind::Unsupported, format!("cannot pull from a {}", kind_of(other)))),
        },
    }
    Ok(())
}

/// `a + b` with MongoDB's `$inc` promotions: a null (or missing) `a` counts as 0, int32
/// overflow widens to int64, any double makes a double, any decimal a decimal; int64
/// overflow is an error, and so is an `a` that is not a number.
pub(crate) fn add(a: &Value, b: &Value) -> Result<Value> {
    let overflow = || Error::new(ErrorKind::Encode, format!("{a} + {b} overflows a 64-bit integer"));
    Ok(match (a, b) {
        (Value::Null, b) => b.clone(),
        (Value::Int32(x), Value::Int32(y)) => {
            x.checked_add(*y).map_or(Value::Int64(*x as i64 + *y as i64), Value::Int32)
        }
        (Value::Int32(x), Value::Int64(y)) | (Value::Int64(y), Value::Int32(x)) => {
            Value::Int64(y.checked_add(*x as i64).ok_or_else(overflow)?)
        }
        (Value::Int64(x), Value::Int64(y)) => Value::Int64(x.checked_add(*y).ok_or_else(overflow)?),
        (Value::Decimal(x), y) | (y, Value::Decimal(x)) => {
            let y = decimal_of(y).ok_or_else(|| not_a_number(a, b))?;
            Value::Decimal(x.checked_add(y).ok_or_else(overflow)?)
        }
        (x, y) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => Value::Double(x + y),
            _ => return Err(not_a_number(a, b)),
        },
    })
}

fn decimal_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::Decimal(d) => Some(*d),
        Value::Int32(n) => Some(Decimal::from(*n)),
        Value::Int64(n) => Some(Decimal::from(*n)),
        Value::Double(f) => Decimal::try_from(*f).ok(),
        _ => None,
    }
}

/// `inc` of a stored value that is not a number: the stored document does not have the
/// shape the model expects. The value is shown, cut to a readable length.
fn not_a_number(stored: &Value, by: &Value) -> Error {
    const SHOWN: usize = 64;
    let mut shown = stored.to_string();
    if shown.len() > SHOWN {
        let cut = (0..=SHOWN).rev().find(|&i| shown.is_char_boundary(i)).unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    Error::new(ErrorKind::Decode, format!("cannot add {by} to the stored {} {shown}: not a number", kind_of(stored)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::codec::header;

    use crate::core::value::test_document as doc;

    fn set(path: &'static str, value: Value) -> UpdateOp {
        UpdateOp { path: path.into(), kind: UpdateKind::Set, value }
    }

    /// Setting top-level fields in place gives the bytes the decoding path gives, or leaves
    /// the document to it: over documents of every value type (lists, embedded documents,
    /// decimals, dates, verbatim BSON types) and sets of present, missing and repeated paths.
    #[test]
    fn setting_in_place_gives_the_decoded_bytes() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int32(-7),
            Value::Int64(1 << 40),
            Value::Double(f64::NAN),
            Value::Double(-0.0),
            Value::String("héllo".into()),
            Value::DateTime(chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap()),
            Value::Decimal(Decimal::new(12345, 3)),
            Value::Binary(vec![1, 2, 3]),
            Value::Array(vec![Value::from("a"), Value::Int64(2), Value::Array(vec![])]),
            Value::Document(vec![("x".into(), Value::Int32(1)), ("y".into(), Value::Decimal(Decimal::ONE))]),
            Value::Raw(0x11, vec![1, 0, 0, 0, 2, 0, 0, 0]),
        ];
        let op_sets: Vec<Vec<UpdateOp>> = vec![
            vec![set("b", Value::Int64(5))],
            vec![set("z", Value::from("new"))],
            vec![set("a", Value::Null), set("c", Value::Bool(false))],
            vec![set("b", Value::Int64(1)), set("b", Value::Int64(2))],
            vec![set("z", Value::Int64(1)), set("a", Value::Int64(2)), set("z", Value::Int64(3))],
            vec![set("b", Value::Array(vec![Value::Double(1.5)]))],
        ];
        let mut in_place = 0;
        for a in &values {
            for b in &values {
                let d = doc(&[("a", a.clone()), ("b", b.clone()), ("c", Value::from("k")), ("b", Value::Int32(9))]);
                for ops in &op_sets {
                    let want = decoded(&d, ops).unwrap();
                    if let Some(got) = set_in_place(&d, ops).unwrap() {
                        assert_eq!(got, want, "a = {a:?}, b = {b:?}, ops = {ops:?}");
                        in_place += 1;
                    }
                    assert_eq!(apply(&d, ops).unwrap(), want);
                }
            }
        }
        assert!(in_place > 0, "the common documents take the path in place");
    }

    /// An operation other than a top-level set, and a stored list not named by position,
    /// take the decoding path.
    #[test]
    fn other_updates_are_decoded() {
        let d = doc(&[("a", Value::Int64(1)), ("b", Value::Document(vec![("x".into(), Value::Int64(2))]))]);
        assert!(set_in_place(&d, &[set("b.x", Value::Int64(3))]).unwrap().is_none());
        let inc = UpdateOp { path: "a".into(), kind: UpdateKind::Inc, value: Value::Int64(1) };
        assert!(set_in_place(&d, &[inc]).unwrap().is_none());
        // A list whose elements are named "1", "0": written again as "0", "1".
        let mut list = Vec::new();
        let start = begin_document(&mut list);
        Value::Int64(1).encode(b"1\0", &mut list).unwrap();
        Value::Int64(2).encode(b"0\0", &mut list).unwrap();
        end_document(&mut list, start).unwrap();
        let mut d = Vec::new();
        let start = begin_document(&mut d);
        header(&mut d, crate::core::codec::ARRAY, b"l\0");
        d.extend_from_slice(&list);
        end_document(&mut d, start).unwrap();
        let ops = [set("a", Value::Int64(1))];
        assert!(set_in_place(&d, &ops).unwrap().is_none());
        assert_eq!(apply(&d, &ops).unwrap(), decoded(&d, &ops).unwrap());
    }
}
