//! Two-step joins: the keys of the related records that match, then one `in` lookup on the
//! `Ref` (in-memory joins declared on a model; on a backend with joins, counts, updates and
//! the joins it leaves to the runtime, such as MongoDB's `JoinStrategy::TwoStep`; and on
//! every backend, the conditions across a `Ref` inside an OR or a NOT).

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
        let keys = related_keys(reads, j).await?;
        plan.filters.push(Filter { path: j.reference.clone(), op: Op::In(keys) });
    }
    Ok(plan)
}

/// The keys of the related records a join's conditions match (one query, keys only).
async fn related_keys<R: Reads>(reads: &R, j: &JoinFilter) -> Result<Vec<Value>> {
    let related =
        Plan { filters: j.filters.clone(), projection: Some(Projection::Only(vec!["_id".into()])), ..Plan::default() };
    let rows = reads.rows(j.related, related).await.map_err(|e| e.with_model(j.related.name))?;
    rows.iter().filter_map(|r| r.key.as_ref()).map(to_value).collect()
}

/// The plan with every condition across a `Ref` inside its ORs and NOTs
/// ([`Op::Join`]) replaced by an `in` lookup on the `Ref`, exactly as a join at the top level
/// is: one query of keys per distinct condition. The semantics follow: a record whose `Ref` is
/// missing or null, or names no record, matches no join condition, so it matches its NOT. A
/// branch an empty `in` leaves with nothing to match is dropped, and a NOT of one is always
/// true, so no backend scans for them.
pub(crate) async fn resolve_nested<R: Reads>(reads: &R, mut plan: Plan) -> Result<Plan> {
    let mut joins: Vec<JoinFilter> = Vec::new();
    crate::plan::visit_joins(&mut plan.filters, &mut |f| {
        if let Op::Join(j) = &f.op {
            if !joins.contains(j) {
                joins.push((**j).clone());
            }
        }
        Ok(())
    })?;
    if joins.is_empty() {
        return Ok(plan);
    }
    let mut keys = Vec::with_capacity(joins.len());
    for j in &joins {
        keys.push(related_keys(reads, j).await?);
    }
    crate::plan::visit_joins(&mut plan.filters, &mut |f| {
        if let Op::Join(j) = &f.op {
            if let Some(at) = joins.iter().position(|k| k == &**j) {
                f.op = Op::In(keys[at].clone());
            }
        }
        Ok(())
    })?;
    plan.filters = simplified(std::mem::take(&mut plan.filters));
    Ok(plan)
}

/// Whether a filter matches no record: an `in` of no values, an OR of no branches.
fn nothing(f: &Filter) -> bool {
    match &f.op {
        Op::In(values) => values.is_empty(),
        Op::Or(branches) => branches.is_empty(),
        _ => false,
    }
}

/// The conjunction without what an empty `in` decides: inside each OR, the branches that
/// hold one are dropped (an OR left with one branch is that branch's conditions); a NOT of a
/// conjunction holding one always holds and is dropped.
fn simplified(filters: Vec<Filter>) -> Vec<Filter> {
    let mut out = Vec::with_capacity(filters.len());
    for f in filters {
        match f.op {
            Op::Or(branches) => {
                let mut branches: Vec<Vec<Filter>> =
                    branches.into_iter().map(simplified).filter(|b| !b.iter().any(nothing)).collect();
                match branches.len() {
                    1 => out.append(&mut branches[0]),
                    _ => out.push(Filter { path: f.path, op: Op::Or(branches) }),
                }
            }
            Op::Not(inner) => {
                let inner = simplified(inner);
                if !inner.iter().any(nothing) {
                    out.push(Filter { path: f.path, op: Op::Not(inner) });
                }
            }
            op => out.push(Filter { path: f.path, op }),
        }
    }
    out
}
