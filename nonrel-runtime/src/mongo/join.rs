//! Lookups across a `Ref` and related selections run by MongoDB's `$lookup`, in
//! one `aggregate` command.
//!
//! How each runs is a setting of the [`Mongo`] handle ([`JoinStrategy`],
//! [`RelatedStrategy`]); the defaults are the forms measured fastest (see the guide's
//! relations page, `docs/relations.md`, for the figures):
//!
//! - a related selection is one `$lookup` stage after the query's own
//!   `$match`/`$sort`/`$skip`/`$limit`/`$project`, joining the related collection on `_id`
//!   (with a `$project` sub-pipeline for `only_related`/`defer_related`);
//! - a lookup across a `Ref` is either two steps (the matching related keys, then one `$in`
//!   on the `Ref`), or one aggregate on the parent collection with a `$lookup` of the related
//!   record through the `Ref` filtered by the related condition, or one aggregate that starts
//!   from the matching related records and looks up their parents.
//!
//! Counts and updates with a join always run the two steps. Every form gives the same rows (the conformance suite runs on each); an `in` lookup too
//! large for one command makes the query fall back to the split two-step form.

use super::{convert, driver, Mongo};
use crate::backend::Row;
use crate::core::codec::Elements;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::join::{JoinFilter, Selection};
use crate::plan::{Plan, Projection};
use crate::schema::model::ModelDesc;
use bson::{doc, Document};

/// How MongoDB runs a lookup across a `Ref` when the model keeps no copy of the field.
///
/// ```
/// use nonrel_runtime::mongo::JoinStrategy;
/// assert_eq!(JoinStrategy::default(), JoinStrategy::LookupFromRelated);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JoinStrategy {
    /// The keys of the matching related records (one `find`), then one `$in` on the `Ref`
    /// (one `find`): two round trips, each on an index. Also what counts and updates use
    /// whatever the strategy.
    TwoStep,
    /// One `aggregate` on the parent collection: its own `$match`, a `$lookup` of the record
    /// each `Ref` points to, filtered by the related condition, a `$match` on a non-empty
    /// result, then its order, offset, limit and fields. Reads every parent the local
    /// conditions leave.
    Lookup,
    /// One `aggregate` on the related collection: the related condition, a `$lookup` of the
    /// parents that refer to each match (through the `Ref`'s index), filtered by the local
    /// conditions, then the parents' order, offset, limit and fields. A query with more than
    /// one join runs as [`Lookup`](Self::Lookup). The default: as fast as the two steps
    /// when the related condition decides, much faster when local conditions narrow it too.
    #[default]
    LookupFromRelated,
}

/// How MongoDB loads the related records of `select_related`.
///
/// ```
/// use nonrel_runtime::mongo::RelatedStrategy;
/// assert_eq!(RelatedStrategy::default(), RelatedStrategy::Lookup);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RelatedStrategy {
    /// The query (one `find`), then one `find` of the related keys with `$in` per selection.
    KeyRead,
    /// One `aggregate`: the query, then one `$lookup` on `_id` per selection.
    #[default]
    Lookup,
}

/// The strategies a [`Mongo`] handle runs joins and related selections with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Strategies {
    pub(crate) joins: JoinStrategy,
    pub(crate) related: RelatedStrategy,
}

impl Mongo {
    /// This handle with lookups across a `Ref` run by `strategy` (default
    /// [`JoinStrategy::LookupFromRelated`], the fastest measured).
    ///
    /// ```no_run
    /// # async fn f() -> nonrel_runtime::Result<()> {
    /// use nonrel_runtime::{mongo::JoinStrategy, Database, Mongo};
    /// let mongo = Mongo::connect("mongodb://127.0.0.1:27017", "blog").await?;
    /// let db = Database::new(mongo.with_join_strategy(JoinStrategy::Lookup));
    /// # Ok(()) }
    /// ```
    pub fn with_join_strategy(mut self, strategy: JoinStrategy) -> Self {
        self.strategies.joins = strategy;
        self
    }

    /// This handle with related selections loaded by `strategy` (default
    /// [`RelatedStrategy::Lookup`], the fastest measured).
    ///
    /// ```no_run
    /// # async fn f() -> nonrel_runtime::Result<()> {
    /// use nonrel_runtime::{mongo::RelatedStrategy, Database, Mongo};
    /// let mongo = Mongo::connect("mongodb://127.0.0.1:27017", "blog").await?;
    /// let db = Database::new(mongo.with_related_strategy(RelatedStrategy::KeyRead));
    /// # Ok(()) }
    /// ```
    pub fn with_related_strategy(mut self, strategy: RelatedStrategy) -> Self {
        self.strategies.related = strategy;
        self
    }

