//! Index entries of a record, and the index scan a plan can use.

use super::keys::{self, encoded, escaped_prefix, successor};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{eval::single_valued, eval::values_at, Filter, Op, Plan};
use crate::schema::model::{IndexDesc, ModelDesc};
use std::borrow::Cow;
use std::ops::Bound;

/// The entry keys of one index for one record: the encoded values (each list element
/// separately, an empty list as itself; null when missing), followed by the record key unless the index is unique.
/// Unique indexes skip null and empty lists, so many records may lack a unique field.
pub(crate) fn entries(index: &IndexDesc, doc: &[u8], pk: &[u8]) -> Result<Vec<Vec<u8>>> {
    Ok(entries_with_values(index, doc, pk)?.into_iter().map(|(k, _)| k).collect())
}

/// [`entries`] with the value each entry holds (for messages).
pub(crate) fn entries_with_values(index: &IndexDesc, doc: &[u8], pk: &[u8]) -> Result<Vec<(Vec<u8>, Value)>> {
    let mut values = Vec::new();
    for leaf in values_at(doc, index.path)? {
        match leaf {
            // An empty list is a value, not null (MongoDB's `{tags: null}` does not match
            // `tags: []`): it keeps an entry of its own, out of the null range.
            Value::Array(items) if items.is_empty() => values.push(Value::Array(items)),
            Value::Array(items) => values.extend(items),
            other => values.push(other),
        }
    }
    if values.is_empty() {
        values.push(Value::Null);
    }
    let mut out: Vec<(Vec<u8>, Value)> = Vec::with_capacity(values.len());
    for v in values {
        if index.unique && matches!(&v, Value::Null | Value::Array(_)) {
            continue;
        }
        let mut key = encoded(&v);
        if !index.unique {
            key.extend_from_slice(pk);
        }
        if !out.iter().any(|(k, _)| k == &key) {
            out.push((key, v));
        }
    }
    Ok(out)
}

/// The value an index entry holds: the record key, and on a covering index the record's
/// document before it (a BSON document states its own length, so no separator is needed).
pub(crate) fn entry_value<'a>(index: &IndexDesc, doc: &[u8], pk: &'a [u8]) -> Cow<'a, [u8]> {
    if !index.covering {
        return Cow::Borrowed(pk);
    }
    let mut value = Vec::with_capacity(doc.len() + pk.len());
    value.extend_from_slice(doc);
    value.extend_from_slice(pk);
    Cow::Owned(value)
}

/// An index entry's value read back: the record key, and the record on a covering index.
pub(crate) fn read_value<'a>(index: &IndexDesc, value: &'a [u8]) -> Result<(&'a [u8], Option<&'a [u8]>)> {
    if !index.covering {
        return Ok((value, None));
    }
    let corrupt = || {
        let msg = format!("an entry of the covering index on `{}` does not hold a document", index.path);
        Error::new(ErrorKind::Corrupt, msg).with_field(index.path)
    };
    let len = value.get(..4).ok_or_else(corrupt)?;
    let len = i32::from_le_bytes([len[0], len[1], len[2], len[3]]);
    let len = usize::try_from(len).ok().filter(|&n| n >= 5 && n <= value.len()).ok_or_else(corrupt)?;
    let (doc, pk) = value.split_at(len);
    Ok((pk, Some(doc)))
}

/// A byte range of an index.
pub(crate) type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A range's bounds as redb's `range` takes them.
pub(crate) fn bounds((lo, hi): &KeyRange) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (lo.as_ref().map(Vec::as_slice), hi.as_ref().map(Vec::as_slice))
}

/// How a plan reads its candidate records.
pub(crate) enum Source {
    /// Every record, in key order.
    Scan,
    /// The records named by ranges of an index.
    Index {
        index: &'static IndexDesc,
        ranges: Vec<KeyRange>,
        /// Whether the index order is the plan's order (its first term).
        ordered: bool,
        reverse: bool,
        /// The filter the index answers exactly (it need not be checked on the records).
        served: Option<usize>,
        /// Whether each record appears at most once in the ranges (they hold one value, and a
        /// record has one entry per distinct value), so no record needs skipping as seen.
        distinct: bool,
    },
}

pub(crate) fn prefix_range(prefix: Vec<u8>) -> KeyRange {
    let end = successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (Bound::Included(prefix), end)
}

fn class_range(v: &Value) -> KeyRange {
    class_of(keys::class_tag(v))
}

