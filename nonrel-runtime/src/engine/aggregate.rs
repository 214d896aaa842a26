//! Aggregates and distinct values over a query: the backend's own computation where it
//! offers one ([`Backend::aggregate`]), else one pass over the query's rows read through the
//! engine's query path (key conditions, large `in` lookups split), loading only the fields
//! the grouping reads.

use crate::backend::Backend;
use crate::engine::trace::Command;
use crate::error::Result;
use crate::plan::aggregate::{Accumulator, GroupRow, Grouping};
use crate::plan::{Plan, Projection};
use crate::schema::model::ModelDesc;

/// The groups of the records a plan (lookups across a `Ref` resolved) matches.
pub(crate) async fn aggregate<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    plan: Plan,
    grouping: &Grouping,
    max_in: usize,
) -> Result<Vec<GroupRow>> {
    let mut plan = crate::engine::keyed::normalized(plan);
    plan.projection = None;
    let describe = || Command::planned(B::NAME, "aggregate", m, &plan);
    let run = async {
        let direct = !crate::engine::keyed::emulated::<B>(&plan) && !crate::plan::needs_split(&plan, max_in);
        if direct {
            if let Some(rows) = backend.aggregate(m, &plan, grouping).await? {
                // One command; a backend that declines it sent none.
                crate::engine::trace::round_trips(1);
                return Ok(rows);
            }
        }
        fallback(backend, m, plan.clone(), grouping, max_in).await
    };
    crate::engine::trace::command(describe, run).await.map_err(|e| e.with_model(m.name))
}

/// The runtime's own computation: the rows with only the fields the grouping reads, one pass.
async fn fallback<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    mut plan: Plan,
    grouping: &Grouping,
    max_in: usize,
) -> Result<Vec<GroupRow>> {
    if plan.offset == 0 && plan.limit.is_none() {
        // The order of the rows changes no aggregate.
        plan.order.clear();
    }
    // The fields the grouping reads, and those a window's order reads.
    let mut fields = grouping.fields();
    for o in &plan.order {
        let top = o.path.split('.').next().unwrap_or(&o.path).to_owned();
        if !fields.contains(&top) {
            fields.push(top);
        }
    }
    plan.projection = Some(Projection::Only(fields));
    let rows = crate::engine::keyed::query(backend, m, plan, max_in).await?;
    let mut acc = Accumulator::new(grouping);
    for row in &rows {
        acc.add(&row.doc).map_err(|e| match &row.key {
            Some(k) => e.with_key(k),
            None => e,
        })?;
    }
    acc.finish()
}
