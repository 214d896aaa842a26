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
//!    large `in` lookups, or a transaction's attempt).

use crate::backend::{Backend, Row};
use crate::engine::related::JoinFilter;
use crate::error::Result;
use crate::plan::Plan;
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
        let joins = joins
            .iter()
            .map(|j| {
                let mut related = Plan { filters: j.filters.clone(), ..Plan::default() };
                rewrite_for::<B>(j.related, j.lookups, &mut related)?;
                Ok(JoinFilter { filters: related.filters, ..j.clone() })
            })
            .collect::<Result<_>>()?;
        Ok(Prepared { plan, joins })
    }

    /// The plan with each condition across a `Ref` replaced by an `in` lookup on the `Ref`
    /// (the keys of the related records that match, read from `reads`).
    pub(crate) async fn resolve(self, reads: &impl Reads) -> Result<Plan> {
        if self.joins.is_empty() {
            return Ok(self.plan);
        }
        crate::engine::related::resolve_in(reads, self.plan, &self.joins).await
    }
}

/// The plan backend `B` runs for a typed plan of `M` and its conditions across a `Ref`:
/// [`Prepared::new`], then [`Prepared::resolve`].
pub(crate) async fn backend_plan<B: Backend, M: Model>(
    reads: &impl Reads,
    plan: Plan,
    joins: &[JoinFilter],
) -> Result<Plan> {
    Prepared::new::<B, M>(plan, joins)?.resolve(reads).await
}

fn rewrite_for<B: Backend>(
    model: &'static ModelDesc,
    lookups: &[crate::engine::lookup::LookupDesc],
    plan: &mut Plan,
) -> Result<()> {
    crate::engine::lookup::rewrite(model, lookups, B::NAME, crate::backend::capability::runs_natively::<B>, plan)
}
