//! The embedded backend: a redb file (or memory), the default (declared indexes kept in the same
//! write transaction as their record).
//!
//! Layout: one table of records per collection (ordered key bytes to BSON document), one
//! table per declared index (ordered value bytes, then key bytes, to key bytes; a unique index
//! maps the value alone to the key). A filter on an indexed field with `exact`, `in`,
//! `contains` on a list, a range or `startswith` reads only the index entries in range, so
//! its cost grows with the result, not the collection; a query with no such filter reads every
//! record (a scan), or walks the index of its first ordering term.
//!
//! Async: writes (which wait for the disk) and scans run in place on a multi-threaded tokio
//! runtime (`block_in_place`: the worker's other tasks move to another thread) and on the
//! blocking pool on a current-thread runtime; point reads and index-served queries touch a
//! few cached pages and run on the calling task.

mod aggregate;
mod append;
mod blocks;
mod counter;
mod explain_plan;
mod index;
mod lookup;
mod seek;
mod store;
mod tables;
pub use tables::StoredKey;
mod tx;

use crate::backend::capability::No;
use crate::backend::{Backend, IntegrityReport, PutItem, Row, SwapItem, Swapped, UpdateCounts, UpdateOp, WriteMode};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::Plan;
use crate::schema::key::{KeyKind, KeyValue};
use crate::schema::model::ModelDesc;
pub use aggregate::{AggregateExplain, AggregateStrategy};
use std::path::Path;
use std::sync::Arc;
use store::{storage, Store};

/// The embedded backend on redb. Open it with [`Database::open`](crate::api::database::Database::open) or
/// [`Database::in_memory`](crate::api::database::Database::in_memory).
#[derive(Clone)]
pub struct Redb {
    store: Arc<Store>,
}

impl Redb {
    /// Opens (creating if missing) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let db = redb::Database::create(path).map_err(|e| open_error(path, e))?;
        tables::upgrade(&db)?;
        blocks::recover(&db)?;
        Ok(Redb { store: Arc::new(Store::new(db)) })
    }

    /// Opens an existing database file; a missing file is an error.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let db = redb::Database::open(path).map_err(|e| open_error(path, e))?;
        tables::upgrade(&db)?;
        blocks::recover(&db)?;
        Ok(Redb { store: Arc::new(Store::new(db)) })
    }

    /// A database in memory, gone when the last handle drops.
    pub fn in_memory() -> Result<Self> {
        let db = redb::Builder::new().create_with_backend(redb::backends::InMemoryBackend::new()).map_err(storage)?;
        Ok(Redb { store: Arc::new(Store::new(db)) })
    }

    /// Runs work that waits for the disk or reads many records: on a multi-threaded runtime in
    /// place, the worker's other tasks handed to another thread meanwhile
    /// ([`block_in_place`](tokio::task::block_in_place)); on a current-thread runtime on the
    /// blocking pool, so the runtime's one thread goes on with other tasks; outside a runtime
    /// on the calling thread.
    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Result<T> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| work(&self.store))
            }
            Ok(handle) => {
                let store = self.store.clone();
                handle
                    .spawn_blocking(move || work(&store))
                    .await
                    .map_err(|e| Error::new(ErrorKind::Storage, format!("embedded store task failed: {e}")))?
            }
            Err(_) => work(&self.store),
        }
    }
}