    /// How this handle runs lookups across a `Ref`.
    ///
    /// ```no_run
    /// # async fn f() -> nonrel_runtime::Result<()> {
    /// use nonrel_runtime::{mongo::JoinStrategy, Mongo};
    /// let mongo = Mongo::connect("mongodb://127.0.0.1:27017", "blog").await?;
    /// assert_eq!(mongo.join_strategy(), JoinStrategy::LookupFromRelated);
    /// # Ok(()) }
    /// ```
    pub fn join_strategy(&self) -> JoinStrategy {
        self.strategies.joins
    }

    /// How this handle loads related selections.
    ///
    /// ```no_run
    /// # async fn f() -> nonrel_runtime::Result<()> {
    /// use nonrel_runtime::{mongo::RelatedStrategy, Mongo};
    /// let mongo = Mongo::connect("mongodb://127.0.0.1:27017", "blog").await?;
    /// assert_eq!(mongo.related_strategy(), RelatedStrategy::Lookup);
    /// # Ok(()) }
    /// ```
    pub fn related_strategy(&self) -> RelatedStrategy {
        self.strategies.related
    }
}

/// The name of the array a join's `$lookup` writes (removed before the rows leave).
fn join_field(i: usize) -> String {
    format!("_nr_join_{i}")
}

/// The name of the array a related selection's `$lookup` writes.
fn related_field(i: usize) -> String {
    format!("_nr_related_{i}")
}

/// Runs a query with its joins and related selections in one aggregate, as the handle's
/// strategies say: `None` when the joins do not use `$lookup` (two-step strategy, or an `in`
/// too large for one command) or neither does, and the runtime runs its fallbacks (two-step
/// joins, split `in` lookups, one key read per selection), offering the selections again once
/// the joins are resolved.
pub(super) async fn query(
    mongo: &Mongo,
    model: &'static ModelDesc,
    plan: &Plan,
    joins: &[JoinFilter],
    related: &[Selection],
    max_in: usize,
) -> Result<Option<Vec<Row>>> {
    match planned(mongo, model, plan, joins, related, max_in)? {
        Planned::Declined => Ok(None),
        Planned::Empty => Ok(Some(Vec::new())),
        Planned::Aggregate { collection, pipeline, related: in_pipeline } => {
            // Selections left out of the pipeline are read by key by the runtime.
            let rows =
                aggregate(mongo, collection, pipeline, in_pipeline).await.map_err(|e| e.with_model(model.name))?;
            Ok(Some(rows))
        }
    }
}

/// What [`query`] sends for a query with joins and related selections.
pub(super) enum Planned<'r> {
    /// No command of its own: the runtime runs its fallbacks.
    Declined,
    /// The answer is empty (a limit of 0): no command.
    Empty,
    /// One aggregate on `collection`, with the selections `related` in its pipeline.
    Aggregate { collection: &'static str, pipeline: Vec<Document>, related: &'r [Selection] },
}

/// The aggregate [`query`] runs, as the handle's strategies say.
pub(super) fn planned<'r>(
    mongo: &Mongo,
    model: &'static ModelDesc,
    plan: &Plan,
    joins: &[JoinFilter],
    related: &'r [Selection],
    max_in: usize,
) -> Result<Planned<'r>> {
    if convert::names_where(&plan.filters) || joins.iter().any(|j| convert::names_where(&j.filters)) {
        // An aggregation refuses these filters: the two steps and key reads run on `find`.
        return Ok(Planned::Declined);
    }
    let s = mongo.strategies;
    let join_by_lookup = !joins.is_empty() && s.joins != JoinStrategy::TwoStep && !too_large(plan, joins, max_in);
    let related_by_lookup = !related.is_empty() && s.related == RelatedStrategy::Lookup;
    if !join_by_lookup && (!joins.is_empty() || !related_by_lookup) {
        return Ok(Planned::Declined);
    }
    if joins.is_empty() && crate::plan::needs_split(plan, max_in) {
        // Too large for one command: the runtime splits the query, then reads the keys.
        return Ok(Planned::Declined);
    }
    if plan.limit == Some(0) {
        return Ok(Planned::Empty);
    }
    let in_pipeline = if related_by_lookup { related } else { &[] };
    let (collection, pipeline) = match (joins, s.joins) {
        ([join], JoinStrategy::LookupFromRelated) => {
            (join.related.collection, from_related(model, plan, join, in_pipeline)?)
        }
        _ => (model.collection, from_parent(plan, joins, in_pipeline)?),
    };
    Ok(Planned::Aggregate { collection, pipeline, related: in_pipeline })
}

