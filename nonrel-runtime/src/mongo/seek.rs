//! Pages from a cursor on MongoDB: the position becomes a range filter on the sort keys.
//!
//! "After (a1, ..., an, k)" in the order `t1, ..., tn, _id` is the union of the rows beyond
//! `a1` on `t1`, the rows equal on `t1` and beyond `a2` on `t2`, ..., and the rows equal on
//! every term with a greater `_id`. MongoDB's `$gt`/`$lt` compare within one type class only,
//! so "beyond" also names, with `$type`, the classes that sort past the value's (null and
//! missing fields sort first), which keeps the pages exact on fields that mix types.

use super::{convert, Mongo};
use crate::backend::Row;
use crate::core::value::Value;
use crate::error::Result;
use crate::plan::eval::{single_valued, sort_key, EMPTY_LIST};
use crate::plan::seek::Seek;
use crate::plan::{Direction, Plan};
use crate::schema::model::ModelDesc;

/// BSON type aliases by place in the sort order (as `Value::type_rank`).
const TYPES: &[(u8, &str)] = &[
    (2, "double"),
    (2, "int"),
    (2, "long"),
    (2, "decimal"),
    (3, "string"),
    (3, "symbol"),
    (4, "object"),
    (5, "array"),
    (6, "binData"),
    (7, "objectId"),
    (8, "bool"),
    (9, "date"),
    (10, "timestamp"),
    (10, "regex"),
    (10, "javascript"),
    (11, "maxKey"),
];

fn field(path: &str, condition: Value) -> Value {
    Value::Document(vec![(path.into(), condition)])
}

fn op(name: &str, v: Value) -> Value {
    Value::Document(vec![(name.into(), v)])
}

fn any(mut alternatives: Vec<Value>) -> Value {
    if alternatives.len() == 1 {
        return alternatives.remove(0);
    }
    op("$or", Value::Array(alternatives))
}

/// Values of `path` strictly past `value` in the direction read.
fn beyond(path: &str, value: &Value, upwards: bool) -> Value {
    if *value == EMPTY_LIST {
        // An empty list sorts below every value: upwards every record may be past it (the
        // rows are checked against the position after reading), downwards none is.
        return if upwards { field("_id", op("$exists", Value::Bool(true))) } else { nothing(path) };
    }
    let rank = value.type_rank();
    let mut alternatives = Vec::new();
    let nan = matches!(value, Value::Double(f) if f.is_nan());
    if nan && upwards {
        // NaN sorts below every number, but `$gt: NaN` matches none: every other number.
        alternatives.push(field(path, op("$gte", Value::Double(f64::NEG_INFINITY))));
    } else if !matches!(value, Value::Null) {
        alternatives.push(field(path, op(if upwards { "$gt" } else { "$lt" }, value.clone())));
    }
    if rank == 2 && !nan && !upwards {
        // `$lt` on a number never matches NaN, which sorts below every number.
        alternatives.push(field(path, Value::Double(f64::NAN)));
    }
    let past: Vec<Value> = TYPES
        .iter()
        .filter(|(r, _)| if upwards { *r > rank } else { *r < rank })
        .map(|(_, name)| Value::String((*name).into()))
        .collect();
    if !past.is_empty() {
        alternatives.push(field(path, op("$type", Value::Array(past))));
    }
    if !upwards && rank > 1 {
        // Null and missing fields sort below every value.
        alternatives.push(null_or_missing(path));
    }
    if !upwards {
        // An empty list sorts below null.
        alternatives.push(field(path, Value::Array(Vec::new())));
    }
    if alternatives.is_empty() {
        return nothing(path);
    }
    any(alternatives)
}

/// Nothing sorts past: a condition no document meets.
fn nothing(path: &str) -> Value {
    field(path, op("$in", Value::Array(Vec::new())))
}

