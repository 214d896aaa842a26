//! Large `in` lookups: split to the backend's limit, run, merged, de-duplicated and
//! ordered as the plan says.

use crate::backend::{Backend, Row};
use crate::error::Result;
use crate::plan::eval::compare_keys;
pub(crate) use crate::plan::{needs_split, oversized};
use crate::plan::{Op, Plan};
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;
use std::collections::HashSet;

/// The plan once per chunk of the oversized lookup's values, unlimited (the merge applies
/// offset and limit).
fn parts(plan: &Plan, max_in: usize) -> Vec<Plan> {
    let Some(at) = oversized(plan, max_in) else { return vec![plan.clone()] };
    let Op::In(values) = &plan.filters[at].op else { return vec![plan.clone()] };
    values
        .chunks(max_in)
        .map(|chunk| {
            let mut part = plan.clone();
            part.filters[at].op = Op::In(chunk.to_vec());
            part.offset = 0;
            part.limit = plan.limit.map(|l| l + plan.offset);
            part
        })
        .collect()
}

/// Runs a plan: directly when its `in` lookups fit the backend, else split into parts (each
/// may split further) whose rows are merged into the plan's answer. The one place a query
/// decides whether to split.
pub(crate) async fn query<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    plan: Plan,
    max_in: usize,
) -> Result<Vec<Row>> {
    if !needs_split(&plan, max_in) {
        crate::engine::trace::round_trips(1);
        return backend.query(m, plan).await;
    }
    let mut rows = Vec::new();
    let mut seen: HashSet<KeyValue> = HashSet::new();
    for part in parts(&plan, max_in) {
        let found = Box::pin(query(backend, m, part, max_in)).await?;
        for row in found {
            if row.key.as_ref().is_none_or(|k| seen.insert(k.clone())) {
                rows.push(row);
            }
        }
    }
    let mut keyed: Vec<(Vec<crate::core::value::Value>, Row)> = rows
        .into_iter()
        .map(|r| Ok((crate::plan::eval::sort_key_keyed(&r.doc, r.key.as_ref(), &plan.order)?, r)))
        .collect::<Result<_>>()?;
    keyed.sort_by(|(a, ra), (b, rb)| compare_keys(a, b, &plan.order).then_with(|| ra.key.cmp(&rb.key)));
    let limit = plan.limit.unwrap_or(usize::MAX);
    Ok(keyed.into_iter().skip(plan.offset).take(limit).map(|(_, r)| r).collect())
}

/// Counts the records a plan matches, stopping at `upto`: the backend's count when its `in`
/// lookups fit, else the distinct records the parts match.
pub(crate) async fn count<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    mut plan: Plan,
    upto: Option<u64>,
    max_in: usize,
) -> Result<u64> {
    if !needs_split(&plan, max_in) {
        crate::engine::trace::round_trips(1);
        return backend.count(m, plan, upto).await;
    }
    plan.offset = 0;
    plan.limit = upto.map(|u| u as usize);
    let rows = query(backend, m, plan, max_in).await?;
    Ok(rows.len() as u64)
}