/// Whether the query's own conditions or a join's related condition hold an `in` larger than
/// one command takes: those run in two steps, split.
fn too_large(plan: &Plan, joins: &[JoinFilter], max_in: usize) -> bool {
    crate::plan::needs_split(plan, max_in)
        || joins.iter().any(|j| j.filters.iter().any(|f| crate::plan::oversized_filter(f, max_in)))
}

/// The pipeline on the parent collection: its conditions, one `$lookup` per join (its
/// related condition as the sub-pipeline) kept when non-empty, then order, offset, limit,
/// fields and the related selections.
fn from_parent(plan: &Plan, joins: &[JoinFilter], related: &[Selection]) -> Result<Vec<Document>> {
    let mut pipeline = Vec::new();
    if !plan.filters.is_empty() {
        pipeline.push(doc! { "$match": convert::filter(&plan.filters)? });
    }
    let mut found = Document::new();
    for (i, j) in joins.iter().enumerate() {
        let sub = vec![doc! { "$match": convert::filter(&j.filters)? }, doc! { "$project": { "_id": 1 } }];
        pipeline.push(doc! { "$lookup": {
            "from": j.related.collection,
            "localField": j.reference.as_ref(),
            "foreignField": "_id",
            "pipeline": sub,
            "as": join_field(i),
        } });
        found.insert(join_field(i), doc! { "$ne": [] });
    }
    if !found.is_empty() {
        pipeline.push(doc! { "$match": found });
    }
    finish(&mut pipeline, plan, joins.len(), related)?;
    Ok(pipeline)
}

/// The pipeline on the related collection of the one join: its condition, a `$lookup` of the
/// parents referring to each match (the local conditions as the sub-pipeline), the parents
/// as the documents, then order, offset, limit, fields and the related selections.
fn from_related(parent: &ModelDesc, plan: &Plan, join: &JoinFilter, related: &[Selection]) -> Result<Vec<Document>> {
    let mut lookup = doc! {
        "from": parent.collection,
        "localField": "_id",
        "foreignField": join.reference.as_ref(),
        "as": join_field(0),
    };
    if !plan.filters.is_empty() {
        lookup.insert("pipeline", vec![doc! { "$match": convert::filter(&plan.filters)? }]);
    }
    let mut pipeline = vec![
        doc! { "$match": convert::filter(&join.filters)? },
        doc! { "$project": { "_id": 1 } },
        doc! { "$lookup": lookup },
        doc! { "$unwind": format!("${}", join_field(0)) },
        doc! { "$replaceRoot": { "newRoot": format!("${}", join_field(0)) } },
    ];
    finish(&mut pipeline, plan, 0, related)?;
    Ok(pipeline)
}

/// Order, offset, limit, the parent's fields (the join arrays left out), then one `$lookup`
/// on `_id` per related selection.
fn finish(pipeline: &mut Vec<Document>, plan: &Plan, joins: usize, related: &[Selection]) -> Result<()> {
    pipeline.push(doc! { "$sort": convert::sort(&plan.order, false)? });
    if plan.offset > 0 {
        pipeline.push(doc! { "$skip": plan.offset as i64 });
    }
    if let Some(limit) = plan.limit {
        pipeline.push(doc! { "$limit": limit as i64 });
    }
    let mut fields = convert::projection(plan.projection.as_ref())?;
    if !matches!(plan.projection, Some(Projection::Only(_))) {
        let fields = fields.get_or_insert_with(Document::new);
        for i in 0..joins {
            fields.insert(join_field(i), 0);
        }
    }
    if let Some(fields) = fields.filter(|f| !f.is_empty()) {
        pipeline.push(doc! { "$project": fields });
    }
    for (i, s) in related.iter().enumerate() {
        let mut lookup = doc! {
            "from": s.related.collection,
            "localField": s.reference.as_ref(),
            "foreignField": "_id",
            "as": related_field(i),
        };
        if let Some(fields) = convert::projection(s.projection.as_ref())? {
            lookup.insert("pipeline", vec![doc! { "$project": fields }]);
        }
        pipeline.push(doc! { "$lookup": lookup });
    }
    Ok(())
}

/// Runs a pipeline; each result is a row, with its related selections taken out of the
/// `$lookup` arrays.
async fn aggregate(
    mongo: &Mongo,
    collection: &str,
    pipeline: Vec<Document>,
    related: &[Selection],
) -> Result<Vec<Row>> {
    let coll = mongo.database().collection::<bson::RawDocumentBuf>(collection);
    let mut cursor = coll.aggregate(pipeline).await.map_err(|e| driver(e, "running a query with $lookup"))?;
    let names: Vec<String> = (0..related.len()).map(related_field).collect();
    let mut rows = Vec::new();
    while cursor.advance().await.map_err(|e| driver(e, "reading query results"))? {
        rows.push(row(cursor.current().as_bytes(), related, &names)?);
    }
    Ok(rows)
}

