//! The MongoDB backend, on the official `mongodb` driver (feature `mongodb`).
//!
//! Every operation is one command (plus the `getMore`s a large result needs): `save` and
//! `save_many` are one `update` command per batch of upserts, `insert` one `insert`,
//! `get`/`get_many` one `find` on `_id`, `delete_many` one `delete`, a query one `find`,
//! `count_upto(n)` one count limited to `n`. Records are stored as the document the derive
//! writes, with the key as `_id`; automatic keys are ObjectIds made by the client.
//!
//! A model with an [`Extra`](crate::Extra) field is saved by replacement (its unknown fields
//! travel in it); a model without one is saved with `$set` of its fields, so fields written
//! by other programs survive without a read. A document holding an embedded model is
//! saved by a pipeline update that merges each embedded model with the stored one, so the
//! fields other programs wrote inside it survive too, still without a read.
//!
//! A write through a collection that declares counters (`#[model(count_by(...))]`) is the
//! exception: it runs in a session transaction with the changes of its counters (see
//! `counted` and `counter`), and a count of a declared grouping reads those counters.
//!
//! Indexes are created from the models' declarations by [`Database::sync_indexes`](crate::Database::sync_indexes)
//! (`createIndexes`, idempotent), never implicitly by a save or a query.

mod aggregate;
pub(crate) mod convert;
mod counted;
mod counter;
mod explain;
mod join;
mod lookup;
mod pipeline;
mod seek;
mod session;
mod swap;
mod tx;
mod unique;
mod write;

use crate::backend::capability::Yes;
use crate::backend::{
    Backend, IntegrityProblem, IntegrityReport, PutItem, Row, SwapItem, Swapped, UpdateCounts, UpdateOp, WriteMode,
};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::Plan;
use crate::schema::key::{KeyKind, KeyValue, ObjectId};
use crate::schema::model::ModelDesc;
use bson::{doc, Document, RawDocumentBuf};
use mongodb::options::{ClientOptions, FindOptions};
use std::time::Duration;

pub use explain::{MongoExplain, MongoRuns};
pub use join::{JoinStrategy, RelatedStrategy};
pub use mongodb;

/// The MongoDB backend. Connect with [`Database::connect`](crate::api::database::Database::connect).
#[derive(Clone)]
pub struct Mongo {
    client: mongodb::Client,
    db: mongodb::Database,
    strategies: join::Strategies,
}

/// How long connecting waits for a server before it reports the address unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Mongo {
    /// Connects to the server at `uri` and uses `database`, waiting at most
    /// [`DEFAULT_CONNECT_TIMEOUT`] for a server.
    pub async fn connect(uri: &str, database: &str) -> Result<Self> {
        let mut options = ClientOptions::parse(uri).await.map_err(|e| driver(e, "parsing the connection string"))?;
        options.server_selection_timeout.get_or_insert(DEFAULT_CONNECT_TIMEOUT);
        options.connect_timeout.get_or_insert(DEFAULT_CONNECT_TIMEOUT);
        Self::connect_with(options, database).await
    }

    /// Connects with driver options (timeouts, command monitoring, ...) and checks that a
    /// server answers within the options' server selection timeout.
    pub async fn connect_with(options: ClientOptions, database: &str) -> Result<Self> {
        let hosts: Vec<String> = options.hosts.iter().map(|h| h.to_string()).collect();
        let client = mongodb::Client::with_options(options).map_err(|e| driver(e, "creating the client"))?;
        let db = client.database(database);
        db.run_command(doc! { "ping": 1 })
            .await
            .map_err(|e| driver(e, &format!("connecting to MongoDB at {}", hosts.join(","))))?;
        Ok(Mongo { client, db, strategies: join::Strategies::default() })
    }

    /// The driver's client.
    pub fn client(&self) -> &mongodb::Client {
        &self.client
    }

    /// The driver's database.
    pub fn database(&self) -> &mongodb::Database {
        &self.db
    }

    /// The driver collection behind a model, holding raw documents.
    pub fn raw_collection(&self, model: &ModelDesc) -> mongodb::Collection<RawDocumentBuf> {
        self.db.collection(model.collection)
    }
}

/// Maps a driver error, saying what was being done.
pub(crate) fn driver(e: mongodb::error::Error, doing: &str) -> Error {
    use mongodb::error::ErrorKind as K;
    let kind = match e.kind.as_ref() {
        K::InvalidArgument { .. } => ErrorKind::Unsupported,
        _ => ErrorKind::Storage,
    };
    Error::new(kind, format!("MongoDB failed {doing}")).with_source(e)
}

