//! Evaluating plans against stored documents, for backends that filter and sort themselves.
//!
//! The semantics are MongoDB's, so every backend returns the same rows: a path through a
//! list matches when any element matches, a missing field equals null, and range
//! comparisons only match values of the same type class.

use super::query::{Direction, Filter, Op, OrderBy};
use crate::core::codec::{self, Elements};
use crate::core::value::{compare, Value};
use crate::error::Result;
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

/// The key as the value a condition on [`KEY`](super::KEY) compares it with.
pub(crate) fn key_as_value(key: &crate::core::key::KeyValue) -> Value {
    use crate::core::key::KeyValue;
    match key {
        KeyValue::Int(n) => Value::Int64(*n),
        KeyValue::Str(s) => Value::String(s.clone()),
        KeyValue::ObjectId(o) => Value::ObjectId(*o),
    }
}

/// [`matches_all`] for a stored record whose key is kept beside its document (the
/// document holds no [`KEY`](super::KEY) field): conditions on the key are checked against
/// `key`, the others against `doc`.
pub(crate) fn matches_all_keyed<F: std::borrow::Borrow<Filter>>(
    filters: impl IntoIterator<Item = F>,
    doc: &[u8],
    key: &crate::core::key::KeyValue,
) -> Result<bool> {
    for f in filters {
        if !matches_keyed(f.borrow(), doc, key)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// [`matches`] for a stored record whose key is kept beside its document, through ORs and
/// NOTs.
fn matches_keyed(f: &Filter, doc: &[u8], key: &crate::core::key::KeyValue) -> Result<bool> {
    match &f.op {
        Op::Or(branches) => {
            for branch in branches {
                if matches_all_keyed(branch, doc, key)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Op::Not(filters) => Ok(!matches_all_keyed(filters, doc, key)?),
        _ if f.path == super::KEY => Ok(holds(&f.op, &[key_as_value(key)])),
        _ => matches(f, doc),
    }
}

/// [`sort_key`] for a stored record whose key is kept beside its document: a term on
/// [`KEY`](super::KEY) sorts by `key`.
pub(crate) fn sort_key_keyed(
    doc: &[u8],
    key: Option<&crate::core::key::KeyValue>,
    order: &[OrderBy],
) -> Result<Vec<Value>> {
    if order.is_empty() {
        return Ok(Vec::new());
    }
    order
        .iter()
        .map(|o| match key {
            Some(key) if o.path == super::KEY => Ok(key_as_value(key)),
            _ => Ok(sort_value(values_at(doc, &o.path)?, o.direction)),
        })
        .collect()
}

/// The error of a condition across a `Ref` reaching a document unresolved (the runtime
/// replaces it with an `in` lookup on the `Ref` before any plan runs).
fn unresolved(j: &crate::plan::join::JoinFilter) -> crate::error::Error {
    crate::error::Error::new(
        crate::error::ErrorKind::Unsupported,
        "a condition across a `Ref` is checked through the keys of the related records that match, not on one document",
    )
    .with_field(j.reference())
}

/// Whether one filter holds for the document.
pub fn matches(filter: &Filter, doc: &[u8]) -> Result<bool> {
    match &filter.op {
        Op::Or(branches) => {
            for branch in branches {
                if matches_all(branch, doc)? {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        Op::Not(filters) => return Ok(!matches_all(filters, doc)?),
        Op::Join(j) => return Err(unresolved(j)),
        _ => {}
    }
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
        Op::Lookup(l) => crate::plan::lookup::holds(l, leaves),
        // Checked on the whole document (see `matches`), never on one path's values; a
        // condition across a `Ref` is resolved before (see `matches`).
        Op::Or(_) | Op::Not(_) | Op::Join(_) => false,
    }
}

/// The values a document sorts by, as MongoDB sorts: for each term the smallest value at its
/// path ascending and the largest descending, a list standing for its elements, an empty list
/// as `EMPTY_LIST` (below null) and a missing field as null.
pub fn sort_key(doc: &[u8], order: &[OrderBy]) -> Result<Vec<Value>> {
    order.iter().map(|o| Ok(sort_value(values_at(doc, &o.path)?, o.direction))).collect()
}

/// The sort value of an empty list: MinKey, the one value below null (MongoDB sorts `[]`
/// before null and missing fields).
pub(crate) const EMPTY_LIST: Value = Value::Raw(0xFF, Vec::new());

/// The value a record sorts by among the values found at a path.
pub(crate) fn sort_value(leaves: Vec<Value>, direction: Direction) -> Value {
    let mut candidates = Vec::with_capacity(leaves.len());
    for leaf in leaves {
        match leaf {
            Value::Array(items) if items.is_empty() => candidates.push(EMPTY_LIST),
            Value::Array(items) => candidates.extend(items),
            other => candidates.push(other),
        }
    }
    let first = |a: &Value, b: &Value| match direction {
        Direction::Asc => compare(a, b) != Ordering::Greater,
        Direction::Desc => compare(a, b) != Ordering::Less,
    };
    candidates.into_iter().reduce(|a, b| if first(&a, &b) { a } else { b }).unwrap_or(Value::Null)
}

/// Whether every record holds at most one value at `path`, as its declared type says (a list
/// sorts by its smallest element ascending and its largest descending, which reading values
/// in order does not give). Fields the derive adds (copies of related fields) are scalars;
/// dotted paths may cross lists.
pub fn single_valued(model: &crate::schema::model::ModelDesc, path: &str) -> bool {
    match model.fields.iter().find(|f| f.name == path) {
        Some(field) => scalar_type(field.ty),
        None => !path.contains('.'),
    }
}

/// Whether a path is a declared field of one scalar value (so a record holds exactly one
/// value there, and conditions on it hold of that one value).
pub(crate) fn declared_scalar(model: &crate::schema::model::ModelDesc, path: &str) -> bool {
    model.fields.iter().find(|f| f.name == path).is_some_and(|f| scalar_type(f.ty))
}

/// Whether a Rust type, as written, stores one scalar value (not a list, map, embedded model
/// or dynamic `Value`).
fn scalar_type(ty: &str) -> bool {
    // Copied only when written with spaces: planning asks this on every query.
    let spaced: String;
    let mut ty = if !ty.bytes().all(|b| b.is_ascii() && !b.is_ascii_whitespace()) {
        spaced = ty.chars().filter(|c| !c.is_whitespace()).collect();
        spaced.as_str()
    } else {
        ty
    };
    while let Some(inner) = ty.strip_prefix("Option<").and_then(|t| t.strip_suffix('>')) {
        ty = inner;
    }
    let head = ty.split('<').next().unwrap_or_default();
    // Past the last `::` (a type path holds no single colon).
    let name = head.rfind(':').map_or(head, |at| &head[at + 1..]);
    matches!(
        name,
        "bool"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "u8"
            | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
            | "f32"
            | "f64"
            | "char"
            | "String"
            | "Decimal"
            | "DateTime"
            | "Key"
            | "Ref"
            | "ObjectId"
            | "Blob"
    )
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
    let start = crate::core::codec::begin_document(&mut doc);
    for (k, v) in fields {
        let Ok(name) = crate::core::codec::cname(k) else { return false };
        if crate::core::codec::Encode::encode(v, &name, &mut doc).is_err() {
            return false;
        }
    }
    crate::core::codec::end_document(&mut doc, start).is_ok() && matches_all(filters, &doc).unwrap_or(false)
}

/// The document a save writes over the stored `old` one: `new` with the fields the program
/// does not know kept from `old`, at the top level (unless the model has an `Extra` field)
/// and inside embedded models at every depth, lists by position. A backend that replaces
/// whole documents calls this on a save over an existing record (not for
/// [`WriteMode::Replace`](crate::backend::WriteMode::Replace)).
pub fn keep_unknown(model: &crate::schema::model::ModelDesc, old: &[u8], new: &[u8]) -> Result<Vec<u8>> {
    crate::schema::unknown::keep_unknown(model, old, new)
}

/// The document with update operations applied in order (`set`, `inc`, `push`, `pull` on
/// dotted paths), for a backend that has no update operators of its own.
pub fn apply_update(doc: &[u8], ops: &[super::update::UpdateOp]) -> Result<Vec<u8>> {
    super::update::apply(doc, ops)
}

/// The document with only the fields `projection` loads.
pub fn project(doc: &[u8], projection: &super::Projection) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(doc.len());
    let start = codec::begin_document(&mut out);
    for el in Elements::new(doc)? {
        let el = el?;
        if projection.loads(el.name) {
            out.extend_from_slice(el.raw);
        }
    }
    codec::end_document(&mut out, start)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::scalar_type;

    #[test]
    fn scalar_types_are_told_from_lists_maps_and_values() {
        for ty in ["i64", "Option<String>", "Option < chrono :: DateTime < Utc > >", "Ref<User>", "crate::Decimal"] {
            assert!(scalar_type(ty), "{ty}");
        }
        for ty in ["Vec<i64>", "Option<Vec<String>>", "Value", "BTreeMap<String, i64>", "Comment", "Tags"] {
            assert!(!scalar_type(ty), "{ty}");
        }
    }
}
