//! Index entries of a record, and the index scan a plan can use.

use crate::core::order::{self as keys, encoded, escaped_prefix, successor};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{eval::declared_scalar, eval::single_valued, eval::values_at, Filter, Op, Plan, KEY};
use crate::schema::model::{IndexDesc, ModelDesc};
use std::borrow::Cow;
use std::ops::Bound;

/// The entry keys of one index for one record: the encoded values (each list element
/// separately, an empty list as itself; null when missing), followed by the record key unless the index is unique.
/// Unique indexes skip null and empty lists, so many records may lack a unique field.
pub(crate) fn entries(index: &IndexDesc, doc: &[u8], pk: &[u8]) -> Result<Vec<Vec<u8>>> {
    Ok(entries_with_values(index, doc, pk)?.into_iter().map(|(k, _)| k).collect())
}

/// [`entries`], written into `out` (cleared first) so one buffer serves many records. A
/// top-level field holding one value (not a list) is read in place and encoded without
/// building a list of [`Value`]s (nor a `String` for text); any other path takes
/// [`entries`]' way. Both give the same keys.
pub(crate) fn entry_keys(index: &IndexDesc, doc: &[u8], pk: &[u8], out: &mut Vec<Vec<u8>>) -> Result<()> {
    use crate::core::codec::{self, Elements};
    out.clear();
    if !index.path.contains('.') {
        let mut found = None;
        for el in Elements::new(doc)? {
            let el = el?;
            if el.name == index.path.as_bytes() {
                found = Some((el.ty, el.value));
                break;
            }
        }
        if !matches!(found, Some((codec::ARRAY, _))) {
            let mut key = Vec::with_capacity(24 + pk.len());
            match found {
                Some((codec::STRING, v)) => keys::encode_str(codec::read_str(codec::STRING, v)?, &mut key),
                Some((ty, v)) => {
                    let value = Value::from_element(ty, v)?;
                    if index.unique && matches!(value, Value::Null) {
                        return Ok(());
                    }
                    keys::encode(&value, &mut key);
                }
                // A missing field is null: an entry of its own, except on a unique index.
                None if index.unique => return Ok(()),
                None => keys::encode(&Value::Null, &mut key),
            }
            if !index.unique {
                key.extend_from_slice(pk);
            }
            out.push(key);
            return Ok(());
        }
    }
    out.extend(entries(index, doc, pk)?);
    Ok(())
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

/// The value an index entry holds: on a covering index the record's document, then its key
/// (a BSON document states its own length, so no separator is needed); on a unique index
/// the record key (the entry's key is the value alone); on any other index nothing, as the
/// entry's key ends with the record key.
pub(crate) fn entry_value<'a>(index: &IndexDesc, doc: &[u8], pk: &'a [u8]) -> Cow<'a, [u8]> {
    if index.covering {
        let mut value = Vec::with_capacity(doc.len() + pk.len());
        value.extend_from_slice(doc);
        value.extend_from_slice(pk);
        return Cow::Owned(value);
    }
    if index.unique {
        return Cow::Borrowed(pk);
    }
    Cow::Borrowed(&[])
}

/// An entry of `index` that is not as nonrel writes it (`what` it lacks): the store is
/// damaged, and the error names the index.
pub(crate) fn corrupt_entry(index: &IndexDesc, what: &str) -> Error {
    let kind = if index.covering { "covering " } else { "" };
    let msg = format!("an entry of the {kind}index on `{}` {what}", index.path);
    Error::new(ErrorKind::Corrupt, msg).with_field(index.path)
}

/// An index entry read back (its key and value): the record key, and on a covering index the
/// record. Entries of an index neither unique nor covering written before their value was
/// left empty hold the record key as their value, and read the same.
pub(crate) fn read_entry<'a>(
    index: &IndexDesc,
    key: &'a [u8],
    value: &'a [u8],
) -> Result<(&'a [u8], Option<&'a [u8]>)> {
    if index.covering {
        let len = value.get(..4).ok_or_else(|| corrupt_entry(index, "does not hold a document"))?;
        let len = i32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n >= 5 && n <= value.len())
            .ok_or_else(|| corrupt_entry(index, "does not hold a document"))?;
        let (doc, pk) = value.split_at(len);
        return Ok((pk, Some(doc)));
    }
    if index.unique || !value.is_empty() {
        return Ok((value, None));
    }
    let at = keys::encoded_len(key).ok_or_else(|| corrupt_entry(index, "does not start with a value"))?;
    Ok((&key[at..], None))
}