impl Mongo {
    /// One `find` on `_id` for these keys, projected when asked; documents in key order.
    async fn find_keys(
        &self,
        model: &'static ModelDesc,
        keys: Vec<KeyValue>,
        projection: Option<Document>,
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let coll = self.raw_collection(model);
        let mut find = coll.find(convert::keys_filter(&keys)?);
        if let Some(p) = projection {
            find = find.projection(p);
        }
        let mut cursor = find.await.map_err(|e| driver(e, "reading records"))?;
        let mut found = std::collections::HashMap::with_capacity(keys.len());
        while cursor.advance().await.map_err(|e| driver(e, "reading records"))? {
            let row = convert::row(cursor.current().as_bytes())?;
            found.insert(row.key.expect("a row has a key"), row.doc);
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }
}

/// The `count` command of `plan`'s records, limited to `upto`.
fn count_command(model: &ModelDesc, plan: &Plan, upto: Option<u64>) -> Result<Document> {
    let mut command = doc! { "count": model.collection, "query": convert::filter(&plan.filters)? };
    if let Some(n) = upto {
        command.insert("limit", n as i64);
    }
    Ok(command)
}

impl Mongo {
    /// A count by the `count` command, for filters an aggregation's `$match` refuses
    /// ([`convert::names_where`]).
    async fn count_command(&self, model: &'static ModelDesc, plan: &Plan, upto: Option<u64>) -> Result<u64> {
        let command = count_command(model, plan, upto)?;
        let reply = self.db.run_command(command).await.map_err(|e| driver(e, "counting records"))?;
        let n = reply.get("n").and_then(|v| v.as_i64().or_else(|| v.as_i32().map(i64::from))).unwrap_or(0);
        Ok(n as u64)
    }

    /// Runs one `find` (its `getMore`s included); each stored document becomes a row. The
    /// driver's errors say what was being done: `running` the command, `reading` its results.
    async fn find_rows(
        &self,
        model: &'static ModelDesc,
        filter: Document,
        options: FindOptions,
        running: &str,
        reading: &str,
    ) -> Result<Vec<Row>> {
        let coll = self.raw_collection(model);
        let mut cursor = coll.find(filter).with_options(options).await.map_err(|e| driver(e, running))?;
        let mut rows = Vec::new();
        while cursor.advance().await.map_err(|e| driver(e, reading))? {
            rows.push(convert::row(cursor.current().as_bytes())?);
        }
        Ok(rows)
    }
}

impl Backend for Mongo {
    const NAME: &'static str = "mongodb";

    type Joins = Yes;
    type CaseInsensitive = Yes;
    type Regex = Yes;
    type DateParts = Yes;
    type FullText = crate::backend::capability::No;
    const AUTO_KEY: KeyKind = KeyKind::Auto;
    const MAX_IN_VALUES: usize = 10_000;
    const BOOLEAN: bool = true;

    async fn put(&self, model: &'static ModelDesc, items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        let items: Vec<(KeyValue, Vec<u8>)> =
            items.into_iter().map(|i| (i.key.unwrap_or_else(|| KeyValue::ObjectId(ObjectId::new())), i.doc)).collect();
        if let Some(counters) = counted::counters_of(model) {
            return counted::put(self, model, counters, items, mode).await;
        }
        write::put(self, model, items, mode).await
    }

    async fn get(&self, model: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        let mut filter = bson::Document::new();
        filter.insert("_id", convert::key_bson(key));
        let found = self.raw_collection(model).find_one(filter).await.map_err(|e| driver(e, "reading a record"))?;
        found.map(|d| convert::without_id(d.as_bytes())).transpose()
    }

    async fn get_many(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        self.find_keys(model, keys, None).await
    }

    async fn get_many_projected(
        &self,
        model: &'static ModelDesc,
        keys: Vec<KeyValue>,
        projection: crate::plan::Projection,
    ) -> Result<Vec<Option<Vec<u8>>>> {
        self.find_keys(model, keys, convert::projection(Some(&projection))?).await
    }

    async fn query_joined(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        joins: &[crate::plan::join::JoinFilter],
        related: &[crate::plan::join::Selection],
        max_in: usize,
    ) -> Result<Option<Vec<Row>>> {
        join::query(self, model, plan, joins, related, max_in).await
    }

    async fn delete(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        if let Some(counters) = counted::counters_of(model) {
            return counted::delete(self, model, counters, keys).await;
        }
        let result = self
            .raw_collection(model)
            .delete_many(convert::keys_filter(&keys)?)
            .await
            .map_err(|e| driver(e, "deleting records"))?;
        Ok(result.deleted_count)
    }

    async fn swap(&self, model: &'static ModelDesc, items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
        if let Some(counters) = counted::counters_of(model) {
            return counted::swap(self, model, counters, items).await;
        }
        swap::swap(self, model, items).await
    }

    async fn query(&self, model: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        let filter = convert::filter(&plan.filters)?;
        let Some(options) = convert::find_options(&plan, false)? else { return Ok(Vec::new()) };
        self.find_rows(model, filter, options, "running a query", "reading query results").await
    }

