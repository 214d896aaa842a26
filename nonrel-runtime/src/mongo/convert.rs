//! Plans and documents in MongoDB's terms.

use crate::backend::Row;
use crate::core::codec::{self, begin_document, end_document, Elements, Encode};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Direction, Filter, Op, OrderBy, Plan, Projection};
use crate::schema::key::KeyValue;
use bson::{Bson, Document, RawDocument};
use mongodb::options::FindOptions;

/// A document built as a `Value` tree, as the driver's `Document` (built directly: no
/// bytes in between).
pub(crate) fn document(fields: Vec<(String, Value)>) -> Result<Document> {
    fields.into_iter().map(|(k, v)| Ok((k, to_bson(v)?))).collect()
}

/// A value as the driver's `Bson`.
fn to_bson(v: Value) -> Result<Bson> {
    Ok(match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Int32(n) => Bson::Int32(n),
        Value::Int64(n) => Bson::Int64(n),
        Value::Double(f) => Bson::Double(f),
        Value::String(s) => Bson::String(s),
        Value::ObjectId(o) => Bson::ObjectId(bson::oid::ObjectId::from_bytes(o.bytes())),
        Value::DateTime(d) => Bson::DateTime(bson::DateTime::from_millis(d.timestamp_millis())),
        Value::Array(items) => Bson::Array(items.into_iter().map(to_bson).collect::<Result<_>>()?),
        Value::Document(fields) => Bson::Document(document(fields)?),
        other => {
            // Decimals, binaries and the rarer types: through their BSON bytes.
            let bytes = raw_document(vec![("v".into(), other)])?;
            let raw = RawDocument::from_bytes(&bytes).map_err(driver_bson)?;
            let value = raw.get("v").map_err(driver_bson)?.ok_or_else(|| driver_bson("value lost"))?;
            Bson::try_from(value).map_err(driver_bson)?
        }
    })
}

/// A document built as a `Value` tree, as BSON bytes.
pub(crate) fn raw_document(fields: Vec<(String, Value)>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    let start = begin_document(&mut out);
    for (k, v) in &fields {
        v.encode(&codec::cname(k)?, &mut out)?;
    }
    end_document(&mut out, start)?;
    Ok(out)
}

fn driver_bson(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Encode, format!("document rejected by the driver: {e}"))
}

/// `v` as the value of a key (`_id`).
pub(crate) fn key_value(k: &KeyValue) -> Value {
    match k {
        KeyValue::Int(n) => Value::Int64(*n),
        KeyValue::Str(s) => Value::String(s.clone()),
        KeyValue::ObjectId(o) => Value::ObjectId(*o),
    }
}

/// A key as the driver's `Bson`, taken by value.
pub(crate) fn key_bson(k: KeyValue) -> Bson {
    match k {
        KeyValue::Int(n) => Bson::Int64(n),
        KeyValue::Str(s) => Bson::String(s),
        KeyValue::ObjectId(o) => Bson::ObjectId(bson::oid::ObjectId::from_bytes(o.bytes())),
    }
}

/// A filter on `_id` for these keys.
pub(crate) fn keys_filter(keys: &[KeyValue]) -> Result<Document> {
    let ids = Value::Array(keys.iter().map(key_value).collect());
    document(vec![("_id".into(), Value::Document(vec![("$in".into(), ids)]))])
}

fn op(name: &str, v: Value) -> Value {
    Value::Document(vec![(name.into(), v)])
}

/// A regex matching text that contains (or starts with) `s` literally.
fn regex(s: &str, anchored: bool) -> Value {
    let anchor = if anchored { "^" } else { "" };
    super::lookup::regex(&format!("{anchor}{}", super::lookup::escape(s)), "")
}

/// `v` compared literally: `{$eq: v}` (a bare document would be read as operators, a bare
/// regular expression as a pattern).
fn literal(v: &Value) -> Value {
    op("$eq", v.clone())
}

/// Whether `v` is a BSON regular expression, which MongoDB reads as a pattern in `$in` and
/// refuses in `$ne`.
fn is_regex(v: &Value) -> bool {
    matches!(v, Value::Raw(0x0B, _))
}

/// Whether `$in` cannot hold `v` literally: a document (one whose first key starts with `$`
/// is refused) or a regular expression (a pattern there).
fn not_in_safe(v: &Value) -> bool {
    matches!(v, Value::Document(_)) || is_regex(v)
}

