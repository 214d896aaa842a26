//! Aggregates inside the store: the distinct values of an indexed field by a walk of its
//! index that reads one entry (and one record) per value and skips the rest of the value's
//! entries; any other grouping in one pass over the records the plan reads (through the
//! index that serves its filter, where one does), each matching document fed to the
//! accumulator straight from the table's stored bytes, none copied into rows.

use super::store::{open_read, records_table, storage, usable_indexes, Bytes, Store};
use super::{Explain, Redb};
use crate::error::Result;
use crate::plan::aggregate::{value_at, Accumulator, GroupRow, GroupTerm, Grouping};
use crate::plan::{Direction, Plan};
use crate::schema::model::{IndexDesc, ModelDesc};
use redb::{ReadableTable, ReadableTableMetadata};

/// How the embedded backend computes an aggregate or distinct values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateStrategy {
    /// A walk of the field's index, one entry per distinct value (distinct values, or
    /// groups by the field with nothing computed, of a query without conditions).
    IndexWalk,
    /// One pass inside the store over the records the plan reads ([`Explain`] says which
    /// index or scan), no record copied.
    InStore,
    /// The runtime computes it from the query's rows (a plan with an offset or a limit: the
    /// window is the query's answer first).
    InRuntime,
}

/// How the embedded backend computes an aggregate ([`Redb::explain_aggregate_plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateExplain {
    /// The strategy.
    pub strategy: AggregateStrategy,
    /// What it reads, counted by running it: for an index walk, the index, one range per
    /// distinct value, the entries and the records read.
    pub read: Explain,
}