pub(crate) fn at_least(v: &Value, inclusive: bool) -> Bound<Vec<u8>> {
    let e = encoded(v);
    if inclusive {
        Bound::Included(e)
    } else {
        successor(&e).map_or(Bound::Unbounded, Bound::Included)
    }
}

pub(crate) fn at_most(v: &Value, inclusive: bool) -> Bound<Vec<u8>> {
    let e = encoded(v);
    if inclusive {
        successor(&e).map_or(Bound::Unbounded, Bound::Excluded)
    } else {
        Bound::Excluded(e)
    }
}

/// The index ranges that hold exactly the records matching `op` (None: the index cannot
/// serve it). Entries hold each list element and null for a missing field, and ranges stay
/// within the operand's type class, so the ranges answer the lookup with MongoDB's semantics.
/// `crosses` says whether the index also holds numbers of the other numeric class than a
/// value's (decimals are a class of their own in index keys): equality then reads both
/// classes, and a range cannot be served.
fn ranges_for(op: &Op, unique: bool, crosses: impl Fn(&Value) -> bool) -> Option<Vec<KeyRange>> {
    // Entries hold list elements one by one, so a whole list cannot be looked up.
    let whole_list = |v: &Value| matches!(v, Value::Array(_));
    let equal = |v: &Value| {
        let other = if crosses(v) { keys::other_class(v) } else { None };
        std::iter::once(encoded(v)).chain(other.as_ref().map(encoded))
    };
    Some(match op {
        Op::Eq(v) | Op::Ne(v) | Op::Has(v) | Op::Gt(v) | Op::Gte(v) | Op::Lt(v) | Op::Lte(v) if whole_list(v) => {
            return None
        }
        Op::In(vs) if vs.iter().any(whole_list) => return None,
        Op::Gt(v) | Op::Gte(v) | Op::Lt(v) | Op::Lte(v) | Op::Range(v, _) | Op::Range(_, v)
            if !keys::ordered_class(v) =>
        {
            return None
        }
        Op::Gt(v) | Op::Gte(v) | Op::Lt(v) | Op::Lte(v) | Op::Range(v, _) | Op::Range(_, v) if crosses(v) => {
            return None
        }
        Op::Eq(v) | Op::Has(v) if !matches!(v, Value::Null) => equal(v).map(prefix_range).collect(),
        Op::IsNull(true) if !unique => vec![prefix_range(encoded(&Value::Null))],
        Op::In(vs) if !vs.iter().any(|v| matches!(v, Value::Null)) => {
            let mut encodings: Vec<Vec<u8>> = vs.iter().flat_map(equal).collect();
            encodings.sort();
            encodings.dedup();
            encodings.into_iter().map(prefix_range).collect()
        }
        Op::Gt(v) | Op::Lt(v) | Op::Gte(v) | Op::Lte(v) | Op::Range(v, _) | Op::Range(_, v) if is_nan(v) => {
            nan_ranges(op)
        }
        Op::Gt(v) | Op::Gte(v) => vec![(at_least(v, matches!(op, Op::Gte(_))), class_range(v).1)],
        Op::Lt(v) | Op::Lte(v) => vec![(lowest(v), at_most(v, matches!(op, Op::Lte(_))))],
        // No value is of two type classes (each bound holds only within its own).
        Op::Range(lo, hi) if lo.type_rank() != hi.type_rank() => Vec::new(),
        Op::Range(lo, hi) => vec![(at_least(lo, true), at_most(hi, true))],
        Op::StartsWith(p) => {
            let mut prefix = vec![keys::class_tag(&Value::String(String::new()))];
            escaped_prefix(p.as_bytes(), &mut prefix);
            vec![prefix_range(prefix)]
        }
        _ => return None,
    })
}

/// The class tag of the numbers `v` is not (decimals against integers and doubles).
fn other_numeric_class(v: &Value) -> Option<u8> {
    match keys::class_tag(v) {
        keys::NUMBER => Some(keys::DECIMAL),
        keys::DECIMAL => Some(keys::NUMBER),
        _ => None,
    }
}

/// The range of every entry of one type class.
pub(crate) fn class_of(tag: u8) -> KeyRange {
    (Bound::Included(vec![tag]), Bound::Excluded(vec![tag + 1]))
}