fn condition(f: &Filter) -> Value {
    match &f.op {
        Op::Eq(v) | Op::Has(v) => literal(v),
        Op::Ne(v) if is_regex(v) => op("$not", literal(v)),
        Op::Ne(v) => op("$ne", v.clone()),
        Op::In(vs) => op("$in", Value::Array(vs.clone())),
        Op::Gt(v) => op("$gt", v.clone()),
        Op::Gte(v) => op("$gte", v.clone()),
        Op::Lt(v) => op("$lt", v.clone()),
        Op::Lte(v) => op("$lte", v.clone()),
        Op::Range(lo, hi) => Value::Document(vec![("$gte".into(), lo.clone()), ("$lte".into(), hi.clone())]),
        Op::IsNull(true) => Value::Null,
        Op::IsNull(false) => op("$ne", Value::Null),
        Op::StartsWith(p) => op("$regex", regex(p, true)),
        Op::Contains(s) => op("$regex", regex(s, false)),
        Op::ElemMatch(filters) => op("$elemMatch", element_conditions(filters)),
        Op::Lookup(l) => super::lookup::condition(l),
        // Resolved before a plan reaches the backend (`filter` refuses it): matches nothing.
        Op::Join(_) => op("$in", Value::Array(Vec::new())),
        // Top-level operators (see `term`), never under a path.
        Op::Or(_) | Op::Not(_) => {
            let (name, value) = term(f);
            Value::Document(vec![(name, value)])
        }
    }
}

/// A filter no record matches (`$or` and `$nor` take no empty list).
fn nothing() -> (String, Value) {
    ("_id".into(), op("$in", Value::Array(Vec::new())))
}

/// An `in` holding documents or regular expressions: `$or` of the plain values' `$in` and
/// one `$eq` per other value, so every value is compared literally.
fn literal_in(path: &str, values: &[Value]) -> (String, Value) {
    let (odd, plain): (Vec<&Value>, Vec<&Value>) = values.iter().partition(|v| not_in_safe(v));
    let field = |c: Value| Value::Document(vec![(path.to_string(), c)]);
    let mut alternatives: Vec<Value> = odd.into_iter().map(|v| field(literal(v))).collect();
    if !plain.is_empty() {
        alternatives.push(field(op("$in", Value::Array(plain.into_iter().cloned().collect()))));
    }
    ("$or".into(), Value::Array(alternatives))
}

/// A filter as one field of a filter document: its path and condition, or a top-level
/// operator for lookups that need one (`$expr` for date parts).
fn term(f: &Filter) -> (String, Value) {
    match &f.op {
        Op::Lookup(l) => super::lookup::term(&f.path, l).unwrap_or_else(|| (f.path.to_string(), condition(f))),
        Op::In(vs) if vs.iter().any(not_in_safe) => literal_in(&f.path, vs),
        Op::Range(lo, hi) => range(&f.path, lo, hi),
        Op::Or(branches) if branches.is_empty() => nothing(),
        Op::Or(branches) => ("$or".into(), Value::Array(branches.iter().map(|b| conditions(b)).collect())),
        // Not all of no conditions: nothing matches.
        Op::Not(filters) if filters.is_empty() => nothing(),
        Op::Not(filters) => ("$nor".into(), Value::Array(vec![conditions(filters)])),
        _ => (f.path.to_string(), condition(f)),
    }
}

/// A range as `$and` of its two bounds. Through a list each bound may hold on a different
/// element, but some servers intersect the bounds of `{$gte, $lte}` on a multikey index and
/// miss those records; kept apart, each bound is checked on its own.
fn range(path: &str, lo: &Value, hi: &Value) -> (String, Value) {
    let field = |c: Value| Value::Document(vec![(path.to_string(), c)]);
    ("$and".into(), Value::Array(vec![field(op("$gte", lo.clone())), field(op("$lte", hi.clone()))]))
}

/// Conditions as one field per path when no path repeats, else under `$and`.
fn conditions(filters: &[Filter]) -> Value {
    let terms: Vec<(String, Value)> = filters.iter().map(term).collect();
    let mut paths: Vec<&str> = terms.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    if paths.len() < filters.len() {
        return and(filters);
    }
    Value::Document(terms)
}

/// The conditions on one element of a list (`$elemMatch`): a range as one `{$gte, $lte}`
/// (some servers take no `$and` inside `$elemMatch`; each bound still holds on any value
/// at its path), the others as [`conditions`].
fn element_conditions(filters: &[Filter]) -> Value {
    let mut paths: Vec<&str> = filters.iter().map(|f| f.path.as_ref()).collect();
    paths.sort_unstable();
    paths.dedup();
    if paths.len() < filters.len()
        || filters.iter().any(|f| !matches!(f.op, Op::Range(..)) && term(f).0.starts_with('$'))
    {
        return conditions(filters);
    }
    Value::Document(
        filters
            .iter()
            .map(|f| match &f.op {
                Op::Range(..) => (f.path.to_string(), condition(f)),
                _ => term(f),
            })
            .collect(),
    )
}

/// Every filter under `$and` (one document, so repeated paths do not collide).
fn and(filters: &[Filter]) -> Value {
    let terms = filters.iter().map(|f| Value::Document(vec![term(f)])).collect();
    Value::Document(vec![("$and".into(), Value::Array(terms))])
}

/// Whether a value of the filters holds a `$where` key at any depth: MongoDB refuses one
/// anywhere in an aggregation's `$match`, even as a literal operand, so such filters run
/// through `find`-style commands (which compare it literally).
pub(crate) fn names_where(filters: &[Filter]) -> bool {
    fn holds(v: &Value) -> bool {
        match v {
            Value::Document(fields) => fields.iter().any(|(k, v)| k == "$where" || holds(v)),
            Value::Array(items) => items.iter().any(holds),
            _ => false,
        }
    }
    holds(&filter_value(filters))
}

