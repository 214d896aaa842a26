//! Aggregates as one `aggregate` command: `$match` (the plan's filters, every operand
//! literal), the plan's window when it has one (`$sort`, `$skip`, `$limit`), `$group`, then
//! the groups' order and limit. Integer sums run on `$toDecimal` values, exact whatever their
//! size (MongoDB's own `$sum` of 64-bit integers turns to a rounded double past the range),
//! and are checked against the 64-bit range here, so the answer is the other backends'.

use super::{convert, driver, Mongo};
use crate::core::value::Value;
use crate::error::Result;
use crate::plan::aggregate::{overflow, Aggregate, GroupRow, GroupTerm, Grouping, NumberKind};
use crate::plan::{Direction, Plan};
use crate::schema::model::ModelDesc;
use bson::{doc, Bson, Document};

/// Whether a path can stand in an expression as `$path`: dotted names none of which is empty
/// or starts with `$` (field names always can; other paths are left to the runtime).
fn expressible(path: &str) -> bool {
    path.split('.').all(|s| !s.is_empty() && !s.starts_with('$'))
}

/// Whether one `$group` pipeline computes the groups: the filters hold nothing an
/// aggregation refuses, and every path of the grouping can be named in one.
pub(super) fn runs_on_server(plan: &Plan, grouping: &Grouping) -> bool {
    let paths = grouping.keys.iter().map(|k| k.as_ref()).chain(grouping.aggregates.iter().filter_map(|a| a.path()));
    !convert::names_where(&plan.filters) && paths.into_iter().all(expressible)
}

/// The groups, or `None` when the plan holds what an aggregation refuses.
pub(super) async fn aggregate(
    mongo: &Mongo,
    model: &'static ModelDesc,
    plan: &Plan,
    grouping: &Grouping,
) -> Result<Option<Vec<GroupRow>>> {
    if !runs_on_server(plan, grouping) {
        return Ok(None);
    }
    if plan.limit == Some(0) || grouping.limit == Some(0) {
        return Ok(Some(Vec::new()));
    }
    let pipeline = pipeline(plan, grouping)?;
    let coll = mongo.database().collection::<bson::RawDocumentBuf>(model.collection);
    let mut cursor = coll.aggregate(pipeline).await.map_err(|e| driver(e, "running an aggregate"))?;
    let mut rows = Vec::new();
    while cursor.advance().await.map_err(|e| driver(e, "reading aggregate results"))? {
        rows.push(group_row(cursor.current().as_bytes(), grouping)?);
    }
    Ok(Some(rows))
}

/// The pipeline.
pub(crate) fn pipeline(plan: &Plan, grouping: &Grouping) -> Result<Vec<Document>> {
    let mut pipeline = Vec::new();
    if !plan.filters.is_empty() {
        pipeline.push(doc! { "$match": convert::filter(&plan.filters)? });
    }
    if plan.offset > 0 || plan.limit.is_some() {
        pipeline.push(doc! { "$sort": convert::sort(&plan.order, false)? });
        if plan.offset > 0 {
            pipeline.push(doc! { "$skip": plan.offset as i64 });
        }
        if let Some(l) = plan.limit {
            pipeline.push(doc! { "$limit": l as i64 });
        }
    }
    let id = if grouping.keys.is_empty() {
        Bson::Null
    } else {
        let mut id = Document::new();
        for (i, k) in grouping.keys.iter().enumerate() {
            // Missing and null group together, as everywhere.
            id.insert(format!("k{i}"), doc! { "$ifNull": [format!("${k}"), Bson::Null] });
        }
        Bson::Document(id)
    };
    let mut group = doc! { "_id": id };
    for (i, a) in grouping.aggregates.iter().enumerate() {
        group.insert(format!("a{i}"), accumulator(a));
    }
    pipeline.push(doc! { "$group": group });
    let mut averages = Document::new();
    let mut sort = Document::new();
    for o in &grouping.order {
        let name = match o.term {
            GroupTerm::ByKey(i) => format!("_id.k{i}"),
            GroupTerm::ByValue(i) => format!("a{i}"),
            GroupTerm::ByAverage(s, n) => {
                let name = format!("o{s}_{n}");
                let (s, n) = (format!("$a{s}"), format!("$a{n}"));
                let avg = doc! { "$cond": [{ "$gt": [&n, 0] }, { "$toDouble": { "$divide": [s, &n] } }, Bson::Null] };
                averages.insert(name.clone(), avg);
                name
            }
        };
        if !sort.contains_key(&name) {
            sort.insert(name, if o.direction == Direction::Asc { 1 } else { -1 });
        }
    }
    if !averages.is_empty() {
        pipeline.push(doc! { "$addFields": averages });
    }
    for i in 0..grouping.keys.len() {
        let name = format!("_id.k{i}");
        if !sort.contains_key(&name) {
            sort.insert(name, 1);
        }
    }
    if !sort.is_empty() {
        pipeline.push(doc! { "$sort": sort });
    }
    if let Some(l) = grouping.limit {
        pipeline.push(doc! { "$limit": l as i64 });
    }
    Ok(pipeline)
}

fn accumulator(a: &Aggregate) -> Document {
    match a {
        Aggregate::Records => doc! { "$sum": 1 },
        Aggregate::Total(p, NumberKind::Int) => {
            let p = format!("${p}");
            let int = doc! { "$in": [{ "$type": &p }, ["int", "long"]] };
            doc! { "$sum": { "$cond": [int, { "$toDecimal": &p }, Bson::Null] } }
        }
        Aggregate::Total(p, NumberKind::Float) => doc! { "$sum": format!("${p}") },
        Aggregate::Numbers(p) => doc! { "$sum": { "$cond": [{ "$isNumber": format!("${p}") }, 1, 0] } },
        Aggregate::Least(p) => doc! { "$min": format!("${p}") },
        Aggregate::Greatest(p) => doc! { "$max": format!("${p}") },
    }
}

/// One result document as a group row, each aggregate as the engine gives it.
fn group_row(raw: &[u8], grouping: &Grouping) -> Result<GroupRow> {
    let fields = Value::fields_of(raw)?;
    let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or(Value::Null);
    let key = match get("_id") {
        Value::Document(id) => (0..grouping.keys.len())
            .map(|i| {
                let name = format!("k{i}");
                id.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap_or(Value::Null)
            })
            .collect(),
        _ => vec![Value::Null; grouping.keys.len()],
    };
    let values = grouping
        .aggregates
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let v = get(&format!("a{i}"));
            let out = match a {
                Aggregate::Records | Aggregate::Numbers(_) => Value::Int64(integer(&v).unwrap_or(0)),
                Aggregate::Total(p, NumberKind::Int) => match integer(&v) {
                    Some(n) => Value::Int64(n),
                    None if matches!(v, Value::Null) => Value::Int64(0),
                    None => return Err(overflow().with_field(p)),
                },
                Aggregate::Total(_, NumberKind::Float) => Value::Double(v.as_f64().unwrap_or(0.0)),
                Aggregate::Least(_) | Aggregate::Greatest(_) => v,
            };
            Ok(out)
        })
        .collect::<Result<_>>()?;
    Ok(GroupRow { key, values })
}

/// An integer result as `i64`: `None` for a value past the 64-bit range or not an integer.
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Int32(n) => Some(i64::from(*n)),
        Value::Int64(n) => Some(*n),
        Value::Double(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
        Value::Decimal(d) if d.fract().is_zero() => rust_decimal::prelude::ToPrimitive::to_i64(d),
        _ => None,
    }
}
