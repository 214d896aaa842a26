//! Two-step joins: the keys of the related records that match, then one `in` lookup on the
//! `Ref` (in-memory joins declared on a model; on MongoDB, counts, updates and
//! `JoinStrategy::TwoStep`).

use super::JoinFilter;
use crate::backend::{Backend, Row};
use crate::error::Result;
use crate::model::ModelDesc;
use crate::query::{to_value, Filter, Op, Plan, Projection};
use crate::value::Value;

/// Runs a plan, splitting `in` lookups larger than the backend takes (F13).
pub(crate) async fn run_plan<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    plan: Plan,
    max_in: usize,
) -> Result<Vec<Row>> {
    if crate::split::needs_split(&plan, max_in) {
        return crate::split::query(backend, m, plan, max_in).await;
    }
    backend.query(m, plan).await
}

/// The plan with every join replaced by an `in` lookup on its `Ref`: one query on the
/// related model per join, reading keys only.
pub(crate) async fn resolve<B: Backend>(
    backend: &B,
    mut plan: Plan,
    joins: &[JoinFilter],
    max_in: usize,
) -> Result<Plan> {
    for j in joins {
        let related = Plan {
            filters: vec![j.filter.clone()],
            projection: Some(Projection::Only(vec!["_id".into()])),
            ..Plan::default()
        };
        let rows = run_plan(backend, j.related, related, max_in).await.map_err(|e| e.with_model(j.related.name))?;
        let keys: Vec<Value> = rows.iter().filter_map(|r| r.key.as_ref()).map(to_value).collect::<Result<_>>()?;
        plan.filters.push(Filter { path: j.reference.clone(), op: Op::In(keys) });
    }
    Ok(plan)
}