/// The access path of a query on the embedded backend. Conditions on the key read ranges of
/// the records table itself: `index` is then [`KEY`](crate::plan::KEY) (`"_id"`) and
/// `covering` is true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explain {
    /// The index read (its path), or `None` for a scan of every record.
    pub index: Option<&'static str>,
    /// How many ranges of the index are read (an `in` lookup reads one per value).
    pub ranges: usize,
    /// Whether the index order gives the query's order, so a limit stops the read early.
    pub ordered: bool,
    /// Whether the index holds the records themselves (`#[field(index(covering))]`), so the
    /// records table is not read.
    pub covering: bool,
    /// How many index entries (or records, for a scan or a key range) the query reads,
    /// counted by running it: a limit that stops the read early shows here. A count on a
    /// counted index (`#[field(index(counted))]`) shows the blocks it added up and the
    /// entries it read at the range's ends.
    pub entries_read: u64,
    /// How many documents the query reads to check its conditions or return them (none for
    /// a count that its index or key ranges answer alone), counted by running it.
    pub records_read: u64,
    /// For a query with an OR, which the runtime runs as one plan per branch (the rest of
    /// the query with the branch's conditions, each reading its own index) before merging
    /// the rows: each branch's explanation, in order. The fields above then sum theirs
    /// (`index` is `None`, `ordered` and `covering` false). Empty otherwise. A NOT is checked
    /// on the rows the rest of the query reads, and shows in `records_read`.
    pub branches: Vec<Explain>,
    /// The declared counter (`#[model(count_by(...))]`, by its name) that answered a count
    /// without reading records or index entries: `entries_read` is then the counter's groups
    /// read.
    pub counter: Option<&'static str>,
    /// For a query with annotations ([`Query::annotate`](crate::Query::annotate)), how each
    /// is computed, in the order asked for (empty otherwise, and for a count).
    pub annotations: Vec<AnnotationExplain>,
}

/// How an annotation of an explained query is computed ([`Explain::annotations`]).
///
/// ```
/// use nonrel_runtime::annotate::{self, AnnotationRun};
/// use nonrel_runtime::{Database, Key, Model, Ref};
/// #[derive(Model)]
/// struct Post { #[field(key)] id: Option<Key<Post>>, tags: Vec<String> }
/// #[derive(Model)]
/// struct Comment { #[field(key)] id: Option<Key<Comment>>, #[field(index)] post: Ref<Post> }
/// let db = Database::in_memory().unwrap();
/// let q = db
///     .query::<Post>()
///     .annotate("n_tags", annotate::len(Post::tags()))
///     .annotate("comments", annotate::count_of(Comment::post()));
/// let explain = q.explain().unwrap();
/// assert_eq!(explain.annotations[0].runs, AnnotationRun::FromRow);
/// let AnnotationRun::CountByKey { model, queries, read, .. } = &explain.annotations[1].runs else { panic!() };
/// // No rows yet: the count sends no query; with rows, one reading the `post` index.
/// assert_eq!((*model, *queries, read.index), ("Comment", 0, Some("post")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationExplain {
    /// The annotation's name.
    pub name: String,
    /// How it is computed.
    pub runs: AnnotationRun,
}

/// How an annotation is computed: from each row, or by one more query for the whole result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnotationRun {
    /// In memory from each row's document as it is read (`annotate::len`): nothing more is
    /// read.
    FromRow,
    /// Counted by key for the whole result (`annotate::count_of`): one more query of the
    /// referring `model`, its conditions and `reference in [the rows' keys]`, the referring
    /// records counted per row in memory.
    CountByKey {
        /// The referring model.
        model: &'static str,
        /// The stored path of its reference field.
        reference: String,
        /// The commands the query is sent as: one, split at the backend's `in` limit as every
        /// large `in` lookup is (none when the query has no rows).
        queries: usize,
        /// That query explained with the keys of the rows the query has now.
        read: Box<Explain>,
    },
}

fn open_error(path: &Path, e: redb::DatabaseError) -> Error {
    // redb reports a file that is not one of its databases (no magic number, a header it
    // cannot read) as invalid data from the file, not as corruption.
    let not_a_database = matches!(&e, redb::DatabaseError::Storage(redb::StorageError::Io(io))
        if matches!(io.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof));
    let mut err = storage(e);
    if not_a_database {
        err = Error::new(ErrorKind::Corrupt, err.message().to_owned()).with_source(err);
    }
    let what = match err.kind() {
        ErrorKind::Locked => "is open in another process or handle",
        ErrorKind::Corrupt => "is damaged or is not a nonrel database",
        _ => "cannot be opened",
    };
    Error::new(err.kind(), format!("database file {} {what}", path.display())).with_source(err)
}

/// Whether a plan may read every record (then it runs on the blocking pool).
fn may_scan(m: &ModelDesc, plan: &Plan) -> bool {
    let served = |p: &str| m.index_on(p).is_some();
    !plan.filters.iter().any(|f| served(&f.path))
        && !plan.order.first().is_some_and(|o| served(&o.path))
        && index::key_ranges(plan).is_none()
}

