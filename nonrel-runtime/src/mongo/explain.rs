//! What MongoDB runs for a query, a count or an aggregate: the command nonrel sends, and the
//! server's own plan for it (its `explain` at `queryPlanner` verbosity), which names the
//! indexes it reads. Nothing is written; a count of a declared grouping reads its counter's
//! marker to tell whether the counter answers.

use super::join::{self, Planned};
use super::{aggregate, convert, counter, driver, Mongo};
use crate::error::Result;
use crate::plan::aggregate::Grouping;
use crate::plan::join::{JoinFilter, Selection};
use crate::plan::Plan;
use crate::schema::model::ModelDesc;
use bson::{doc, Bson, Document};

/// How MongoDB answers a query, a count or an aggregate: what runs on the server, the
/// command nonrel sends for it and the plan the server chose.
///
/// Made by [`Query::explain`](crate::Query::explain), [`Mongo::explain`],
/// [`Mongo::explain_count`] and an aggregate's `explain` on a MongoDB database.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MongoExplain {
    /// What answers.
    pub runs: MongoRuns,
    /// The command nonrel sends (`find`, `aggregate`, or the `find` of a counter's groups on
    /// `nonrel_counters`), as the server receives it; an empty document when no command is
    /// needed ([`MongoRuns::Nothing`]).
    pub command: Document,
    /// The indexes the server's chosen plan reads (its `IXSCAN` stages, by index name), in
    /// the order the plan lists them; empty for a scan of the collection.
    pub indexes: Vec<String>,
    /// The server's `explain` of the command (`queryPlanner` verbosity), as it answered.
    pub server: Document,
}

/// What answers a query on MongoDB ([`MongoExplain::runs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MongoRuns {
    /// One `find`: the server evaluates every condition, ORs and NOTs as `$or` and `$nor`.
    Find,
    /// One aggregation pipeline: `$group` for aggregates and distinct values, `$lookup` for
    /// conditions across a `Ref` and related selections.
    Pipeline,
    /// A count of the records the filter matches (the pipeline the driver's
    /// `countDocuments` sends).
    Count,
    /// A declared counter (`#[model(count_by(...))]`, by its name): one `find` of its groups.
    Counter(&'static str),
    /// Nothing runs: the answer is empty (a limit of 0).
    Nothing,
}

impl Mongo {
    /// Explains `command`, sent as it is, and names the indexes of the server's plan.
    async fn explained(&self, runs: MongoRuns, command: Document) -> Result<MongoExplain> {
        let ask = doc! { "explain": command.clone(), "verbosity": "queryPlanner" };
        let server = self.db.run_command(ask).await.map_err(|e| driver(e, "explaining a command"))?;
        let mut indexes = Vec::new();
        index_names(&server, &mut indexes);
        Ok(MongoExplain { runs, command, indexes, server })
    }

    /// How a query of `model` with conditions across a `Ref` (`joins`) or related
    /// selections runs when [`join::query`] takes it: one aggregate with its `$lookup`s.
    /// `None` when it declines, and the runtime resolves the joins first (then
    /// [`explain_plan`](Self::explain_plan) tells the rest).
    pub(crate) async fn explain_joined(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        joins: &[JoinFilter],
        related: &[Selection],
        max_in: usize,
    ) -> Result<Option<MongoExplain>> {
        match join::planned(self, model, plan, joins, related, max_in)? {
            Planned::Aggregate { collection, pipeline, .. } => {
                let command = doc! { "aggregate": collection, "pipeline": pipeline, "cursor": {} };
                self.explained(MongoRuns::Pipeline, command).await.map(Some)
            }
            Planned::Empty => Ok(Some(nothing())),
            Planned::Declined => Ok(None),
        }
    }

