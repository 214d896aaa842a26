//! Two-step joins: the keys of the related records that match, then one `in` lookup on the
//! `Ref` (in-memory joins declared on a model; on a backend with joins, counts, updates and
//! the joins it leaves to the runtime, such as MongoDB's `JoinStrategy::TwoStep`).

use super::JoinFilter;
use crate::core::value::Value;
use crate::engine::prepare::Reads;
use crate::error::Result;
use crate::plan::{to_value, Filter, Op, Plan, Projection};

/// The plan with every join replaced by an `in` lookup on its `Ref`: one query on the
/// related model per join, reading keys only, from `reads` (the backend, splitting large `in`
/// lookups, or a transaction). The joins' conditions are already rewritten for the backend
/// ([`Prepared`](crate::engine::prepare::Prepared)).
pub(crate) async fn resolve_in<R: Reads>(reads: &R, mut plan: Plan, joins: &[JoinFilter]) -> Result<Plan> {
    for j in joins {
        let related = Plan {
            filters: j.filters.clone(),
            projection: Some(Projection::Only(vec!["_id".into()])),
            ..Plan::default()
        };
        let rows = reads.rows(j.related, related).await.map_err(|e| e.with_model(j.related.name))?;
        let keys: Vec<Value> = rows.iter().filter_map(|r| r.key.as_ref()).map(to_value).collect::<Result<_>>()?;
        plan.filters.push(Filter { path: j.reference.clone(), op: Op::In(keys) });
    }
    Ok(plan)
}