/// The index a walk reads for this grouping, if one serves it.
fn walk_index(m: &'static ModelDesc, plan: &Plan, grouping: &Grouping) -> Option<&'static IndexDesc> {
    let plain = plan.filters.is_empty() && plan.offset == 0 && plan.limit.is_none();
    let by_key_asc = grouping.order.iter().all(|o| o.term == GroupTerm::ByKey(0) && o.direction == Direction::Asc);
    if !plain || grouping.keys.len() != 1 || !grouping.aggregates.is_empty() || !by_key_asc {
        return None;
    }
    let path = grouping.keys[0].as_ref();
    let index = m.index_on(path)?;
    (index.path == path && crate::plan::eval::declared_scalar(m, path)).then_some(index)
}

/// The groups, how they were computed, and (when asked) what computing them read.
type Computed = (Vec<GroupRow>, AggregateStrategy, Option<Explain>);

impl Store {
    /// The groups, or `None` when the runtime computes them.
    /// With `explain`, what the pass reads is counted (the plan's access path found as for a
    /// query).
    pub(super) fn aggregate(
        &self,
        m: &'static ModelDesc,
        plan: &Plan,
        grouping: &Grouping,
        explain: bool,
    ) -> Result<Option<Computed>> {
        if let Some(index) = walk_index(m, plan, grouping) {
            if let Some((rows, read)) = self.walk(m, index, grouping.limit)? {
                return Ok(Some((rows, AggregateStrategy::IndexWalk, Some(read))));
            }
        }
        if plan.offset > 0 || plan.limit.is_some() {
            return Ok(None);
        }
        let plan = Plan { order: Vec::new(), projection: None, ..plan.clone() };
        let mut acc = Accumulator::new(grouping);
        let mut feed = |doc: &[u8]| acc.add(doc);
        let reading = self.run_reading(m, &plan, None, Some(&mut feed))?.2;
        let read = match explain {
            true => {
                let how = self.explain(m, &plan, None)?;
                Some(Explain { entries_read: reading.entries, records_read: reading.docs, ..how })
            }
            false => None,
        };
        Ok(Some((acc.finish()?, AggregateStrategy::InStore, read)))
    }

    /// The distinct values of an indexed scalar field in index order, reading the first
    /// entry of each value and its record, then seeking past the value; `None` when the index
    /// is not built yet.
    fn walk(
        &self,
        m: &'static ModelDesc,
        index: &'static IndexDesc,
        limit: Option<usize>,
    ) -> Result<Option<(Vec<GroupRow>, Explain)>> {
        let read = self.read()?;
        let tx = read.tx();
        let records = open_read(tx, Bytes::new(records_table(m)))?;
        let empty = match &records {
            Some(t) => t.is_empty().map_err(storage)?,
            None => true,
        };
        if !usable_indexes(tx, m, empty)?.contains(&index.path) {
            return Ok(None);
        }
        let mut explain = Explain {
            index: Some(index.path),
            ranges: 0,
            ordered: true,
            covering: index.covering,
            entries_read: 0,
            records_read: 0,
            branches: Vec::new(),
            counter: None,
            annotations: Vec::new(),
        };
        let mut rows = Vec::new();
        let table = open_read(tx, Bytes::new(super::store::index_table(m, index)))?;
        let (Some(table), false) = (table, empty) else { return Ok(Some((rows, explain))) };
        let mut from: Option<Vec<u8>> = None;
        while limit.is_none_or(|l| rows.len() < l) {
            let mut range = match &from {
                None => table.iter().map_err(storage)?,
                Some(from) => table.range::<&[u8]>(from.as_slice()..).map_err(storage)?,
            };
            let Some(entry) = range.next() else { break };
            let (k, v) = entry.map_err(storage)?;
            explain.entries_read += 1;
            explain.ranges += 1;
            let (key, value) = (k.value(), v.value());
            let (pk, inline) = super::index::read_entry(index, key, value)?;
            let prefix = if index.unique { key } else { &key[..key.len().saturating_sub(pk.len())] };
            let doc = match (inline, &records) {
                (Some(doc), _) => Some(doc.to_vec()),
                (None, Some(records)) => records.get(pk).map_err(storage)?.map(|g| g.value().to_vec()),
                (None, None) => None,
            };
            explain.records_read += 1;
            if let Some(doc) = doc {
                rows.push(GroupRow { key: vec![value_at(&doc, index.path)?], values: Vec::new() });
            }
            match crate::core::order::successor(prefix) {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        Ok(Some((rows, explain)))
    }
}

impl Redb {
    /// How the embedded backend computes a grouping of an untyped plan's records, counted by
    /// running it. A typed query's is
    /// [`GroupedAggregates::explain`](crate::aggregate::GroupedAggregates::explain).
    ///
    /// ```
    /// use nonrel_runtime::aggregate::AggregateStrategy;
    /// use nonrel_runtime::query::aggregate::Grouping;
    /// use nonrel_runtime::query::Plan;
    /// use nonrel_runtime::{Database, Key, Model};
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] category: String }
    /// let db = Database::in_memory().unwrap();
    /// let distinct = Grouping { keys: vec!["category".into()], ..Grouping::default() };
    /// let how = db.backend().explain_aggregate_plan(Post::DESC, &Plan::default(), &distinct).unwrap();
    /// assert_eq!((how.strategy, how.read.index), (AggregateStrategy::IndexWalk, Some("category")));
    /// ```
    pub fn explain_aggregate_plan(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        grouping: &Grouping,
    ) -> Result<AggregateExplain> {
        match self.store.aggregate(model, plan, grouping, true)? {
            Some((_, strategy, Some(read))) => Ok(AggregateExplain { strategy, read }),
            _ => Ok(AggregateExplain { strategy: AggregateStrategy::InRuntime, read: self.explain_plan(model, plan)? }),
        }
    }

    /// [`Backend::aggregate`](crate::backend::Backend::aggregate) for the embedded backend.
    pub(super) async fn aggregate_groups(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        grouping: &Grouping,
    ) -> Result<Option<Vec<GroupRow>>> {
        let (plan, grouping) = (plan.clone(), grouping.clone());
        let work = move |s: &Store| Ok(s.aggregate(model, &plan, &grouping, false)?.map(|(rows, _, _)| rows));
        self.blocking(work).await
    }
}