    /// How a plan of `model` (without conditions across a `Ref`: those are resolved into
    /// `in` lookups first, as [`Mongo::explain`] does) runs: one `find`, the indexes its
    /// server plan reads, or nothing for a limit of 0. For tools that build plans from
    /// descriptors rather than typed queries (the management commands).
    ///
    /// ```no_run
    /// use nonrel_runtime::mongo::MongoRuns;
    /// use nonrel_runtime::{Database, Key, Model, Query};
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] title: String }
    /// # async fn run() -> nonrel_runtime::Result<()> {
    /// let db = Database::connect("mongodb://127.0.0.1:27017", "blog").await?;
    /// let plan = Query::<Post>::new().filter(Post::title().eq("Hi"));
    /// let how = db.backend().explain_plan(Post::DESC, plan.plan()?).await?;
    /// assert_eq!(how.runs, MongoRuns::Find);
    /// # Ok(()) }
    /// ```
    pub async fn explain_plan(&self, model: &'static ModelDesc, plan: &Plan) -> Result<MongoExplain> {
        if plan.limit == Some(0) {
            return Ok(nothing());
        }
        let mut command = doc! {
            "find": model.collection,
            "filter": convert::filter(&plan.filters)?,
            "sort": convert::sort(&plan.order, false)?,
        };
        if plan.offset > 0 {
            command.insert("skip", plan.offset as i64);
        }
        if let Some(limit) = plan.limit {
            command.insert("limit", limit as i64);
        }
        if let Some(p) = convert::projection(plan.projection.as_ref())? {
            command.insert("projection", p);
        }
        self.explained(MongoRuns::Find, command).await
    }

    /// How a count of `plan` (up to `upto`) runs: from its declared counter when one answers
    /// it and is built, else by counting the matching records.
    pub(crate) async fn explain_count_plan(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        upto: Option<u64>,
    ) -> Result<MongoExplain> {
        if upto == Some(0) {
            return Ok(nothing());
        }
        if let Some((c, filter)) = counter::reading(model, plan) {
            if counter::read(self, filter.clone()).await?.is_some() {
                let command = doc! { "find": counter::COLLECTION, "filter": filter };
                return self.explained(MongoRuns::Counter(c.name), command).await;
            }
        }
        if convert::names_where(&plan.filters) {
            return self.explained(MongoRuns::Count, super::count_command(model, plan, upto)?).await;
        }
        let mut pipeline = vec![doc! { "$match": convert::filter(&plan.filters)? }];
        if let Some(n) = upto {
            pipeline.push(doc! { "$limit": n as i64 });
        }
        pipeline.push(doc! { "$group": { "_id": 1, "n": { "$sum": 1 } } });
        let command = doc! { "aggregate": model.collection, "pipeline": pipeline, "cursor": {} };
        self.explained(MongoRuns::Count, command).await
    }

    /// How an aggregate of `plan` runs: one `$group` pipeline, or `None` when the plan holds
    /// what an aggregation refuses and the runtime computes the groups from the records.
    pub(crate) async fn explain_aggregate_plan(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        grouping: &Grouping,
    ) -> Result<Option<MongoExplain>> {
        if !aggregate::runs_on_server(plan, grouping) {
            return Ok(None);
        }
        if plan.limit == Some(0) || grouping.limit == Some(0) {
            return Ok(Some(nothing()));
        }
        let pipeline = aggregate::pipeline(plan, grouping)?;
        let command = doc! { "aggregate": model.collection, "pipeline": pipeline, "cursor": {} };
        self.explained(MongoRuns::Pipeline, command).await.map(Some)
    }
}

/// The explanation of an answer known to be empty.
fn nothing() -> MongoExplain {
    MongoExplain { runs: MongoRuns::Nothing, command: Document::new(), indexes: Vec::new(), server: Document::new() }
}

/// The `indexName` of every `IXSCAN` stage in an explain reply, depth first.
fn index_names(d: &Document, out: &mut Vec<String>) {
    if d.get_str("stage").is_ok_and(|s| s == "IXSCAN") {
        if let Ok(name) = d.get_str("indexName") {
            if !out.iter().any(|n| n == name) {
                out.push(name.to_owned());
            }
        }
    }
    for (name, v) in d {
        // The rejected plans are not what runs.
        if name != "rejectedPlans" {
            walk(v, out);
        }
    }
}

fn walk(v: &Bson, out: &mut Vec<String>) {
    match v {
        Bson::Document(d) => index_names(d, out),
        Bson::Array(items) => items.iter().for_each(|i| walk(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_come_from_the_chosen_plan_only() {
        let reply = doc! {
            "queryPlanner": {
                "winningPlan": { "stage": "FETCH", "inputStage": { "stage": "OR", "inputStages": [
                    { "stage": "IXSCAN", "indexName": "a_1" },
                    { "stage": "IXSCAN", "indexName": "b_1" },
                    { "stage": "IXSCAN", "indexName": "a_1" },
                ] } },
                "rejectedPlans": [{ "stage": "IXSCAN", "indexName": "c_1" }],
            }
        };
        let mut names = Vec::new();
        index_names(&reply, &mut names);
        assert_eq!(names, ["a_1", "b_1"]);
        let scan = doc! { "queryPlanner": { "winningPlan": { "stage": "COLLSCAN" } } };
        let mut none = Vec::new();
        index_names(&scan, &mut none);
        assert!(none.is_empty());
    }
}
