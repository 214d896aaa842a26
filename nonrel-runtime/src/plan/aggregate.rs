//! Aggregates over a query's records, as a backend sees them: what to compute per group
//! ([`Aggregate`]), how records group and which groups come back ([`Grouping`]), one
//! [`GroupRow`] per group; and their meaning in memory ([`Accumulator`]), which the
//! runtime's fallback and stores that compute in their own pass share.
//!
//! The semantics are MongoDB's `$group`: a missing or null value is skipped by sums, counts
//! of values, minimums and maximums; a record missing a group field groups under null. Sums
//! of integers are exact 64-bit sums, an overflow being an error rather than a wrapped or
//! rounded number.

use super::query::Direction;
use crate::core::codec::{self, Decode, Elements, Encode};
use crate::core::value::{compare, Value};
use crate::error::{Error, ErrorKind, Result};
use std::borrow::Cow;
use std::cmp::Ordering;

/// What a sum adds up: integers (an exact 64-bit sum) or floating-point numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberKind {
    /// Integers: `Int32` and `Int64` values, summed exactly into an `Int64`; a sum past the
    /// 64-bit range is an error.
    Int,
    /// Floating-point numbers: every number, summed as `f64` into a `Double`.
    Float,
}

/// One value computed per group.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// The records in the group (`Int64`).
    Records,
    /// The numbers at the path, summed (`Int64` or `Double` by the kind; `0` when none).
    Total(Cow<'static, str>, NumberKind),
    /// How many records hold a number at the path (`Int64`): an average's divisor.
    Numbers(Cow<'static, str>),
    /// The smallest value at the path in MongoDB's order, null and missing values skipped
    /// (`Null` when none).
    Least(Cow<'static, str>),
    /// The largest value at the path (see [`Aggregate::Least`]).
    Greatest(Cow<'static, str>),
}

impl Aggregate {
    /// The path it reads, if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            Aggregate::Records => None,
            Aggregate::Total(p, _) | Aggregate::Numbers(p) | Aggregate::Least(p) | Aggregate::Greatest(p) => Some(p),
        }
    }

    /// Its value over no records.
    pub fn empty(&self) -> Value {
        match self {
            Aggregate::Records | Aggregate::Numbers(_) => Value::Int64(0),
            Aggregate::Total(_, NumberKind::Int) => Value::Int64(0),
            Aggregate::Total(_, NumberKind::Float) => Value::Double(0.0),
            Aggregate::Least(_) | Aggregate::Greatest(_) => Value::Null,
        }
    }
}

/// What groups are ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupTerm {
    /// The group key's value at this position.
    ByKey(usize),
    /// The aggregate at this position.
    ByValue(usize),
    /// The average: the sum at the first position divided by the count of numbers at the
    /// second (null, sorting first, when there are none).
    ByAverage(usize, usize),
}

/// One ordering term on groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupOrder {
    /// What is compared.
    pub term: GroupTerm,
    /// Ascending or descending.
    pub direction: Direction,
}

/// How a query's records group and which groups come back: groups ordered by `order`, then
/// by their key ascending, at most `limit` of them. With no keys, every record is in one
/// group, and no records give no group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grouping {
    /// The paths whose values make a group's key.
    pub keys: Vec<Cow<'static, str>>,
    /// The values computed per group.
    pub aggregates: Vec<Aggregate>,
    /// Ordering terms on the groups.
    pub order: Vec<GroupOrder>,
    /// Most groups returned.
    pub limit: Option<usize>,
}

