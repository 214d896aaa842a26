//! Annotations computed for a query's rows, the same way on every backend:
//!
//! - `len` from each row's document (the list at the path; missing or null counts 0), the
//!   query loading the field even when its projection defers it ([`widen`]), the field then
//!   left out of the document again so the record decodes as the projection says;
//! - `count_of` in one query of the referring model for the whole result:
//!   `reference in [the rows' keys]` with the annotation's conditions, projected to the
//!   reference's top-level field and counted in memory; split at the backend's `in` limit by
//!   [`keyed::query`](crate::engine::keyed::query) as every large `in` lookup is.

use crate::backend::{Backend, Row};
use crate::core::value::Value;
use crate::engine::related::keys_at;
use crate::error::Result;
use crate::plan::annotate::AnnotationKind;
use crate::plan::{to_value, Filter, Op, Plan, Projection};
use crate::schema::key::KeyValue;
use std::collections::{HashMap, HashSet};

/// The query's annotations, by name.
pub(crate) type Annotations = [(String, AnnotationKind)];

fn top(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

/// The projection the query runs with so that its `len` annotations can read their fields:
/// `projection` with each of them loaded; `None` when `projection` already loads them all
/// (or loads everything).
pub(crate) fn widen(projection: Option<&Projection>, annotations: &Annotations) -> Option<Projection> {
    let p = projection?;
    let mut widened = p.clone();
    for (_, kind) in annotations {
        if let AnnotationKind::Len(path) = kind {
            let name = top(path);
            if !widened.loads(name.as_bytes()) {
                widened = match widened {
                    Projection::Only(mut names) => {
                        names.push(name.to_owned());
                        Projection::Only(names)
                    }
                    Projection::Defer(names) => Projection::Defer(names.into_iter().filter(|n| n != name).collect()),
                };
            }
        }
    }
    (widened != *p).then_some(widened)
}

/// Fills each row's annotations, in the order they were asked for: `len` from the row,
/// `count_of` with one query (split at `max_in` keys) each. With `restore`, the fields only
/// the annotations needed are then left out of each row's document again.
pub(crate) async fn load<B: Backend>(
    backend: &B,
    annotations: &Annotations,
    rows: &mut [Row],
    max_in: usize,
    restore: Option<&Projection>,
) -> Result<()> {
    for (name, kind) in annotations {
        let values = match kind {
            AnnotationKind::Len(path) => {
                rows.iter().map(|r| len_at(&r.doc, path).map_err(|e| e.with_field(path))).collect::<Result<Vec<_>>>()
            }
            AnnotationKind::CountOf { related, reference, filters } => {
                count_referring(backend, related, reference, filters, rows, max_in)
                    .await
                    .map_err(|e| e.with_model(related.name))
            }
        }?;
        for (row, v) in rows.iter_mut().zip(values) {
            row.annotations.push((name.clone(), v));
        }
    }
    if let Some(p) = restore {
        for row in rows.iter_mut() {
            row.doc = crate::plan::eval::project(&row.doc, p)?;
        }
    }
    Ok(())
}

/// The number of elements of the list at `path` (MongoDB's `$size` of `$ifNull`): 0 when
/// missing or null; through a list of embedded documents, the number of values found.
fn len_at(doc: &[u8], path: &str) -> Result<Value> {
    let values = crate::plan::eval::values_at(doc, path)?;
    let n = match values.as_slice() {
        [] | [Value::Null] => 0,
        [Value::Array(items)] => items.len(),
        several => several.len(),
    };
    Ok(Value::Int64(n as i64))
}

/// The query of a `count_of` annotation for `rows`: the referring model's conditions and
/// `reference in [the rows' keys]` (each once), loading the reference alone.
pub(crate) fn count_plan(filters: &[Filter], reference: &str, rows: &[Row]) -> Result<Plan> {
    let mut seen = HashSet::new();
    let keys: Vec<Value> =
        rows.iter().filter_map(|r| r.key.as_ref()).filter(|k| seen.insert(*k)).map(to_value).collect::<Result<_>>()?;
    let mut plan = Plan { filters: filters.to_vec(), ..Plan::default() };
    plan.filters.push(Filter { path: reference.to_owned().into(), op: Op::In(keys) });
    plan.projection = Some(Projection::Only(vec![top(reference).to_owned()]));
    Ok(plan)
}

/// For each row, how many records of `related` refer to it at `reference` and match
/// `filters`: one query of `related` (split at `max_in`), counted in memory.
async fn count_referring<B: Backend>(
    backend: &B,
    related: &'static crate::schema::model::ModelDesc,
    reference: &str,
    filters: &[Filter],
    rows: &[Row],
    max_in: usize,
) -> Result<Vec<Value>> {
    let mut counts = vec![0i64; rows.len()];
    let mut at: HashMap<&KeyValue, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(k) = &r.key {
            at.entry(k).or_default().push(i);
        }
    }
    if !at.is_empty() {
        let plan = count_plan(filters, reference, rows)?;
        let found = crate::engine::keyed::query(backend, related, plan, max_in).await?;
        for found in found {
            let mut done = HashSet::new();
            for k in keys_at(&found.doc, reference)? {
                for &i in at.get(&k).into_iter().flatten() {
                    if done.insert(i) {
                        counts[i] += 1;
                    }
                }
            }
        }
    }
    Ok(counts.into_iter().map(Value::Int64).collect())
}

/// An annotation's value read as `T`; an error naming the model and the annotation when it
/// does not fit.
pub(crate) fn read_as<T: crate::core::codec::Decode>(v: &Value, name: &str, model: &'static str) -> Result<T> {
    use crate::core::codec::Encode;
    let mut element = Vec::new();
    v.encode(b"\0", &mut element)?;
    let read = match element.split_first() {
        Some((&ty, rest)) => T::decode(ty, rest.get(1..).unwrap_or_default()),
        None => Err(crate::error::Error::new(crate::error::ErrorKind::Decode, "empty annotation")),
    };
    read.map_err(|e| {
        crate::error::Error::new(
            crate::error::ErrorKind::Decode,
            format!("annotation {name:?} does not read as asked: {e}"),
        )
        .with_model(model)
    })
}