/// Whether index order is the sort order of a path: only where each record holds at most one
/// value there, as its declared type says (a list sorts by its smallest element ascending and
/// its largest descending, an empty list below null: one entry per element does not give
/// that), and where decimals are not mixed with other numbers (their index keys are a class
/// of their own).
fn orderable(model: &ModelDesc, index: &IndexDesc, holds: &impl Fn(&IndexDesc, u8) -> bool) -> bool {
    single_valued(model, index.path) && !(holds(index, keys::NUMBER) && holds(index, keys::DECIMAL))
}

fn is_nan(v: &Value) -> bool {
    matches!(v, Value::Double(f) if f.is_nan())
}

/// A range lookup with a NaN bound: as on MongoDB, NaN meets only NaN, and only where the
/// lookup allows equality.
fn nan_ranges(op: &Op) -> Vec<KeyRange> {
    let nan = || vec![prefix_range(encoded(&Value::Double(f64::NAN)))];
    match op {
        Op::Gte(_) | Op::Lte(_) => nan(),
        Op::Range(lo, hi) if is_nan(lo) && is_nan(hi) => nan(),
        _ => Vec::new(),
    }
}

/// The lower end of a `lt`/`lte` range: the bottom of the operand's type class, above NaN
/// for numbers (NaN sorts below every number, but no range of numbers holds it).
fn lowest(v: &Value) -> Bound<Vec<u8>> {
    match keys::class_tag(v) {
        keys::NUMBER => Bound::Included(encoded(&Value::Double(f64::NEG_INFINITY))),
        _ => class_range(v).0,
    }
}

/// The filters an index scan leaves to check on each record: all but the one it serves.
pub(crate) fn residual(plan: &Plan, served: Option<usize>) -> Vec<&Filter> {
    plan.filters.iter().enumerate().filter(|(i, _)| Some(*i) != served).map(|(_, f)| f).collect()
}

fn selectivity(op: &Op) -> u8 {
    match op {
        Op::Eq(_) | Op::Has(_) | Op::In(_) => 3,
        Op::Range(..) | Op::IsNull(_) => 2,
        _ => 1,
    }
}

/// A filter an index can read for: how selective it is, and its ranges.
struct Pick<'a> {
    score: u8,
    /// The filter's position, when the ranges answer it exactly.
    served: Option<usize>,
    filter: &'a Filter,
    index: &'static IndexDesc,
    ranges: Vec<KeyRange>,
}

/// Picks the index scan for a plan: the most selective filter an index serves, else an
/// index in the order's first term, else a scan. `holds` says whether an index holds any
/// entry of a type class.
pub(crate) fn choose(
    model: &'static ModelDesc,
    plan: &Plan,
    built: impl Fn(&IndexDesc) -> bool,
    holds: impl Fn(&IndexDesc, u8) -> bool,
) -> Source {
    let first_order = plan.order.first();
    let mut best: Option<Pick> = None;
    for (position, filter) in plan.filters.iter().enumerate() {
        let Some(index) = model.index_on(&filter.path).filter(|i| built(i)) else { continue };
        let (op, exact) = match &filter.op {
            Op::Range(lo, _) if !single_valued(model, &filter.path) => (Cow::Owned(Op::Gte(lo.clone())), false),
            op => (Cow::Borrowed(op), true),
        };
        let crosses = |v: &Value| other_numeric_class(v).is_some_and(|tag| holds(index, tag));
        let Some(ranges) = ranges_for(&op, index.unique, crosses) else { continue };
        let score = selectivity(&filter.op);
        if best.as_ref().is_none_or(|b| score > b.score) {
            best = Some(Pick { score, served: exact.then_some(position), filter, index, ranges });
        }
    }
    if let Some(Pick { served, filter: f, index, ranges, .. }) = best {
        let ordered =
            ranges.len() == 1 && first_order.is_some_and(|o| o.path == f.path) && orderable(model, index, &holds);
        let reverse = ordered && first_order.is_some_and(|o| o.direction == crate::plan::Direction::Desc);
        let distinct = ranges.len() == 1 && matches!(f.op, Op::Eq(_) | Op::Has(_) | Op::IsNull(true));
        return Source::Index { index, ranges, ordered, reverse, served, distinct };
    }
    if let Some(o) = first_order {
        let index = model.index_on(&o.path).filter(|i| !i.unique && built(i));
        if let Some(index) = index.filter(|i| orderable(model, i, &holds)) {
            let reverse = o.direction == crate::plan::Direction::Desc;
            let all = (Bound::Unbounded, Bound::Unbounded);
            return Source::Index { index, ranges: vec![all], ordered: true, reverse, served: None, distinct: false };
        }
    }
    Source::Scan
}
