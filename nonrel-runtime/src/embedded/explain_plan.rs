//! Explaining an untyped plan, for tools that know models by their descriptions only (a
//! management command reads a model's name and a query from its command line).

use super::{Explain, Redb};
use crate::error::Result;
use crate::plan::Plan;
use crate::schema::model::ModelDesc;

impl Redb {
    /// How the embedded backend would run an untyped plan on `model`: which index, if any,
    /// it reads. The plan runs as written: an emulated lookup must already name its index
    /// fields ([`explain`](Self::explain) rewrites a typed query's).
    ///
    /// ```
    /// use nonrel_runtime::query::{Filter, Op, Plan};
    /// use nonrel_runtime::{Database, Key, Model, Value};
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] title: String }
    /// let db = Database::in_memory().unwrap();
    /// let plan = Plan {
    ///     filters: vec![Filter { path: "title".into(), op: Op::Eq(Value::from("Hi")) }],
    ///     ..Plan::default()
    /// };
    /// assert_eq!(db.backend().explain_plan(Post::DESC, &plan).unwrap().index, Some("title"));
    /// ```
    pub fn explain_plan(&self, model: &'static ModelDesc, plan: &Plan) -> Result<Explain> {
        self.explain_with(model, plan, None)
    }

    /// A plan's explanation; for a plan with an OR, one per branch, as the runtime runs them.
    fn explain_with(&self, model: &'static ModelDesc, plan: &Plan, count: Option<u64>) -> Result<Explain> {
        let Some(branches) = crate::plan::branch_plans(plan) else {
            return self.store.explain(model, plan, count);
        };
        // Each branch runs as a query (its rows are merged, even for a count).
        let parts = branches.iter().map(|part| self.explain_with(model, part, None)).collect::<Result<Vec<_>>>()?;
        Ok(Explain {
            index: None,
            ranges: parts.iter().map(|p| p.ranges).sum(),
            ordered: false,
            covering: false,
            entries_read: parts.iter().map(|p| p.entries_read).sum(),
            records_read: parts.iter().map(|p| p.records_read).sum(),
            branches: parts,
            counter: None,
            annotations: Vec::new(),
        })
    }

    /// The rows a plan matches, read now on the calling thread (what an explanation runs
    /// before it explains: the related keys of a condition across a `Ref`, the rows an
    /// annotation counts for).
    pub(crate) fn rows_now(&self, model: &'static ModelDesc, plan: &Plan) -> Result<Vec<crate::backend::Row>> {
        self.store.run(model, plan, None).map(|(rows, _)| rows)
    }

    /// The documents of `keys`, in their order, read now on the calling thread.
    pub(crate) fn docs_now(
        &self,
        model: &'static ModelDesc,
        keys: &[crate::schema::key::KeyValue],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        self.store.get_many(model, keys)
    }

    /// [`explain_plan`](Self::explain_plan) for a count of the plan's records, up to
    /// `upto` when given: what the count reads.
    ///
    /// ```
    /// use nonrel_runtime::query::{Filter, Op, Plan};
    /// use nonrel_runtime::{Database, Key, Model, Value};
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] title: String }
    /// let db = Database::in_memory().unwrap();
    /// let plan = Plan {
    ///     filters: vec![Filter { path: "title".into(), op: Op::Eq(Value::from("Hi")) }],
    ///     ..Plan::default()
    /// };
    /// // The index answers the condition: the count reads no record.
    /// assert_eq!(db.backend().explain_count_plan(Post::DESC, &plan, None).unwrap().records_read, 0);
    /// ```
    pub fn explain_count_plan(&self, model: &'static ModelDesc, plan: &Plan, upto: Option<u64>) -> Result<Explain> {
        self.explain_with(model, plan, Some(upto.unwrap_or(u64::MAX)))
    }
}
