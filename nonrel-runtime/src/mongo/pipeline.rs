//! Updates as aggregation pipelines, for what update operators cannot say in one step: an
//! `inc` that counts a stored null as 0, and a save that keeps the fields the program does
//! not know inside embedded models, both without reading the record first.
//!
//! Every user value in a pipeline is wrapped in `$literal`, so none is ever read as a field
//! path or an expression.

use super::{convert, driver, Mongo};
use crate::backend::{UpdateKind, UpdateOp};
use crate::core::value::Value;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::schema::model::{FieldDesc, Shape};

fn doc<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Document(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// A user value, never read as an expression.
pub(super) fn literal(v: Value) -> Value {
    doc([("$literal", v)])
}

/// Whether update operators cannot run `ops` as the backend promises (an `inc` on a null).
pub(super) fn needs_pipeline(ops: &[UpdateOp]) -> bool {
    ops.iter().any(|op| op.kind == UpdateKind::Inc)
}

/// `[{$set: {path: expression, ...}}]`: every operation computed from the stored document,
/// in one stage, as the update operators would.
pub(super) fn update(ops: &[UpdateOp]) -> Value {
    let fields = ops.iter().map(|op| (op.path.to_string(), expression(op))).collect();
    Value::Array(vec![doc([("$set", Value::Document(fields))])])
}

fn expression(op: &UpdateOp) -> Value {
    let here = Value::String(format!("${}", op.path));
    let v = literal(op.value.clone());
    match op.kind {
        UpdateKind::Set => v,
        UpdateKind::Inc => {
            let double = matches!(op.value, Value::Double(_));
            let sum = doc([("$add", Value::Array(vec![number_or_zero(here.clone()), v]))]);
            if double {
                sum
            } else {
                without_overflow(sum, here)
            }
        }
        UpdateKind::Push => {
            let list = doc([("$ifNull", Value::Array(vec![here, Value::Array(vec![])]))]);
            doc([("$concatArrays", Value::Array(vec![list, Value::Array(vec![v])]))])
        }
        UpdateKind::Pull => {
            let keep = doc([("$ne", Value::Array(vec![string("$$this"), v]))]);
            doc([("$filter", doc([("input", here), ("cond", keep)]))])
        }
    }
}

/// The stored number; 0 (an int32, so the increment keeps its type) for a null or missing
/// value; for anything else its type name, which `$add` refuses.
fn number_or_zero(here: Value) -> Value {
    let type_of = doc([("$type", here.clone())]);
    let is_number = doc([("case", doc([("$isNumber", here.clone())])), ("then", here)]);
    let absent = Value::Array(vec![string("missing"), string("null")]);
    let is_absent =
        doc([("case", doc([("$in", Value::Array(vec![type_of.clone(), absent]))])), ("then", Value::Int32(0))]);
    doc([("$switch", doc([("branches", Value::Array(vec![is_number, is_absent])), ("default", type_of)]))])
}

/// `sum` (of the value `here` and an integer), refused where `$inc` refuses it: `$add`
/// turns an int64 overflow into a double, so a double from a stored integer fails the
/// update (by adding 0 to the name of its type, which `$add` refuses).
fn without_overflow(sum: Value, here: Value) -> Value {
    let double = |v: Value| doc([("$eq", Value::Array(vec![doc([("$type", v)]), string("double")]))]);
    let not = |v: Value| doc([("$not", Value::Array(vec![v]))]);
    let overflowed = doc([("$and", Value::Array(vec![double(string("$$sum")), not(double(here))]))]);
    let refuse = doc([("$add", Value::Array(vec![doc([("$type", string("$$sum"))]), Value::Int32(0)]))]);
    let checked = doc([("$cond", Value::Array(vec![overflowed, refuse, string("$$sum")]))]);
    doc([("$let", doc([("vars", doc([("sum", sum)])), ("in", checked)]))])
}

/// Why a pipeline update with `inc` failed: the first record the plan matches whose stored
/// value cannot be added to, as the error the embedded backend gives for it (read only
/// after the server refused the update). `None` when no record explains it (the value
/// changed since).
pub(super) async fn inc_failure(
    mongo: &Mongo,
    model: &crate::schema::model::ModelDesc,
    plan: &Plan,
    ops: &[UpdateOp],
) -> Result<Option<Error>> {
    let incs: Vec<&UpdateOp> = ops.iter().filter(|op| op.kind == UpdateKind::Inc).collect();
    let mut projection = bson::Document::new();
    for op in &incs {
        projection.insert(op.path.to_string(), 1);
    }
    let filter = convert::filter(&plan.filters)?;
    let coll = mongo.raw_collection(model);
    let mut cursor =
        coll.find(filter).projection(projection).await.map_err(|e| driver(e, "reading a refused update"))?;
    while cursor.advance().await.map_err(|e| driver(e, "reading a refused update"))? {
        let raw = cursor.current().as_bytes();
        let fields = Value::fields_of(raw)?;
        for op in &incs {
            let stored = value_at(&fields, &op.path).unwrap_or(&Value::Null);
            if let Err(e) = crate::plan::update::add(stored, &op.value) {
                let e = e.with_field(&op.path);
                return Ok(Some(match convert::id_of(raw) {
                    Ok(key) => e.with_key(&key),
                    Err(_) => e,
                }));
            }
        }
    }
    Ok(None)
}

/// The value at a dotted path of a document, if there is one.
fn value_at<'a>(fields: &'a [(String, Value)], path: &str) -> Option<&'a Value> {
    let (first, rest) = path.split_once('.').map_or((path, None), |(a, b)| (a, Some(b)));
    let v = fields.iter().find(|(k, _)| k == first).map(|(_, v)| v)?;
    match (rest, v) {
        (None, v) => Some(v),
        (Some(rest), Value::Document(inner)) => value_at(inner, rest),
        _ => None,
    }
}