/// Records whose sort value on `path` may be `value` (an empty list: the records holding one).
fn equal_to(path: &str, value: &Value) -> Value {
    if *value == EMPTY_LIST {
        return field(path, op("$in", Value::Array(vec![Value::Array(Vec::new()), EMPTY_LIST])));
    }
    if matches!(value, Value::Null) {
        return null_or_missing(path);
    }
    // `$eq`: the position's value is compared literally, never read as operators.
    field(path, op("$eq", value.clone()))
}

/// Null or missing, also where the path crosses an empty list (which `{path: null}` misses).
fn null_or_missing(path: &str) -> Value {
    any(vec![field(path, Value::Null), field(path, op("$exists", Value::Bool(false)))])
}

/// The filter for the rows a seek wants.
fn position(plan: &Plan, seek: &Seek) -> Value {
    let mut branches = Vec::new();
    let mut equal = Vec::new();
    for (o, value) in plan.order.iter().zip(&seek.values) {
        let upwards = (o.direction == Direction::Asc) != seek.backward;
        let mut terms = equal.clone();
        terms.push(beyond(&o.path, value, upwards));
        branches.push(op("$and", Value::Array(terms)));
        equal.push(equal_to(&o.path, value));
    }
    equal.push(beyond("_id", &convert::key_value(&seek.key), !seek.backward));
    branches.push(op("$and", Value::Array(equal)));
    any(branches)
}

pub(super) async fn query_seek(mongo: &Mongo, model: &'static ModelDesc, plan: Plan, seek: Seek) -> Result<Vec<Row>> {
    // A seek starts at its position: the plan's offset does not apply (as when paging in
    // memory).
    let plan = Plan { offset: 0, ..plan };
    let Some(mut options) = convert::find_options(&plan, seek.backward)? else { return Ok(Vec::new()) };
    let filter = match convert::filter_value(&plan.filters) {
        Value::Document(fields) if fields.is_empty() => position(&plan, &seek),
        filters => op("$and", Value::Array(vec![filters, position(&plan, &seek)])),
    };
    let Value::Document(filter) = filter else { unreachable!("filters are documents") };
    let filter = convert::document(filter)?;
    // On a path holding lists the position filter is wider than the position (a list sorts
    // by its smallest or largest element, a filter matches any element): the rows it lets
    // through are checked against the position here, and read on until the page is full.
    if seek.backward && !plan.order.iter().all(|o| single_valued(model, &o.path)) {
        return before_on_lists(mongo, model, plan, seek, filter).await;
    }
    let limit = plan.limit.unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    let mut skipped = 0u64;
    loop {
        options.skip = (skipped > 0).then_some(skipped);
        let batch = mongo.find_rows(model, filter.clone(), options.clone(), "reading a page", "reading a page").await?;
        let full = plan.limit.is_some_and(|l| batch.len() >= l);
        skipped += batch.len() as u64;
        for row in batch {
            if rows.len() < limit && seek.wants(&plan, &sort_key(&row.doc, &plan.order)?, row.key.as_ref()) {
                rows.push(row);
            }
        }
        if rows.len() >= limit || !full {
            break;
        }
    }
    if seek.backward {
        rows.reverse();
    }
    Ok(rows)
}

/// A page before a position when an ordering path may hold lists: read forward, as the
/// server sorts in the plan's own direction (reversed, it would sort a list ascending by its
/// largest element, not its smallest), and keep the last rows before the position.
async fn before_on_lists(
    mongo: &Mongo,
    model: &'static ModelDesc,
    plan: Plan,
    seek: Seek,
    filter: mongodb::bson::Document,
) -> Result<Vec<Row>> {
    let limit = plan.limit.unwrap_or(usize::MAX);
    let all = Plan { limit: None, ..plan.clone() };
    let Some(options) = convert::find_options(&all, false)? else { return Ok(Vec::new()) };
    let mut rows = Vec::new();
    for row in mongo.find_rows(model, filter, options, "reading a page", "reading a page").await? {
        if seek.wants(&plan, &sort_key(&row.doc, &plan.order)?, row.key.as_ref()) {
            rows.push(row);
        }
    }
    let extra = rows.len().saturating_sub(limit);
    rows.drain(..extra);
    Ok(rows)
}