impl Grouping {
    /// The top-level fields a document needs for this grouping (for a projection).
    pub fn fields(&self) -> Vec<String> {
        let paths = self.keys.iter().map(|k| k.as_ref()).chain(self.aggregates.iter().filter_map(Aggregate::path));
        let mut names: Vec<String> = paths.map(super::query::top_level).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// One group: its key (a value per key path; null for a missing one) and its aggregates, in
/// the order the [`Grouping`] names them.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    /// The key's values.
    pub key: Vec<Value>,
    /// The aggregates' values.
    pub values: Vec<Value>,
}

/// The value a record holds at a path for grouping and aggregating: null when missing, the
/// one value, or a list of the values found through lists.
pub fn value_at(doc: &[u8], path: &str) -> Result<Value> {
    if !path.contains('.') {
        // A top-level field: its one element, read where it stands.
        for el in Elements::new(doc)? {
            let el = el?;
            if el.name == path.as_bytes() {
                return Value::from_element(el.ty, el.value);
            }
        }
        return Ok(Value::Null);
    }
    let mut found = super::eval::values_at(doc, path)?;
    Ok(match found.len() {
        0 => Value::Null,
        1 => found.pop().unwrap_or(Value::Null),
        _ => Value::Array(found),
    })
}

/// One group's running state.
#[derive(Debug, Clone)]
enum Acc {
    Count(i64),
    IntSum(i128),
    FloatSum(f64),
    Numbers(i64),
    Min(Option<Value>),
    Max(Option<Value>),
}

/// The aggregates of a grouping, computed from documents in one pass: feed each matching
/// record's document, then [`finish`](Self::finish).
///
/// ```
/// use nonrel_runtime::query::aggregate::{Accumulator, Aggregate, Grouping, NumberKind};
/// use nonrel_runtime::Value;
///
/// let grouping = Grouping { aggregates: vec![Aggregate::Records, Aggregate::Total("n".into(), NumberKind::Int)], ..Grouping::default() };
/// let mut acc = Accumulator::new(&grouping);
/// // {n: 2}
/// acc.add(&[12, 0, 0, 0, 0x10, b'n', 0, 2, 0, 0, 0, 0]).unwrap();
/// let rows = acc.finish().unwrap();
/// assert_eq!(rows[0].values, [Value::Int64(1), Value::Int64(2)]);
/// ```
pub struct Accumulator<'g> {
    grouping: &'g Grouping,
    groups: std::collections::HashMap<KeyBytes, (Vec<Value>, Vec<Acc>)>,
    /// The one group of an ungrouped aggregate, once a record came: no key to hash.
    single: Option<Vec<Acc>>,
}

/// A group key, hashable: its values encoded as one document.
type KeyBytes = Vec<u8>;

impl<'g> Accumulator<'g> {
    /// An accumulator with no records yet.
    pub fn new(grouping: &'g Grouping) -> Self {
        Accumulator { grouping, groups: std::collections::HashMap::new(), single: None }
    }

    /// Adds one record's document.
    pub fn add(&mut self, doc: &[u8]) -> Result<()> {
        let aggregates = &self.grouping.aggregates;
        let accs = if self.grouping.keys.is_empty() {
            // One group: no key to compute, encode or hash.
            self.single.get_or_insert_with(|| aggregates.iter().map(start).collect())
        } else {
            let key: Vec<Value> = self.grouping.keys.iter().map(|k| value_at(doc, k)).collect::<Result<_>>()?;
            let bytes = key_bytes(&key)?;
            &mut self.groups.entry(bytes).or_insert_with(|| (key, aggregates.iter().map(start).collect())).1
        };
        // Each path is read once, however many aggregates read it (a sum and an average),
        // and lent to each: only a new least or greatest value is copied.
        let mut read: Option<(&str, Value)> = None;
        for (acc, agg) in accs.iter_mut().zip(aggregates) {
            let value = match agg.path() {
                Some(p) => {
                    if !matches!(&read, Some((at, _)) if *at == p) {
                        read = Some((p, value_at(doc, p)?));
                    }
                    match &read {
                        Some((_, v)) => v,
                        None => &Value::Null,
                    }
                }
                None => &Value::Null,
            };
            feed(acc, value).map_err(|e| match agg.path() {
                Some(p) => e.with_field(p),
                None => e,
            })?;
        }
        Ok(())
    }