/// One result document as a row: the parent's fields (no `_id`, no `$lookup` arrays), its
/// key, and each selection's related record.
fn row(raw: &[u8], related: &[Selection], names: &[String]) -> Result<Row> {
    let mut doc = Vec::with_capacity(raw.len());
    let start = crate::core::codec::begin_document(&mut doc);
    let mut found: Vec<Vec<Row>> = vec![Vec::new(); related.len()];
    let mut key = None;
    for el in Elements::new(raw)? {
        let el = el?;
        if el.name == b"_id" {
            key = Some(crate::schema::key::decode_id(&el)?);
            continue;
        }
        if el.name.starts_with(b"_nr_join_") {
            continue;
        }
        match names.iter().position(|n| n.as_bytes() == el.name) {
            Some(i) => found[i] = related_rows(el.ty, el.value)?,
            None => doc.extend_from_slice(el.raw),
        }
    }
    crate::core::codec::end_document(&mut doc, start)?;
    let key = key.ok_or_else(|| Error::new(ErrorKind::Decode, "stored document has no _id"))?;
    let mut row = Row { key: Some(key), doc, ..Row::default() };
    row.related = related.iter().map(|s| s.reference.to_string()).zip(found).collect();
    Ok(row)
}

/// The records of a `$lookup` array (at most one: the join is on `_id`).
fn related_rows(ty: u8, value: &[u8]) -> Result<Vec<Row>> {
    if ty != 0x04 {
        return Err(Error::new(ErrorKind::Decode, "a $lookup result is not an array"));
    }
    let mut rows = Vec::new();
    for el in Elements::new(value)? {
        let el = el?;
        if el.ty != 0x03 {
            return Err(Error::new(ErrorKind::Decode, "a $lookup result holds a value that is not a document"));
        }
        rows.push(convert::row(el.value)?);
    }
    rows.truncate(1);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::value::Value;
    use crate::plan::{Filter, Op};
    use std::borrow::Cow;

    fn eq(path: &'static str, v: &str) -> Filter {
        Filter { path: Cow::Borrowed(path), op: Op::Eq(Value::String(v.into())) }
    }

    #[test]
    fn the_parent_form_removes_its_join_arrays_and_keeps_the_order() {
        static USERS: ModelDesc = ModelDesc {
            name: "User",
            collection: "users",
            key: crate::schema::model::KeyDesc { field: "id", kind: crate::schema::key::KeyKind::Auto },
            fields: &[],
            indexes: &[],
            compound_indexes: &[],
            counters: &[],
            has_extra: false,
        };
        let join = JoinFilter {
            reference: Cow::Borrowed("author"),
            related: &USERS,
            lookups: &[],
            filters: vec![eq("name", "ann")],
        };
        let plan = Plan { filters: vec![eq("title", "Hi")], limit: Some(5), ..Plan::default() };
        let p = from_parent(&plan, &[join], &[]).unwrap();
        let stages: Vec<&str> = p.iter().map(|d| d.keys().next().unwrap().as_str()).collect();
        assert_eq!(stages, ["$match", "$lookup", "$match", "$sort", "$limit", "$project"]);
        assert_eq!(p[5], doc! { "$project": { "_nr_join_0": 0 } });
        assert_eq!(p[2], doc! { "$match": { "_nr_join_0": { "$ne": [] } } });
    }

    #[test]
    fn join_conditions_compare_user_documents_literally() {
        let operator = Value::Document(vec![("$ne".into(), Value::Int64(7))]);
        let filters = vec![
            Filter { path: Cow::Borrowed("meta"), op: Op::Eq(operator.clone()) },
            Filter { path: Cow::Borrowed("tags"), op: Op::In(vec![operator.clone(), Value::Int64(1)]) },
        ];
        let filter = convert::filter(&filters).unwrap();
        let literal = doc! { "$eq": { "$ne": 7_i64 } };
        assert_eq!(filter.get_document("meta").unwrap(), &literal);
        let either =
            vec![bson::Bson::from(doc! { "tags": literal }), bson::Bson::from(doc! { "tags": { "$in": [1_i64] } })];
        assert_eq!(filter.get_array("$or").unwrap(), &either);
        assert!(!convert::names_where(&filters));
        let script = Value::Document(vec![("$where".into(), Value::String("1".into()))]);
        assert!(convert::names_where(&[Filter { path: Cow::Borrowed("m"), op: Op::Has(script) }]));
    }
}
