//! From a typed query to the plan a backend runs: one path for every query.
//!
//! Queries, pages, counts, updates and deletes by query, transaction queries and the first
//! step of a two-step join all reach the backend through [`backend_plan`] (or, when the
//! backend may run the joins itself, through its two halves):
//!
//! 1. [`Prepared::new`]: the emulated lookups of the model's conditions are rewritten
//!    onto the index fields the model declares, and those of each condition across a `Ref`
//!    onto the index fields the *related* model declares, for the backend at hand (an
//!    undeclared lookup runs natively where the backend can, else is an error naming the
//!    declaration). This happens exactly once per query, so a declared index is always the
//!    one read, never a scan.
//! 2. [`Prepared::resolve`]: the conditions across a `Ref` that the backend does not run in
//!    one command become one `in` lookup each on the `Ref`, from the keys of the related
//!    records that match, read where the query reads ([`Reads`]: the backend, splitting
//!    large `in` lookups, or a transaction's attempt). Those inside an OR or a NOT
//!    ([`Op::Join`]) are resolved so on every backend, first
//!    ([`Prepared::resolve_nested`]), before a backend that runs joins itself is offered the
//!    ones at the top level.

use crate::backend::{Backend, Row};
use crate::engine::related::JoinFilter;
use crate::error::Result;
use crate::plan::{Op, Plan};
use crate::schema::model::{Model, ModelDesc};
use std::future::Future;

/// Where the steps of a query read their rows.
pub(crate) trait Reads: Sync {
    /// The rows a (prepared) plan on `model` matches.
    fn rows(&self, model: &'static ModelDesc, plan: Plan) -> impl Future<Output = Result<Vec<Row>>> + Send;
}

/// Reads from the backend, splitting `in` lookups larger than it takes.
pub(crate) struct Direct<'a, B> {
    pub(crate) backend: &'a B,
    pub(crate) max_in: usize,
}

impl<B: Backend> Reads for Direct<'_, B> {
    fn rows(&self, model: &'static ModelDesc, plan: Plan) -> impl Future<Output = Result<Vec<Row>>> + Send {
        crate::engine::keyed::query(self.backend, model, plan, self.max_in)
    }
}

/// A query on its way to backend `B`: emulated lookups rewritten onto their index fields, on
/// the model and on the related model of each condition across a `Ref`; those conditions
/// not yet resolved.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The model's own conditions, order, offset, limit and fields.
    pub(crate) plan: Plan,
    /// The conditions across a `Ref`, each on its related model.
    pub(crate) joins: Vec<JoinFilter>,
}

impl Prepared {
    /// Rewrites a typed plan of `M` and its conditions across a `Ref` for backend `B`.
    pub(crate) fn new<B: Backend, M: Model>(mut plan: Plan, joins: &[JoinFilter]) -> Result<Self> {
        rewrite_for::<B>(M::DESC, M::LOOKUPS, &mut plan)?;
        // Those inside an OR or a NOT too.
        crate::plan::visit_joins(&mut plan.filters, &mut |f| match &mut f.op {
            Op::Join(j) => rewrite_join::<B>(j),
            _ => Ok(()),
        })?;
        let joins = joins
            .iter()
            .map(|j| {
                let mut j = j.clone();
                rewrite_join::<B>(&mut j)?;
                Ok(j)
            })
            .collect::<Result<_>>()?;
        Ok(Prepared { plan, joins })
    }

    /// Whether the query has no condition across a `Ref` to resolve: its plan is then the
    /// one the backend runs.
    pub(crate) fn is_resolved(&self) -> bool {
        self.joins.is_empty() && !crate::plan::has_join(&self.plan.filters)
    }

    /// The query with each condition across a `Ref` inside an OR or a NOT replaced by an
    /// `in` lookup on the `Ref` (every backend runs those in two steps); the joins at the top
    /// level left to the backend that runs them.
    pub(crate) async fn resolve_nested(self, reads: &impl Reads) -> Result<Self> {
        if !crate::plan::has_join(&self.plan.filters) {
            return Ok(self);
        }
        let plan = crate::engine::related::resolve_nested(reads, self.plan).await?;
        Ok(Prepared { plan, joins: self.joins })
    }

    /// The plan with each condition across a `Ref` replaced by an `in` lookup on the `Ref`
    /// (the keys of the related records that match, read from `reads`), at the top level and
    /// inside ORs and NOTs.
    pub(crate) async fn resolve(self, reads: &impl Reads) -> Result<Plan> {
        let Prepared { plan, joins } = self.resolve_nested(reads).await?;
        if joins.is_empty() {
            return Ok(plan);
        }
        crate::engine::related::resolve_in(reads, plan, &joins).await
    }
}

/// The plan backend `B` runs for a typed plan of `M` and its conditions across a `Ref`:
/// [`Prepared::new`], then [`Prepared::resolve`].
pub(crate) async fn backend_plan<B: Backend, M: Model>(
    reads: &impl Reads,
    plan: Plan,
    joins: &[JoinFilter],
) -> Result<Plan> {
    let prepared = Prepared::new::<B, M>(plan, joins)?;
    if prepared.is_resolved() {
        return Ok(prepared.plan);
    }
    // Boxed: the reads of related records would otherwise make every query's future as large.
    Box::pin(prepared.resolve(reads)).await
}

/// A join's conditions rewritten onto the index fields its related model declares.
fn rewrite_join<B: Backend>(j: &mut JoinFilter) -> Result<()> {
    let mut related = Plan { filters: std::mem::take(&mut j.filters), ..Plan::default() };
    rewrite_for::<B>(j.related, j.lookups, &mut related)?;
    j.filters = related.filters;
    Ok(())
}

fn rewrite_for<B: Backend>(
    model: &'static ModelDesc,
    lookups: &[crate::engine::lookup::LookupDesc],
    plan: &mut Plan,
) -> Result<()> {
    crate::engine::lookup::rewrite(model, lookups, B::NAME, crate::backend::capability::runs_natively::<B>, plan)
}
