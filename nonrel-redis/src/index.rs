//! Index entries of a record and the lexicographic ranges a filter reads.
//!
//! Entries use the runtime's order-preserving value encoding ([`nonrel_runtime::order`]),
//! the embedded backend's, so equality, ranges and prefixes are byte ranges of a sorted set.
//! The ranges chosen here hold at least every record that matches (each candidate is then
//! checked with [`eval::matches_all`]), so answers are the same as on every other backend.

use nonrel_runtime::codec::Elements;
use nonrel_runtime::order::{class_tag, encoded, escaped_prefix, ordered_class, other_class, successor};
use nonrel_runtime::query::{eval, Filter, Op, Plan};
use nonrel_runtime::{IndexDesc, ModelDesc, Result, Value};
use std::ops::Bound;

/// One index entry of a record: the index, the encoded value and, on a unique index, the end
/// of the value's range (the entries that hold the same value lie between the two).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) index: &'static IndexDesc,
    pub(crate) enc: Vec<u8>,
    pub(crate) unique_end: Vec<u8>,
    pub(crate) value: Value,
}

/// The entries of one record for the given indexes: each distinct value at the path (list
/// elements one by one, an empty list as itself, null when missing); unique indexes skip
/// null and empty lists, so many records may lack a unique field.
pub(crate) fn entries(indexes: &[&'static IndexDesc], doc: &[u8]) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::with_capacity(indexes.len());
    for &index in indexes {
        if !index.path.contains('.') {
            // A top-level field: its one element, read in place.
            match top_level(doc, index.path)? {
                Some(Value::Array(items)) if !items.is_empty() => {
                    for item in items {
                        add(&mut out, index, item);
                    }
                }
                Some(value) => add(&mut out, index, value),
                None => add(&mut out, index, Value::Null),
            }
            continue;
        }
        let mut values = Vec::new();
        for leaf in eval::values_at(doc, index.path)? {
            match leaf {
                Value::Array(items) if items.is_empty() => values.push(Value::Array(items)),
                Value::Array(items) => values.extend(items),
                other => values.push(other),
            }
        }
        if values.is_empty() {
            values.push(Value::Null);
        }
        for value in values {
            add(&mut out, index, value);
        }
    }
    Ok(out)
}

/// The value of a document's top-level field `name` (what [`eval::values_at`] finds for a
/// path of one segment), without splitting the path or collecting a list.
fn top_level(doc: &[u8], name: &str) -> Result<Option<Value>> {
    for el in Elements::new(doc)? {
        let el = el?;
        if el.name == name.as_bytes() {
            return Value::from_element(el.ty, el.value).map(Some);
        }
    }
    Ok(None)
}

/// Adds the entry of one value unless the record already has it; unique indexes skip null
/// and empty lists.
fn add(out: &mut Vec<Entry>, index: &'static IndexDesc, value: Value) {
    if index.unique && matches!(value, Value::Null | Value::Array(_)) {
        return;
    }
    let enc = encoded(&value);
    if out.iter().any(|e| std::ptr::eq(e.index, index) && e.enc == enc) {
        return;
    }
    let unique_end = if index.unique { successor(&enc).unwrap_or_default() } else { Vec::new() };
    out.push(Entry { index, enc, unique_end, value });
}

/// A range of members: `ZRANGEBYLEX` bounds.
pub(crate) type Range = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A bound in `ZRANGEBYLEX` syntax.
pub(crate) fn lex(bound: &Bound<Vec<u8>>, low: bool) -> Vec<u8> {
    match bound {
        Bound::Included(b) => [b"[".as_slice(), b].concat(),
        Bound::Excluded(b) => [b"(".as_slice(), b].concat(),
        Bound::Unbounded if low => b"-".to_vec(),
        Bound::Unbounded => b"+".to_vec(),
    }
}

/// Every member starting with `prefix`.
fn prefix(prefix: Vec<u8>) -> Range {
    let end = successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (Bound::Included(prefix), end)
}

/// Every member of one type class.
fn class(tag: u8) -> Range {
    (Bound::Included(vec![tag]), Bound::Excluded(vec![tag + 1]))
}

const NUMBER: u8 = 0x10;
const DECIMAL: u8 = 0x12;

fn numeric(v: &Value) -> bool {
    matches!(class_tag(v), NUMBER | DECIMAL)
}

fn nan(v: &Value) -> bool {
    matches!(v, Value::Double(f) if f.is_nan())
}

/// Prefix ranges of a value and of the same number in the other numeric class.
fn equal(v: &Value) -> impl Iterator<Item = Range> {
    std::iter::once(encoded(v)).chain(other_class(v).as_ref().map(encoded)).map(prefix)
}

/// Between two optional bounds of one ordered type class, each included or not as `open`
/// says (lower, upper); numbers read their range in both numeric classes (decimals are a
/// class of their own in the encoding), the other class's bound converted when it can be
/// exactly.
fn between(lo: Option<&Value>, hi: Option<&Value>, open: (bool, bool)) -> Vec<Range> {
    let sample = lo.or(hi).expect("one bound");
    let tags: &[u8] = if numeric(sample) { &[NUMBER, DECIMAL] } else { &[class_tag(sample)] };
    tags.iter()
        .map(|&tag| {
            let in_class = |v: &Value| {
                if class_tag(v) == tag {
                    Some(encoded(v))
                } else {
                    other_class(v).filter(|o| class_tag(o) == tag).map(|o| encoded(&o))
                }
            };
            let (class_lo, class_hi) = class(tag);
            // Past every member holding the value: the bytes after its prefix range.
            let past = |e: Vec<u8>| successor(&e);
            let low = match lo.and_then(in_class) {
                Some(e) if open.0 => past(e).map_or(class_hi.clone(), Bound::Included),
                Some(e) => Bound::Included(e),
                None => class_lo,
            };
            let high = match hi.and_then(in_class) {
                Some(e) if open.1 => Bound::Excluded(e),
                Some(e) => past(e).map_or(class_hi, Bound::Excluded),
                None => class_hi,
            };
            (low, high)
        })
        .collect()
}

/// The ranges of an index that hold every record matching `op` (None: the index cannot
/// serve it). `single`: each record holds at most one value at the path.
fn ranges_for(op: &Op, unique: bool, single: bool) -> Option<Vec<Range>> {
    let list = |v: &Value| matches!(v, Value::Array(_));
    let rangeable = |v: &Value| ordered_class(v) && !nan(v);
    Some(match op {
        Op::Eq(v) | Op::Has(v) if !list(v) && !matches!(v, Value::Null) => equal(v).collect(),
        Op::In(vs) if !vs.iter().any(|v| list(v) || matches!(v, Value::Null)) => {
            let mut ranges: Vec<Range> = Vec::new();
            for range in vs.iter().flat_map(equal) {
                if !ranges.contains(&range) {
                    ranges.push(range);
                }
            }
            ranges
        }
        Op::IsNull(true) if !unique => vec![prefix(encoded(&Value::Null))],
        Op::StartsWith(p) => {
            let mut bytes = vec![class_tag(&Value::String(String::new()))];
            escaped_prefix(p.as_bytes(), &mut bytes);
            vec![prefix(bytes)]
        }
        Op::Gt(v) | Op::Gte(v) if rangeable(v) => between(Some(v), None, (matches!(op, Op::Gt(_)), false)),
        Op::Lt(v) | Op::Lte(v) if rangeable(v) => between(None, Some(v), (false, matches!(op, Op::Lt(_)))),
        Op::Range(lo, _) if !single && rangeable(lo) => between(Some(lo), None, (false, false)),
        Op::Range(lo, hi) if rangeable(lo) && rangeable(hi) => {
            if numeric(lo) && numeric(hi) || class_tag(lo) == class_tag(hi) {
                between(Some(lo), Some(hi), (false, false))
            } else {
                Vec::new() // no value is of two type classes
            }
        }
        _ => return None,
    })
}

/// How selective a lookup usually is: equality beats ranges beats the rest.
fn selectivity(op: &Op) -> u8 {
    match op {
        Op::Eq(_) | Op::Has(_) | Op::In(_) => 3,
        Op::Range(..) | Op::IsNull(_) => 2,
        _ => 1,
    }
}

/// Where a plan's candidate records come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Every record of the collection, in key order (the collection's key set).
    Scan,
    /// The records named by ranges of one index.
    Index { index: &'static IndexDesc, ranges: Vec<Range> },
    /// The records whose keys lie in one range of the collection's key set.
    Keys(Range),
}

/// The most selective filter a declared index serves, else the whole collection.
pub(crate) fn choose(model: &'static ModelDesc, plan: &Plan) -> Source {
    let mut best: Option<(u8, &'static IndexDesc, Vec<Range>)> = None;
    for Filter { path, op } in &plan.filters {
        let Some(index) = model.index_on(path) else { continue };
        let Some(ranges) = ranges_for(op, index.unique, eval::single_valued(model, path)) else { continue };
        let score = selectivity(op);
        if best.as_ref().is_none_or(|b| score > b.0) {
            best = Some((score, index, ranges));
        }
    }
    match best {
        Some((_, index, ranges)) => Source::Index { index, ranges },
        None => Source::Scan,
    }
}

/// The index that gives a plan's order, with the ranges to read, lowest first: the index on
/// the first ordering term when the plan reads that index (a filter on the field), or, with
/// no filter any index serves, the whole index (not a unique one: it leaves out records
/// without a value). `None` when the field may hold several values (a list sorts by its
/// smallest or largest element, not by its entries), or another index is read. The flag says
/// the whole index is read in place of the key set.
pub(crate) fn ordered(model: &'static ModelDesc, plan: &Plan) -> Option<(&'static IndexDesc, Vec<Range>, bool)> {
    let first = plan.order.first()?;
    let index = model.index_on(&first.path)?;
    if !eval::single_valued(model, &first.path) {
        return None;
    }
    match choose(model, plan) {
        Source::Index { index: chosen, mut ranges } if chosen.path == index.path => {
            sort_ranges(&mut ranges);
            Some((index, ranges, false))
        }
        Source::Scan if !index.unique => Some((index, vec![(Bound::Unbounded, Bound::Unbounded)], true)),
        _ => None,
    }
}

/// A lower bound as a sort key: unbounded first, then by bytes.
fn lower(b: &Bound<Vec<u8>>) -> Option<&[u8]> {
    match b {
        Bound::Included(x) | Bound::Excluded(x) => Some(x),
        Bound::Unbounded => None,
    }
}

/// The parts of an index a page from a cursor reads, lowest first: the cursor's value
/// (`enc`) and, with `key` (the cursor's key bytes, when index members sort within a value as
/// their keys do), the cursor's own member, which splits that value's tie into the members
/// before the cursor and those after it. Without `key` the whole tie is read again (later
/// ordering terms order it). `asc`: the first ordering term ascends; `backward`: the rows
/// before the cursor.
pub(crate) fn after_cursor(value: &Value, key: Option<&[u8]>, asc: bool, backward: bool) -> Vec<Range> {
    use Bound::{Excluded, Included, Unbounded};
    let enc = encoded(value);
    let above_tie = successor(&enc);
    let Some(kb) = key else {
        return if asc != backward {
            vec![(Included(enc), Unbounded)]
        } else {
            vec![(Unbounded, above_tie.map_or(Unbounded, Excluded))]
        };
    };
    let at = crate::member(&enc, kb);
    match (asc, backward) {
        (true, false) => vec![(Excluded(at), Unbounded)],
        (true, true) => vec![(Unbounded, Excluded(at))],
        // Descending: after the cursor come the tie's greater keys, then the lower values.
        (false, false) => {
            vec![(Unbounded, Excluded(enc)), (Excluded(at), above_tie.map_or(Unbounded, Excluded))]
        }
        (false, true) => {
            let mut parts = vec![(Included(enc), Excluded(at))];
            parts.extend(above_tie.map(|t| (Included(t), Unbounded)));
            parts
        }
    }
}

/// The members two ranges share (`None`: none).
pub(crate) fn intersect(a: &Range, b: &Range) -> Option<Range> {
    let lo = tighter(a.0.clone(), b.0.clone(), true);
    let hi = tighter(a.1.clone(), b.1.clone(), false);
    let empty = match (&lo, &hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a >= b,
        _ => false,
    };
    (!empty).then_some((lo, hi))
}

/// Sorts disjoint ranges lowest first.
pub(crate) fn sort_ranges(ranges: &mut [Range]) {
    ranges.sort_by(|a, b| lower(&a.0).cmp(&lower(&b.0)));
}

/// The tighter of two lower (or upper) bounds.
fn tighter(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>, lower: bool) -> Bound<Vec<u8>> {
    let (x, y) = match (&a, &b) {
        (Bound::Unbounded, _) => return b,
        (_, Bound::Unbounded) => return a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => (x, y),
    };
    match x.cmp(y) {
        std::cmp::Ordering::Equal if matches!(a, Bound::Excluded(_)) => a,
        std::cmp::Ordering::Equal => b,
        std::cmp::Ordering::Greater if lower => a,
        std::cmp::Ordering::Less if !lower => a,
        _ => b,
    }
}

/// The index ranges whose members are exactly the records matching the plan's one filter,
/// one member a record, so counting members counts matches (`ZLEXCOUNT`): an equality or
/// `in` on a single-valued indexed field, with values whose encoding is theirs alone (text,
/// integers, booleans, ObjectIds, dates; not doubles or decimals, whose zero, NaN and scale
/// take more care). `None` when the plan needs its candidates checked.
pub(crate) fn counted(model: &'static ModelDesc, plan: &Plan) -> Option<(&'static IndexDesc, Vec<Range>)> {
    if !exact(model, plan) {
        return None;
    }
    let Filter { path, op } = &plan.filters[0];
    let index = model.index_on(path)?;
    let ranges = ranges_for(op, index.unique, true)?;
    Some((index, ranges))
}

/// Whether the ranges [`choose`] reads for the plan hold exactly its matches, each record
/// once (see [`counted`]): its candidates need no check.
pub(crate) fn exact(model: &'static ModelDesc, plan: &Plan) -> bool {
    let [Filter { path, op }] = &plan.filters[..] else { return false };
    if model.index_on(path).is_none() || !one_entry(model, path) {
        return false;
    }
    let exact = |v: &Value| {
        matches!(v, Value::String(_) | Value::Int32(_) | Value::Int64(_) | Value::Bool(_))
            || matches!(v, Value::ObjectId(_) | Value::DateTime(_))
    };
    match op {
        Op::Eq(v) => exact(v),
        Op::In(vs) => !vs.is_empty() && vs.iter().all(exact),
        _ => false,
    }
}

/// Whether an index on `path` holds one entry a record: a declared field of one scalar value
/// (computed lookup fields hold a list: a text's trigrams or words).
pub(crate) fn one_entry(model: &ModelDesc, path: &str) -> bool {
    model.fields.iter().any(|f| f.name == path) && eval::single_valued(model, path)
}
