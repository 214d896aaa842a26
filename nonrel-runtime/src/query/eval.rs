//! Evaluating plans against stored documents, for backends that filter and sort themselves.
//!
//! The semantics are MongoDB's, so every backend returns the same rows: a path through a
//! list matches when any element matches, a missing field equals null, and range
//! comparisons only match values of the same type class.

use super::plan::{Direction, Filter, Op, OrderBy};
use crate::codec::{self, Elements};
use crate::error::Result;
use crate::value::{compare, Value};
use std::cmp::Ordering;

/// The values at a dotted path (several when the path crosses a list; none when missing).
pub fn values_at(doc: &[u8], path: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let segments: Vec<&str> = path.split('.').collect();
    collect(doc, codec::DOCUMENT, &segments, &mut out)?;
    Ok(out)
}

fn collect(container: &[u8], ty: u8, segments: &[&str], out: &mut Vec<Value>) -> Result<()> {
    let Some((first, rest)) = segments.split_first() else { return Ok(()) };
    for el in Elements::new(container)? {
        let el = el?;
        if ty == codec::ARRAY {
            // A path step through a list applies to each element (or names an index).
            if el.name == first.as_bytes() {
                step(el.ty, el.value, rest, out)?;
            } else if el.ty == codec::DOCUMENT {
                collect(el.value, el.ty, segments, out)?;
            }
        } else if el.name == first.as_bytes() {
            return step(el.ty, el.value, rest, out);
        }
    }
    Ok(())
}

fn step(ty: u8, value: &[u8], rest: &[&str], out: &mut Vec<Value>) -> Result<()> {
    if rest.is_empty() {
        out.push(Value::from_element(ty, value)?);
    } else if ty == codec::DOCUMENT || ty == codec::ARRAY {
        collect(value, ty, rest, out)?;
    }
    Ok(())
}

/// Whether every filter holds for the document.
pub fn matches_all<F: std::borrow::Borrow<Filter>>(filters: impl IntoIterator<Item = F>, doc: &[u8]) -> Result<bool> {
    for f in filters {
        if !matches(f.borrow(), doc)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether one filter holds for the document.
pub fn matches(filter: &Filter, doc: &[u8]) -> Result<bool> {
    let leaves = values_at(doc, &filter.path)?;
    Ok(holds(&filter.op, &leaves))
}

/// The leaves and, for list leaves, their elements.
fn candidates(leaves: &[Value]) -> impl Iterator<Item = &Value> {
    leaves.iter().flat_map(|v| {
        let elements = match v {
            Value::Array(items) => items.as_slice(),
            _ => &[],
        };
        std::iter::once(v).chain(elements.iter())
    })
}

fn equal(leaves: &[Value], v: &Value) -> bool {
    if matches!(v, Value::Null) && leaves.is_empty() {
        return true;
    }
    candidates(leaves).any(|x| x == v)
}

fn bracketed(leaves: &[Value], v: &Value, ok: impl Fn(Ordering) -> bool) -> bool {
    candidates(leaves).any(|x| ranged(x, v, &ok))
}

/// Whether `x` stands in a wanted relation to `v` for a range lookup: only values of one type
/// class compare, and, as on MongoDB, NaN meets only NaN and only where equality is wanted
/// (it sorts below every number, but no range of numbers holds it).
fn ranged(x: &Value, v: &Value, ok: impl Fn(Ordering) -> bool) -> bool {
    if x.type_rank() != v.type_rank() {
        return false;
    }
    match (is_nan(x), is_nan(v)) {
        (false, false) => ok(compare(x, v)),
        (nan_x, nan_v) => nan_x && nan_v && ok(Ordering::Equal),
    }
}

fn is_nan(v: &Value) -> bool {
    matches!(v, Value::Double(f) if f.is_nan())
}

fn text(leaves: &[Value], ok: impl Fn(&str) -> bool) -> bool {
    candidates(leaves).any(|x| x.as_str().is_some_and(&ok))
}

/// Whether an operation holds for the values found at its path.
pub(crate) fn holds(op: &Op, leaves: &[Value]) -> bool {
    match op {
        Op::Eq(v) | Op::Has(v) => equal(leaves, v),
        Op::Ne(v) => !equal(leaves, v),
        Op::In(vs) => vs.iter().any(|v| equal(leaves, v)),
        Op::Gt(v) => bracketed(leaves, v, |o| o == Ordering::Greater),
        Op::Gte(v) => bracketed(leaves, v, |o| o != Ordering::Less),
        Op::Lt(v) => bracketed(leaves, v, |o| o == Ordering::Less),
        Op::Lte(v) => bracketed(leaves, v, |o| o != Ordering::Greater),
        // `{$gte: lo, $lte: hi}`: through a list, each bound may hold on a different element.
        Op::Range(lo, hi) => {
            bracketed(leaves, lo, |o| o != Ordering::Less) && bracketed(leaves, hi, |o| o != Ordering::Greater)
        }
        Op::IsNull(is_null) => equal(leaves, &Value::Null) == *is_null,
        Op::ElemMatch(filters) => leaves.iter().any(|leaf| match leaf {
            Value::Array(items) => items.iter().any(|item| element_matches(item, filters)),
            _ => false,
        }),
        Op::StartsWith(p) => text(leaves, |s| s.starts_with(p.as_str())),
        Op::Contains(p) => text(leaves, |s| s.contains(p.as_str())),
        Op::Lookup(l) => crate::lookup::holds(l, leaves),
    }
}

/// The values a document sorts by (the first value at each path, null when missing).
pub fn sort_key(doc: &[u8], order: &[OrderBy]) -> Result<Vec<Value>> {
    order.iter().map(|o| Ok(values_at(doc, &o.path)?.into_iter().next().unwrap_or(Value::Null))).collect()
}

/// Compares two sort keys under the ordering terms.
pub fn compare_keys(a: &[Value], b: &[Value], order: &[OrderBy]) -> Ordering {
    for ((x, y), o) in a.iter().zip(b).zip(order) {
        let c = compare(x, y);
        let c = if o.direction == Direction::Desc { c.reverse() } else { c };
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

/// Whether every filter holds for one embedded document of a list.
fn element_matches(item: &Value, filters: &[Filter]) -> bool {
    let Value::Document(fields) = item else { return false };
    let mut doc = Vec::new();
    let start = crate::codec::begin_document(&mut doc);
    for (k, v) in fields {
        let Ok(name) = crate::codec::cname(k) else { return false };
        if crate::codec::Encode::encode(v, &name, &mut doc).is_err() {
            return false;
        }
    }
    crate::codec::end_document(&mut doc, start).is_ok() && matches_all(filters, &doc).unwrap_or(false)
}