/// The whole value a range starts at, when its lower bound is one (an equality's range).
pub(crate) fn point_of(range: &KeyRange) -> Option<&[u8]> {
    match &range.0 {
        Bound::Included(lo) if keys::encoded_len(lo) == Some(lo.len()) => Some(lo),
        _ => None,
    }
}

/// [`read_entry`] of an entry read from a range starting at the whole value `point`
/// ([`point_of`]): the value encoding is prefix-free, so an entry that starts with that value
/// holds the record key right after it, found without parsing the value again.
#[inline]
pub(crate) fn read_entry_at<'a>(
    index: &IndexDesc,
    point: Option<&[u8]>,
    key: &'a [u8],
    value: &'a [u8],
) -> Result<(&'a [u8], Option<&'a [u8]>)> {
    match point {
        Some(p)
            if value.is_empty() && !index.covering && !index.unique && key.len() > p.len() && key.starts_with(p) =>
        {
            Ok((&key[p.len()..], None))
        }
        _ => read_entry(index, key, value),
    }
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
        /// The filters the index answers exactly (they need not be checked on the records).
        served: Vec<usize>,
        /// Whether each record appears at most once in the ranges (they hold one value, and a
        /// record has one entry per distinct value; or the path holds one value per record),
        /// so no record needs skipping as seen.
        distinct: bool,
        /// Whether the ranges hold one value of the index, so its entries come in key order.
        key_order: bool,
    },
    /// The records of ranges of the key: the records table read directly, in key order
    /// (backwards when `reverse`).
    Keys {
        ranges: Vec<KeyRange>,
        reverse: bool,
        /// The filters on the key the ranges answer exactly.
        served: Vec<usize>,
    },
}

/// The ranges of the records table that hold exactly the keys the plan's conditions on the
/// key ([`KEY`]) allow, and the positions of the conditions they answer (`None`: no
/// condition on the key can be read as ranges; those left are checked on each record).
pub(crate) fn key_ranges(plan: &Plan) -> Option<(Vec<KeyRange>, Vec<usize>)> {
    let mut out: Option<(Vec<KeyRange>, Vec<usize>)> = None;
    for (position, filter) in plan.filters.iter().enumerate().filter(|(_, f)| f.path == KEY) {
        let Some(ranges) = key_ranges_for(&filter.op) else { continue };
        out = Some(match out {
            None => (ranges, vec![position]),
            Some((before, mut served)) => {
                served.push(position);
                (intersect(&before, &ranges), served)
            }
        });
    }
    out
}

/// Whether every condition on the key the plan reads as ranges names single keys (`eq`,
/// `in`), so reading them costs no more than the keys named.
pub(crate) fn key_points(plan: &Plan, served: &[usize]) -> bool {
    served.iter().any(|&i| matches!(plan.filters[i].op, Op::Eq(_) | Op::In(_)))
}

/// The stored bytes of the key a condition's value names, if a key can hold it.
fn stored_key(v: &Value) -> Option<Vec<u8>> {
    use crate::core::key::KeyValue;
    let key = match v {
        Value::Int32(n) => KeyValue::Int(i64::from(*n)),
        Value::Int64(n) => KeyValue::Int(*n),
        Value::String(s) => KeyValue::Str(s.clone()),
        Value::ObjectId(o) => KeyValue::ObjectId(*o),
        _ => return None,
    };
    Some(key.to_storage())
}