/// Whether saving `doc` (a document of `fields`) must merge embedded models with the stored
/// ones: some embedded model, or a list of them with an element, holds a value.
pub(super) fn needs_merge(fields: &[FieldDesc], doc: &[u8]) -> Result<bool> {
    if !crate::schema::unknown::has_embedded(fields) {
        return Ok(false);
    }
    for el in crate::core::codec::Elements::new(doc)? {
        let el = el?;
        let nested = fields.iter().find(|f| f.name.as_bytes() == el.name).is_some_and(|f| !f.shape.is_plain());
        // An empty list (5 bytes of framing) has no element to merge.
        if nested && (el.ty == crate::core::codec::DOCUMENT || el.ty == crate::core::codec::ARRAY && el.value.len() > 5)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `[{$replaceWith: ...}]`: the record becomes `doc` (with its `_id`), each embedded model
/// merged with the stored one so the fields the program does not know stay, at every depth;
/// the top level keeps its unknown fields too, unless the model holds them itself
/// (`has_extra`).
pub(super) fn save(fields: &'static [FieldDesc], has_extra: bool, record: Vec<(String, Value)>) -> Value {
    let root = merged(string("$$ROOT"), record, fields, has_extra);
    Value::Array(vec![doc([("$replaceWith", root)])])
}

/// A document of `fields` with the values `doc`, over the stored value `src`.
fn merged(src: Value, doc_fields: Vec<(String, Value)>, fields: &'static [FieldDesc], has_extra: bool) -> Value {
    let mut parts = Vec::new();
    if !has_extra {
        // A position past the end of a stored list is missing: `$ifNull` makes it a null
        // for every server (one reported the type of a missing value as "object").
        let stored = doc([("$ifNull", Value::Array(vec![string("$$s"), Value::Null]))]);
        let is_doc = doc([("$eq", Value::Array(vec![doc([("$type", stored)]), string("object")]))]);
        parts.push(doc([("$cond", Value::Array(vec![is_doc, string("$$s"), Value::Document(vec![])]))]));
    }
    let mut nested = Vec::new();
    for (name, v) in &doc_fields {
        let shape = fields.iter().find(|f| f.name == name).map_or(Shape::Plain, |f| f.shape);
        let holds = matches!(v, Value::Document(_)) || matches!(v, Value::Array(items) if !items.is_empty());
        if !shape.is_plain() && holds {
            nested.push((name.clone(), value(string(&format!("$$s.{name}")), v.clone(), shape)));
        }
    }
    parts.push(literal(Value::Document(doc_fields)));
    if !nested.is_empty() {
        parts.push(Value::Document(nested));
    }
    let body = doc([("$mergeObjects", Value::Array(parts))]);
    doc([("$let", doc([("vars", doc([("s", src)])), ("in", body)]))])
}

/// The value `v` of shape `shape` over the stored value `src`.
fn value(src: Value, v: Value, shape: Shape) -> Value {
    match (shape, v) {
        (Shape::Nested { fields, has_extra }, Value::Document(d)) => merged(src, d, fields(), has_extra),
        (Shape::List(inner), Value::Array(items)) => {
            let list = doc([("$isArray", Value::Array(vec![string("$$a")]))]);
            let stored = doc([("$cond", Value::Array(vec![list, string("$$a"), Value::Array(vec![])]))]);
            let at = |i: usize| doc([("$arrayElemAt", Value::Array(vec![string("$$l"), Value::Int64(i as i64)]))]);
            let items = items.into_iter().enumerate().map(|(i, item)| value(at(i), item, *inner)).collect();
            let inner = doc([("$let", doc([("vars", doc([("l", stored)])), ("in", Value::Array(items))]))]);
            doc([("$let", doc([("vars", doc([("a", src)])), ("in", inner)]))])
        }
        (_, v) => literal(v),
    }
}