/// The projection document of a set of fields, if there is one.
pub(crate) fn projection(fields: Option<&Projection>) -> Result<Option<Document>> {
    let Some(p) = fields else { return Ok(None) };
    let (names, keep) = match p {
        Projection::Only(names) => (names, 1),
        Projection::Defer(names) => (names, 0),
    };
    document(names.iter().map(|n| (n.clone(), Value::Int32(keep))).collect()).map(Some)
}

/// The first condition across a `Ref` left in an OR or a NOT (the runtime resolves each
/// before a plan reaches the backend).
fn unresolved_join(filters: &[Filter]) -> Option<&Filter> {
    filters.iter().find_map(|f| match &f.op {
        Op::Join(_) => Some(f),
        Op::Or(branches) => branches.iter().find_map(|b| unresolved_join(b)),
        Op::Not(inner) => unresolved_join(inner),
        _ => None,
    })
}

/// Conditions as a filter `Value` document (for raw commands).
pub(crate) fn filter_value(filters: &[Filter]) -> Value {
    if filters.is_empty() {
        return Value::Document(Vec::new());
    }
    conditions(filters)
}

/// Conditions as a filter document: one field per path (the form servers plan best, with
/// their indexes), or `$and` when a path repeats.
pub(crate) fn filter(filters: &[Filter]) -> Result<Document> {
    if let Some(j) = unresolved_join(filters) {
        let msg = "a condition across a `Ref` inside an OR or a NOT reaches MongoDB only resolved into an `in` lookup";
        return Err(Error::new(ErrorKind::Unsupported, msg).with_field(&j.path));
    }
    let Value::Document(fields) = filter_value(filters) else { unreachable!("conditions builds a document") };
    document(fields)
}

/// The sort document of an order, the key breaking ties; every term reversed when reading
/// `backward` (the pages before a cursor).
pub(crate) fn sort(order: &[OrderBy], backward: bool) -> Result<Document> {
    let dir = |asc: bool| Value::Int32(if asc != backward { 1 } else { -1 });
    let mut terms: Vec<(String, Value)> =
        order.iter().map(|o| (o.path.to_string(), dir(o.direction == Direction::Asc))).collect();
    terms.push(("_id".into(), dir(true)));
    document(terms)
}

/// How a `find` reads a plan's rows: in its order (reversed when `backward`), past its
/// offset, with its fields, at most its limit. `None` when the limit is 0, which the driver
/// would read as no limit: nothing is to be read.
pub(crate) fn find_options(plan: &Plan, backward: bool) -> Result<Option<FindOptions>> {
    if plan.limit == Some(0) {
        return Ok(None);
    }
    let mut options = FindOptions::default();
    options.sort = Some(sort(&plan.order, backward)?);
    options.skip = (plan.offset > 0).then_some(plan.offset as u64);
    options.projection = projection(plan.projection.as_ref())?;
    options.limit = plan.limit.map(|l| l as i64);
    Ok(Some(options))
}

/// The `_id` of a stored document.
pub(crate) fn id_of(doc: &[u8]) -> Result<KeyValue> {
    for el in Elements::new(doc)? {
        let el = el?;
        if el.name == b"_id" {
            return crate::schema::key::decode_id(&el);
        }
    }
    Err(Error::new(ErrorKind::Decode, "stored document has no _id"))
}

/// A model document (no `_id`) with `_id` appended.
pub(crate) fn with_id(mut doc: Vec<u8>, key: &KeyValue) -> Result<Vec<u8>> {
    doc.pop();
    key.encode(b"_id\0", &mut doc)?;
    doc.push(0);
    let len = doc.len();
    doc[..4].copy_from_slice(&(len as i32).to_le_bytes());
    Ok(doc)
}

/// Whether a document has any element.
pub(crate) fn has_fields(doc: &[u8]) -> bool {
    doc.len() > 5
}

/// A stored document as a row: its `_id` as the key and the rest as the document, in one
/// pass over the elements.
pub(crate) fn row(doc: &[u8]) -> Result<Row> {
    let mut key = None;
    let mut out = Vec::with_capacity(doc.len());
    let start = begin_document(&mut out);
    for el in Elements::new(doc)? {
        let el = el?;
        if el.name == b"_id" {
            key = Some(crate::schema::key::decode_id(&el)?);
        } else {
            out.extend_from_slice(el.raw);
        }
    }
    end_document(&mut out, start)?;
    let key = key.ok_or_else(|| Error::new(ErrorKind::Decode, "stored document has no _id"))?;
    Ok(Row { key: Some(key), doc: out, ..Row::default() })
}

/// A stored document without its `_id` (the backend contract: keys travel beside documents).
pub(crate) fn without_id(doc: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(doc.len());
    let start = begin_document(&mut out);
    for el in Elements::new(doc)? {
        let el = el?;
        if el.name != b"_id" {
            out.extend_from_slice(el.raw);
        }
    }
    end_document(&mut out, start)?;
    Ok(out)
}