/// The records-table ranges holding exactly the keys that meet `op` (`None`: not read as
/// ranges). Stored keys sort like the keys, each kind (int, string, ObjectId) in a class of
/// its own after its tag byte; as on every field, a range holds only within its value's
/// class.
fn key_ranges_for(op: &Op) -> Option<Vec<KeyRange>> {
    let point = |k: Vec<u8>| (Bound::Included(k.clone()), Bound::Included(k));
    let class = |k: &[u8]| class_of(k[0]);
    Some(match op {
        Op::Eq(v) => vec![point(stored_key(v)?)],
        Op::In(vs) => {
            let mut keys: Vec<Vec<u8>> = vs.iter().map(stored_key).collect::<Option<_>>()?;
            keys.sort();
            keys.dedup();
            keys.into_iter().map(point).collect()
        }
        Op::Gt(v) | Op::Gte(v) => {
            let k = stored_key(v)?;
            let top = class(&k).1;
            let low = if matches!(op, Op::Gt(_)) { Bound::Excluded(k) } else { Bound::Included(k) };
            vec![(low, top)]
        }
        Op::Lt(v) | Op::Lte(v) => {
            let k = stored_key(v)?;
            let bottom = class(&k).0;
            let high = if matches!(op, Op::Lt(_)) { Bound::Excluded(k) } else { Bound::Included(k) };
            vec![(bottom, high)]
        }
        Op::Range(lo, hi) => {
            let (lo, hi) = (stored_key(lo)?, stored_key(hi)?);
            if lo[0] != hi[0] {
                return Some(Vec::new());
            }
            vec![(Bound::Included(lo), Bound::Included(hi))].into_iter().filter(non_empty).collect()
        }
        Op::StartsWith(p) => {
            let mut prefix = crate::core::key::KeyValue::Str(String::new()).to_storage();
            prefix.extend_from_slice(p.as_bytes());
            vec![prefix_range(prefix)]
        }
        _ => return None,
    })
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

/// The filters an index scan leaves to check on each record: all but those it serves.
pub(crate) fn residual<'p>(plan: &'p Plan, served: &[usize]) -> Vec<&'p Filter> {
    plan.filters.iter().enumerate().filter(|(i, _)| !served.contains(i)).map(|(_, f)| f).collect()
}

fn selectivity(op: &Op) -> u8 {
    match op {
        Op::Eq(_) | Op::Has(_) | Op::In(_) => 3,
        Op::Range(..) | Op::IsNull(_) => 2,
        _ => 1,
    }
}

/// Whether a lookup names one value (its index entries are then in key order).
fn one_value(op: &Op) -> bool {
    matches!(op, Op::Eq(_) | Op::Has(_) | Op::IsNull(true))
}

/// The filters an index can read for, on one path: how selective they are together, and their ranges.
struct Pick<'p> {
    score: u8,
    /// The positions of the filters the ranges answer exactly.
    served: Vec<usize>,
    path: &'p str,
    index: &'static IndexDesc,
    ranges: Vec<KeyRange>,
    /// Whether the ranges hold one value of the index.
    one_value: bool,
}

/// Counts the entries of an index's ranges, up to a cap.
pub(crate) fn count_in(
    table: &impl redb::ReadableTable<super::tables::StoredKey, &'static [u8]>,
    ranges: &[KeyRange],
    cap: usize,
) -> Result<usize> {
    let mut n = 0;
    for range in ranges {
        if n >= cap {
            break;
        }
        let entries = table.range::<&[u8]>(bounds(range)).map_err(super::tables::storage)?;
        n += entries.take(cap - n).count();
    }
    Ok(n)
}

/// Where two lower bounds differ, the higher; where two upper bounds differ, the lower.
pub(crate) fn tighter(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>, lower: bool) -> Bound<Vec<u8>> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let (va, vb) = match (&a, &b) {
        (Bound::Unbounded, _) => return b,
        (_, Bound::Unbounded) => return a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => (x, y),
    };
    match va.cmp(vb) {
        Equal if matches!(a, Bound::Excluded(_)) => a,
        Equal => b,
        Greater if lower => a,
        Less if !lower => a,
        _ => b,
    }
}

/// Whether a range may hold a key.
pub(crate) fn non_empty((lo, hi): &KeyRange) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a < b,
        _ => true,
    }
}

/// The ranges both range lists hold (each list's ranges are disjoint, so are the results),
/// in key order.
pub(crate) fn intersect(a: &[KeyRange], b: &[KeyRange]) -> Vec<KeyRange> {
    let mut out: Vec<KeyRange> = a
        .iter()
        .flat_map(|x| b.iter().map(move |y| (x, y)))
        .map(|(x, y)| (tighter(x.0.clone(), y.0.clone(), true), tighter(x.1.clone(), y.1.clone(), false)))
        .filter(non_empty)
        .collect();
    out.sort_by(|x, y| lower_order(&x.0, &y.0));
    out
}

/// The order of two lower bounds.
fn lower_order(a: &Bound<Vec<u8>>, b: &Bound<Vec<u8>>) -> std::cmp::Ordering {
    let rank = |x: &Bound<Vec<u8>>| match x {
        Bound::Unbounded => (None, 0),
        Bound::Included(v) => (Some(v.clone()), 0),
        Bound::Excluded(v) => (Some(v.clone()), 1),
    };
    rank(a).cmp(&rank(b))
}