    /// The groups, ordered and limited as the grouping says. An integer sum past the 64-bit
    /// range is an error naming the field.
    pub fn finish(self) -> Result<Vec<GroupRow>> {
        let aggregates = &self.grouping.aggregates;
        let mut rows = Vec::with_capacity(self.groups.len() + 1);
        let single = self.single.map(|accs| (Vec::new(), accs));
        for (key, accs) in self.groups.into_values().chain(single) {
            let values = accs.into_iter().zip(aggregates).map(|(acc, agg)| {
                end(acc).map_err(|e| match agg.path() {
                    Some(p) => e.with_field(p),
                    None => e,
                })
            });
            rows.push(GroupRow { key, values: values.collect::<Result<_>>()? });
        }
        Ok(order_groups(rows, self.grouping))
    }
}

fn start(agg: &Aggregate) -> Acc {
    match agg {
        Aggregate::Records => Acc::Count(0),
        Aggregate::Total(_, NumberKind::Int) => Acc::IntSum(0),
        Aggregate::Total(_, NumberKind::Float) => Acc::FloatSum(0.0),
        Aggregate::Numbers(_) => Acc::Numbers(0),
        Aggregate::Least(_) => Acc::Min(None),
        Aggregate::Greatest(_) => Acc::Max(None),
    }
}

/// The error of an integer sum past the 64-bit range.
pub fn overflow() -> Error {
    Error::new(ErrorKind::Encode, "the sum of its values does not fit a 64-bit signed integer")
}

fn feed(acc: &mut Acc, v: &Value) -> Result<()> {
    match acc {
        Acc::Count(n) => *n += 1,
        Acc::IntSum(s) => {
            let add = match *v {
                Value::Int32(n) => i64::from(n),
                Value::Int64(n) => n,
                _ => return Ok(()),
            };
            // Kept wide: the sum must fit only at the end, whatever order the values come in.
            *s += i128::from(add);
        }
        Acc::FloatSum(s) => {
            if let Some(f) = number(v) {
                *s += f;
            }
        }
        Acc::Numbers(n) => *n += i64::from(number(v).is_some()),
        Acc::Min(m) => {
            if !matches!(v, Value::Null) && m.as_ref().is_none_or(|m| compare(v, m) == Ordering::Less) {
                *m = Some(v.clone());
            }
        }
        Acc::Max(m) => {
            if !matches!(v, Value::Null) && m.as_ref().is_none_or(|m| compare(v, m) == Ordering::Greater) {
                *m = Some(v.clone());
            }
        }
    }
    Ok(())
}

/// A number's value as `f64` (lists and other types are not numbers).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int32(_) | Value::Int64(_) | Value::Double(_) | Value::Decimal(_) => v.as_f64(),
        _ => None,
    }
}

fn end(acc: Acc) -> Result<Value> {
    Ok(match acc {
        Acc::Count(n) | Acc::Numbers(n) => Value::Int64(n),
        Acc::IntSum(n) => Value::Int64(i64::try_from(n).map_err(|_| overflow())?),
        Acc::FloatSum(f) => Value::Double(f),
        Acc::Min(v) | Acc::Max(v) => v.unwrap_or(Value::Null),
    })
}

fn key_bytes(key: &[Value]) -> Result<KeyBytes> {
    let mut out = Vec::new();
    for v in key {
        // Numbers equal across types group together, as on MongoDB.
        let v = match v {
            Value::Int32(n) => Value::Double(f64::from(*n)),
            Value::Int64(n) if (*n as f64) as i64 == *n => Value::Double(*n as f64),
            other => other.clone(),
        };
        crate::core::order::encode(&v, &mut out);
        out.push(0);
    }
    Ok(out)
}

/// A group's value for an ordering term.
fn term_value(row: &GroupRow, term: GroupTerm) -> Value {
    match term {
        GroupTerm::ByKey(i) => row.key.get(i).cloned().unwrap_or(Value::Null),
        GroupTerm::ByValue(i) => row.values.get(i).cloned().unwrap_or(Value::Null),
        GroupTerm::ByAverage(s, n) => average(row.values.get(s), row.values.get(n)).map_or(Value::Null, Value::Double),
    }
}