impl Backend for Redb {
    const NAME: &'static str = "embedded";
    const OUTBOX_IN_WRITE: bool = true;
    const COPIES_IN_WRITE: bool = true;
    /// Conditions on the key read ranges of the records table (stored in key order).
    const KEY_FILTERS: bool = true;

    type Joins = No;
    type CaseInsensitive = No;
    type Regex = No;
    type DateParts = No;
    type FullText = No;
    const AUTO_KEY: KeyKind = KeyKind::Int;

    async fn put(&self, model: &'static ModelDesc, items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        self.blocking(move |s| s.put(model, items, mode)).await
    }

    async fn get(&self, model: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        self.store.get(model, &key)
    }

    async fn get_many(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        self.store.get_many(model, &keys)
    }

    async fn delete(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        self.blocking(move |s| s.delete(model, &keys)).await
    }

    async fn swap(&self, model: &'static ModelDesc, items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
        self.blocking(move |s| s.swap(model, items)).await
    }

    async fn query(&self, model: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        if may_scan(model, &plan) {
            return self.blocking(move |s| s.run(model, &plan, None).map(|r| r.0)).await;
        }
        self.store.run(model, &plan, None).map(|r| r.0)
    }

    /// Offered the related selections alone (this backend declares no joins): the query
    /// and the selected records are read in one read transaction, each related record by
    /// key as its row is kept. A query that may scan declines (it runs on the blocking pool).
    async fn query_joined(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        joins: &[crate::plan::join::JoinFilter],
        related: &[crate::plan::join::Selection],
        max_in: usize,
    ) -> Result<Option<Vec<Row>>> {
        let _ = max_in; // no `in` limit
        if !joins.is_empty() || related.is_empty() || !related.iter().all(|s| s.is_single()) || may_scan(model, plan) {
            return Ok(None);
        }
        self.store.run_related(model, plan, related).map(Some)
    }

    /// Offered the related selections of a query whose rows are wanted alone, or a query's
    /// rows without selections: as [`query_joined`](Self::query_joined), in one read
    /// transaction, every document read in place. A query that may scan declines.
    async fn visit_related(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        related: &[crate::plan::join::Selection],
        visit: &mut (dyn FnMut(crate::backend::Visit<'_>) -> Result<()> + Send),
    ) -> Result<bool> {
        if !related.iter().all(|s| s.is_single()) || may_scan(model, plan) {
            return Ok(false);
        }
        self.store.visit_related(model, plan, related, visit).map(|()| true)
    }

    async fn query_seek(
        &self,
        model: &'static ModelDesc,
        plan: Plan,
        seek: crate::plan::seek::Seek,
    ) -> Result<Option<Vec<Row>>> {
        if may_scan(model, &plan) {
            return Ok(None);
        }
        seek::from_index(&self.store, model, &plan, &seek)
    }

    async fn aggregate(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        grouping: &crate::plan::aggregate::Grouping,
    ) -> Result<Option<Vec<crate::plan::aggregate::GroupRow>>> {
        self.aggregate_groups(model, plan, grouping).await
    }

    async fn count(&self, model: &'static ModelDesc, plan: Plan, upto: Option<u64>) -> Result<u64> {
        let upto = Some(upto.unwrap_or(u64::MAX));
        if may_scan(model, &plan) && crate::backend::counter::answering(model, &plan).is_none() {
            return self.blocking(move |s| s.run(model, &plan, upto).map(|r| r.1)).await;
        }
        self.store.run(model, &plan, upto).map(|r| r.1)
    }

    async fn update(&self, model: &'static ModelDesc, plan: Plan, ops: Vec<UpdateOp>) -> Result<UpdateCounts> {
        self.blocking(move |s| s.update(model, &plan, &ops)).await
    }

    async fn sync_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        self.blocking(move |s| s.sync_indexes(&models)).await
    }

    async fn integrity_check(&self, models: Vec<&'static ModelDesc>) -> Result<IntegrityReport> {
        self.blocking(move |s| s.integrity_check(&models)).await
    }

    async fn rebuild_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        self.blocking(move |s| s.rebuild_indexes(&models)).await
    }
}