/// Picks the index scan for a plan, else a scan.
///
/// The filters an index serves on one single-valued path combine into one set of ranges (a
/// lower and an upper bound, an equality and a range, `in` and a range); contradictory ones
/// leave no range, so nothing is read. Among the paths an index serves, the one whose ranges
/// hold the fewest entries is read: `count` counts a candidate's entries up to a cap, which
/// grows sixteenfold until one candidate stays under it, so the counting costs as much as the
/// rarest candidate, not the collection. With no filter an index serves, the index of the
/// order's first term is walked. `holds` says whether an index holds any entry of a type class.
pub(crate) fn choose(
    model: &'static ModelDesc,
    plan: &Plan,
    built: impl Fn(&IndexDesc) -> bool,
    holds: impl Fn(&IndexDesc, u8) -> bool,
    count: impl Fn(&IndexDesc, &[KeyRange], usize) -> Result<usize>,
) -> Result<Source> {
    let first_order = plan.order.first();
    let mut picks: Vec<Pick> = Vec::new();
    for (position, filter) in plan.filters.iter().enumerate() {
        let Some(index) = model.index_on(&filter.path).filter(|i| built(i)) else { continue };
        let single = single_valued(model, &filter.path);
        let (op, exact) = match &filter.op {
            Op::Range(lo, _) if !single => (Cow::Owned(Op::Gte(lo.clone())), false),
            op => (Cow::Borrowed(op), true),
        };
        let crosses = |v: &Value| other_numeric_class(v).is_some_and(|tag| holds(index, tag));
        let Some(ranges) = ranges_for(&op, index.unique, crosses) else { continue };
        let score = selectivity(&filter.op);
        let one = ranges.len() == 1 && one_value(&filter.op);
        // On a path with one value per record, every filter on it holds of that value: the
        // ranges intersect. (Each element of a list may meet a different filter, so a list's
        // filters stay apart.)
        let merge = exact && declared_scalar(model, &filter.path);
        if let Some(p) = picks.iter_mut().find(|p| merge && p.path == filter.path && !p.served.is_empty()) {
            p.ranges = intersect(&p.ranges, &ranges);
            p.score = p.score.max(score).max(2);
            p.one_value = (p.one_value || one) && p.ranges.len() <= 1;
            p.served.push(position);
            continue;
        }
        let served = if exact { vec![position] } else { Vec::new() };
        picks.push(Pick { score, served, path: &filter.path, index, ranges, one_value: one });
    }
    let best = if picks.len() < 2 { picks.pop() } else { Some(fewest_entries(picks, &count)?) };
    if let Some(Pick { served, path, index, ranges, one_value, .. }) = best {
        let ordered =
            ranges.len() == 1 && first_order.is_some_and(|o| o.path == path) && orderable(model, index, &holds);
        let reverse = ordered && first_order.is_some_and(|o| o.direction == crate::plan::Direction::Desc);
        // A declared field of one value has one entry per record: disjoint ranges hold each
        // record once.
        let distinct = one_value || declared_scalar(model, path);
        return Ok(Source::Index { index, ranges, ordered, reverse, served, distinct, key_order: one_value });
    }
    if let Some(o) = first_order {
        let index = model.index_on(&o.path).filter(|i| !i.unique && built(i));
        if let Some(index) = index.filter(|i| orderable(model, i, &holds)) {
            let reverse = o.direction == crate::plan::Direction::Desc;
            let all = (Bound::Unbounded, Bound::Unbounded);
            let source = Source::Index {
                index,
                ranges: vec![all],
                ordered: true,
                reverse,
                served: Vec::new(),
                distinct: declared_scalar(model, index.path),
                key_order: false,
            };
            return Ok(source);
        }
    }
    Ok(Source::Scan)
}