    async fn query_seek(
        &self,
        model: &'static ModelDesc,
        plan: Plan,
        seek: crate::plan::seek::Seek,
    ) -> Result<Option<Vec<Row>>> {
        seek::query_seek(self, model, plan, seek).await.map(Some)
    }

    async fn aggregate(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        grouping: &crate::plan::aggregate::Grouping,
    ) -> Result<Option<Vec<crate::plan::aggregate::GroupRow>>> {
        aggregate::aggregate(self, model, plan, grouping).await
    }

    async fn count(&self, model: &'static ModelDesc, plan: Plan, upto: Option<u64>) -> Result<u64> {
        if let Some(n) = counter::answer(self, model, &plan, upto).await? {
            return Ok(n);
        }
        if convert::names_where(&plan.filters) {
            return self.count_command(model, &plan, upto).await;
        }
        let coll = self.raw_collection(model);
        let mut count = coll.count_documents(convert::filter(&plan.filters)?);
        if let Some(n) = upto {
            count = count.limit(n);
        }
        count.await.map_err(|e| driver(e, "counting records"))
    }

    async fn update(&self, model: &'static ModelDesc, plan: Plan, ops: Vec<UpdateOp>) -> Result<UpdateCounts> {
        let (matched, modified) = match counted::counters_of(model) {
            // Boxed: its transaction would otherwise make every update's future as large.
            Some(counters) => Box::pin(counted::update(self, model, counters, &plan, &ops)).await?,
            None => write::update(self, model, &plan, &ops).await?,
        };
        Ok(UpdateCounts { matched, modified })
    }

    async fn sync_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        let mut created = 0;
        for m in
            models.iter().filter(|m| !m.indexes.is_empty() || !m.compound_indexes.is_empty() || !m.counters.is_empty())
        {
            let mut indexes: Vec<Value> = m.indexes.iter().flat_map(unique::specs).collect();
            indexes.extend(m.compound_indexes.iter().map(unique::compound_spec));
            indexes.extend(counter::specs(m));
            if indexes.is_empty() {
                continue;
            }
            let command = convert::document(vec![
                ("createIndexes".into(), Value::String(m.collection.into())),
                ("indexes".into(), Value::Array(indexes)),
            ])?;
            let doing = || format!("creating indexes of {}", m.name);
            if let Err(e) = self.db.run_command(command.clone()).await {
                if !unique::is_conflict(&e) {
                    return Err(driver(e, &doing()));
                }
                // A unique index made before unique indexes were partial: replaced once.
                for idx in m.indexes.iter().filter(|i| i.unique) {
                    let _ = self.raw_collection(m).drop_index(idx.path).await;
                }
                self.db.run_command(command).await.map_err(|e| driver(e, &doing()))?;
            }
            created += (m.indexes.len() + m.compound_indexes.len() + counter::specs(m).len()) as u64;
        }
        for m in models.iter().filter(|m| !m.counters.is_empty()) {
            counter::mark_if_empty(self, m).await?;
        }
        Ok(created)
    }

    async fn integrity_check(&self, models: Vec<&'static ModelDesc>) -> Result<IntegrityReport> {
        let mut report = IntegrityReport::default();
        for m in models {
            let coll = self.raw_collection(m);
            report.records += coll.estimated_document_count().await.map_err(|e| driver(e, "counting records"))?;
            let names = coll.list_index_names().await.unwrap_or_default();
            for idx in m.indexes {
                report.entries += 1;
                if !unique::names(idx).iter().all(|wanted| names.contains(wanted)) {
                    let message = "index not created: run sync_indexes()".to_string();
                    report.problems.push(IntegrityProblem { model: m.name, index: idx.path, key: None, message });
                }
            }
            for c in m.compound_indexes {
                report.entries += 1;
                if !names.contains(&unique::compound_name(c)) {
                    let message = "compound index not created: run sync_indexes()".to_string();
                    let index = c.parts.first().map_or("", |p| p.path);
                    report.problems.push(IntegrityProblem { model: m.name, index, key: None, message });
                }
            }
            for c in counter::missing(m, &names) {
                let message = format!("index of count_by({}) not created: run sync_indexes()", c.name);
                report.problems.push(IntegrityProblem { model: m.name, index: c.name, key: None, message });
            }
            counter::check_counters(self, m, &mut report).await?;
        }
        Ok(report)
    }

    /// The server keeps its indexes itself, so a rebuild (re)creates the declared ones
    /// ([`sync_indexes`](Backend::sync_indexes), which replaces a unique index made with other
    /// options) and recomputes the counters; it drops no other index. A drop beside live transactions (every write through a
    /// counted collection is one) can wedge some MongoDB-compatible servers for ever: the drop
    /// holds a lock while it waits for a transaction holding entries of the index, whose commit
    /// waits on another transaction's statement, which waits on that lock.
    async fn rebuild_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        let mut written = self.sync_indexes(models.clone()).await?;
        for m in models {
            written += counter::rebuild(self, m).await?;
        }
        Ok(written)
    }
}