/// The average from a sum and a count of numbers, `None` when there are no numbers.
pub fn average(sum: Option<&Value>, numbers: Option<&Value>) -> Option<f64> {
    let n = match numbers? {
        Value::Int64(n) if *n > 0 => *n as f64,
        Value::Int32(n) if *n > 0 => f64::from(*n),
        _ => return None,
    };
    Some(number(sum?)? / n)
}

/// Groups ordered by the grouping's terms then by key ascending, limited.
pub fn order_groups(mut rows: Vec<GroupRow>, grouping: &Grouping) -> Vec<GroupRow> {
    let by_key = |a: &GroupRow, b: &GroupRow| {
        a.key.iter().zip(&b.key).map(|(x, y)| compare(x, y)).find(|o| *o != Ordering::Equal).unwrap_or(Ordering::Equal)
    };
    rows.sort_by(|a, b| {
        for o in &grouping.order {
            let c = compare(&term_value(a, o.term), &term_value(b, o.term));
            let c = if o.direction == Direction::Desc { c.reverse() } else { c };
            if c != Ordering::Equal {
                return c;
            }
        }
        by_key(a, b)
    });
    if let Some(l) = grouping.limit {
        rows.truncate(l);
    }
    rows
}

/// A value decoded as the Rust type `T`, through its stored encoding (so it reads exactly
/// as a field of type `T` would).
pub fn decode_value<T: Decode>(v: &Value) -> Result<T> {
    let mut doc = Vec::with_capacity(32);
    let start = codec::begin_document(&mut doc);
    v.encode(b"v\0", &mut doc)?;
    codec::end_document(&mut doc, start)?;
    let el = Elements::new(&doc)?.next().ok_or_else(|| Error::new(ErrorKind::Decode, "value wrote no element"))??;
    if matches!(el.ty, codec::DOCUMENT | codec::ARRAY) {
        codec::nested(|| T::decode(el.ty, el.value))
    } else {
        T::decode(el.ty, el.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::core::value::test_document as doc;

    #[test]
    fn integer_sums_overflow_as_errors() {
        let g = Grouping { aggregates: vec![Aggregate::Total("n".into(), NumberKind::Int)], ..Grouping::default() };
        let mut acc = Accumulator::new(&g);
        acc.add(&doc(&[("n", Value::Int64(i64::MAX))])).unwrap();
        acc.add(&doc(&[("n", Value::Int64(1))])).unwrap();
        let e = acc.finish().unwrap_err();
        assert!(e.to_string().contains('n'), "{e}");
    }

    #[test]
    fn missing_and_null_values_are_skipped_and_group_together() {
        let g = Grouping {
            keys: vec!["k".into()],
            aggregates: vec![Aggregate::Records, Aggregate::Least("n".into()), Aggregate::Numbers("n".into())],
            ..Grouping::default()
        };
        let mut acc = Accumulator::new(&g);
        acc.add(&doc(&[("k", Value::Null), ("n", Value::Null)])).unwrap();
        acc.add(&doc(&[("n", Value::Int32(3))])).unwrap();
        acc.add(&doc(&[("k", Value::Int32(1)), ("n", Value::Int64(1))])).unwrap();
        acc.add(&doc(&[("k", Value::Int64(1))])).unwrap();
        let rows = acc.finish().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].key, [Value::Null]);
        assert_eq!(rows[0].values, [Value::Int64(2), Value::Int32(3), Value::Int64(1)]);
        assert_eq!(rows[1].values, [Value::Int64(2), Value::Int64(1), Value::Int64(1)]);
    }

    #[test]
    fn values_decode_as_their_type() {
        assert_eq!(decode_value::<u32>(&Value::Int64(7)).unwrap(), 7);
        assert_eq!(decode_value::<String>(&Value::String("a".into())).unwrap(), "a");
        assert!(decode_value::<u8>(&Value::Int64(700)).is_err());
    }
}