/// [`choose`], with the plan's conditions on the key read as ranges of the records table
/// ([`Source::Keys`]) when they hold fewer records than the index chosen otherwise: always
/// when they name single keys or nothing else narrows the read, else the fewer entries as
/// `count` and `count_keys` count them (up to a cap that grows as in [`choose`]).
pub(crate) fn choose_with_keys(
    model: &'static ModelDesc,
    plan: &Plan,
    built: impl Fn(&IndexDesc) -> bool,
    holds: impl Fn(&IndexDesc, u8) -> bool,
    count: impl Fn(&IndexDesc, &[KeyRange], usize) -> Result<usize>,
    count_keys: impl Fn(&[KeyRange], usize) -> Result<usize>,
) -> Result<Source> {
    let source = choose(model, plan, built, holds, &count)?;
    let Some((key_ranges, served)) = key_ranges(plan) else { return Ok(source) };
    let reverse = plan.order.first().is_some_and(|o| o.path == KEY && o.direction == crate::plan::Direction::Desc);
    let points = key_points(plan, &served);
    let keys = Source::Keys { ranges: key_ranges, reverse, served };
    let Source::Index { index, ranges, .. } = &source else { return Ok(keys) };
    let Source::Keys { ranges: key_ranges, .. } = &keys else { unreachable!("built above") };
    if points || key_ranges.is_empty() {
        return Ok(keys);
    }
    if ranges.is_empty() {
        return Ok(source);
    }
    let mut cap = 32usize;
    loop {
        let in_keys = count_keys(key_ranges, cap)?;
        let in_index = count(index, ranges, cap)?;
        if in_keys < cap || in_index < cap || cap >= 1 << 24 {
            return Ok(if in_keys <= in_index { keys } else { source });
        }
        cap *= 16;
    }
}

/// The candidate whose ranges hold the fewest entries (the more selective kind of lookup
/// among equals, then the first).
fn fewest_entries<'p>(
    picks: Vec<Pick<'p>>,
    count: &impl Fn(&IndexDesc, &[KeyRange], usize) -> Result<usize>,
) -> Result<Pick<'p>> {
    // An empty candidate answers the query without counting the others.
    if let Some(at) = picks.iter().position(|p| p.ranges.is_empty()) {
        return Ok(picks.into_iter().nth(at).expect("the position is in the list"));
    }
    let mut order: Vec<usize> = (0..picks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(picks[i].score));
    let mut cap = 32usize;
    let chosen = loop {
        let mut best: Option<(usize, usize)> = None;
        for &i in &order {
            let limit = best.map_or(cap, |b| b.0);
            let n = count(picks[i].index, &picks[i].ranges, limit)?;
            if n < limit {
                best = Some((n, i));
            }
        }
        match best {
            Some((_, i)) => break i,
            None if cap >= 1 << 24 => break order[0],
            None => cap *= 16,
        }
    };
    Ok(picks.into_iter().nth(chosen).expect("the chosen candidate is in the list"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::key::ObjectId;
    use crate::core::value::test_document;

    /// Every value class, lists (empty, with repeats, of documents) and documents.
    fn values() -> Vec<Value> {
        let inner = Value::Document(vec![("g".into(), Value::Int32(1)), ("h".into(), Value::String("x".into()))]);
        vec![
            Value::Null,
            Value::Int32(-3),
            Value::Int64(1 << 60),
            Value::Double(2.5),
            Value::Double(f64::NAN),
            Value::Double(-0.0),
            Value::String(String::new()),
            Value::String("a\0b".into()),
            Value::String("é".into()),
            Value::Bool(true),
            Value::DateTime(chrono::DateTime::from_timestamp_millis(-5).expect("a time")),
            Value::ObjectId(ObjectId::new()),
            Value::Binary(vec![0, 1, 2]),
            Value::Decimal("1.50".parse().expect("a decimal")),
            inner.clone(),
            Value::Array(Vec::new()),
            Value::Array(vec![Value::Int32(1), Value::Int32(1), Value::String("x".into())]),
            Value::Array(vec![inner, Value::Null]),
        ]
    }

    #[test]
    fn entry_keys_are_the_entries_for_every_value_and_index_kind() {
        let pk = crate::core::key::KeyValue::Int(42).to_storage();
        let mut out = Vec::new();
        let mut checked = 0;
        for path in ["f", "f.g", "other"] {
            for (unique, covering) in [(false, false), (true, false), (false, true)] {
                let index = IndexDesc { path, unique, covering, counted: false };
                for v in values() {
                    // The field alone, between others, and after one of the same name deeper down.
                    let docs = [
                        test_document(&[("f", v.clone())]),
                        test_document(&[("a", Value::Int32(1)), ("f", v.clone()), ("z", Value::Null)]),
                        test_document(&[
                            ("ff", Value::Document(vec![("f".into(), Value::Int32(9))])),
                            ("f", v.clone()),
                        ]),
                    ];
                    for doc in &docs {
                        let want = entries(&index, doc, &pk).expect("entries");
                        entry_keys(&index, doc, &pk, &mut out).expect("entry keys");
                        assert_eq!(out, want, "{path} unique {unique} value {v:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 3 * values().len() * 3);
    }

    /// An entry read from an equality's range finds the record key the full parse finds,
    /// for entries of every value read with every value's range start, of every index kind.
    #[test]
    fn entries_read_after_a_range_point_are_read_as_in_full() {
        let pks = [
            crate::core::key::KeyValue::Int(42).to_storage(),
            crate::core::key::KeyValue::Str("k\0\u{ff}".into()).to_storage(),
        ];
        let mut checked = 0;
        for (unique, covering) in [(false, false), (true, false), (false, true)] {
            let index = IndexDesc { path: "f", unique, covering, counted: false };
            for v in values() {
                for pk in &pks {
                    let doc = test_document(&[("f", v.clone())]);
                    for key in entries(&index, &doc, pk).expect("entries") {
                        let value = entry_value(&index, &doc, pk);
                        for start in values() {
                            let lo = encoded(&start);
                            let range =
                                (Bound::Included(lo.clone()), successor(&lo).map_or(Bound::Unbounded, Bound::Excluded));
                            let point = point_of(&range);
                            assert_eq!(point, Some(lo.as_slice()), "a whole value starts the range");
                            let full = read_entry(&index, &key, &value).expect("an entry");
                            assert_eq!(read_entry_at(&index, point, &key, &value).expect("an entry"), full);
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 3 * 18 * 18 * 2, "{checked}");
        // A bound that is not a whole value is no point.
        assert_eq!(
            point_of(&(Bound::Included(vec![keys::class_tag(&Value::String("x".into()))]), Bound::Unbounded)),
            None
        );
    }

    #[test]
    fn entry_keys_refuse_what_entries_refuse() {
        let index = IndexDesc { path: "f", unique: false, covering: false, counted: false };
        // A text value that is not UTF-8.
        let mut doc = test_document(&[("f", Value::String("ab".into()))]);
        let at = doc.iter().position(|&b| b == b'a').expect("the text");
        doc[at] = 0xFF;
        let mut out = vec![b"stale".to_vec()];
        let slow = entries(&index, &doc, b"k").expect_err("not UTF-8");
        let fast = entry_keys(&index, &doc, b"k", &mut out).expect_err("not UTF-8");
        assert_eq!(fast.kind(), slow.kind());
        assert_eq!(fast.to_string(), slow.to_string());
        // A document cut short.
        let doc = test_document(&[("f", Value::Int32(1))]);
        let cut = &doc[..doc.len() - 3];
        assert_eq!(
            entry_keys(&index, cut, b"k", &mut out).expect_err("cut short").kind(),
            entries(&index, cut, b"k").expect_err("cut short").kind()
        );
    }

    #[test]
    fn an_entry_reads_its_record_key_from_where_it_is_kept() {
        let pk = crate::core::key::KeyValue::Int(5).to_storage();
        let doc = test_document(&[("f", Value::String("v".into()))]);
        for (unique, covering) in [(false, false), (true, false), (false, true), (true, true)] {
            let index = IndexDesc { path: "f", unique, covering, counted: false };
            let mut keys = Vec::new();
            entry_keys(&index, &doc, &pk, &mut keys).expect("entry keys");
            let value = entry_value(&index, &doc, &pk);
            let (read, inline) = read_entry(&index, &keys[0], &value).expect("an entry");
            assert_eq!(read, pk.as_slice(), "unique {unique} covering {covering}");
            assert_eq!(inline, covering.then_some(doc.as_slice()));
        }
        // A plain entry whose key does not start with a value is corrupt, not a wrong key.
        let index = IndexDesc { path: "f", unique: false, covering: false, counted: false };
        for key in [&b""[..], &[0x33, 1], &[0x20, b'v', 0]] {
            let e = read_entry(&index, key, b"").expect_err("corrupt");
            assert_eq!(e.kind(), ErrorKind::Corrupt);
            assert!(e.to_string().contains("index on `f`"), "{e}");
        }
    }
}
