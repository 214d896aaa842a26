//! The database handle: typed operations on any backend.

pub use crate::api::related::Record;
use crate::backend::capability::Runs;
use crate::backend::{Backend, IntegrityReport, PutItem, Row, WriteMode};
use crate::embedded::Redb;
use crate::engine::trace::{self, Command};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::Query;
use crate::schema::key::{AsKey, Key, KeyValue};
use crate::schema::model::{Model, ModelDesc};
use std::future::{Future, IntoFuture};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

/// A database on backend `B`: cheap to clone, shareable across tasks.
///
/// ```
/// use nonrel_runtime::{Database, Key, Model};
///
/// #[derive(Model, Debug, PartialEq)]
/// struct Post {
///     #[field(key)]
///     id: Option<Key<Post>>,
///     #[field(index)]
///     title: String,
///     views: u32,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// let db = Database::in_memory()?;
/// let mut post = Post { id: None, title: "Hello".into(), views: 3 };
/// let key = db.save(&mut post).await?;          // an upsert; assigns the automatic key
/// assert_eq!(db.get(&key).await?, Some(post));
/// let found = db.query::<Post>().filter(Post::title().eq("Hello")).all().await?;
/// assert_eq!(found.len(), 1);
/// assert_eq!(db.query::<Post>().count_upto(10).await?, 1);
/// assert!(db.delete(&key).await?);
/// # Ok(()) }
/// ```
pub struct Database<B> {
    backend: Arc<B>,
    max_in: Option<usize>,
    /// Set once the fan-out a crash left pending (the outbox) has been finished.
    recovered: Arc<tokio::sync::OnceCell<()>>,
}

impl<B> Clone for Database<B> {
    fn clone(&self) -> Self {
        Database { backend: self.backend.clone(), max_in: self.max_in, recovered: self.recovered.clone() }
    }
}

impl Database<Redb> {
    /// Opens (creating if missing) an embedded database file.
    ///
    /// Fan-out to denormalized copies that a crash left pending (the outbox) is
    /// finished before it returns.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Redb::open(path).map(Database::new)?.recovered_now()
    }

    /// Opens an existing embedded database file; a missing file is an error. Pending fan-out
    /// is finished as by [`open`](Self::open).
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self> {
        Redb::open_existing(path).map(Database::new)?.recovered_now()
    }

    /// Finishes the pending fan-out of a freshly opened file. The embedded backend's
    /// operations complete without a runtime when none is current, so this runs them on a
    /// thread of its own, whatever runtime the caller is on.
    fn recovered_now(self) -> Result<Self> {
        let db = self.clone();
        let finished = std::thread::scope(|s| {
            s.spawn(|| {
                let mut work = std::pin::pin!(db.finish_pending_copies());
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                loop {
                    if let std::task::Poll::Ready(r) = work.as_mut().poll(&mut cx) {
                        return r;
                    }
                    std::thread::yield_now();
                }
            })
            .join()
        });
        finished.map_err(|_| Error::new(ErrorKind::Storage, "finishing pending copies failed"))??;
        let _ = self.recovered.set(());
        Ok(self)
    }

    /// An embedded database in memory (for tests).
    pub fn in_memory() -> Result<Self> {
        Redb::in_memory().map(Database::new)
    }
}

pub(crate) use crate::schema::model::{all_models, decode, encode, key_of};

impl<B: Backend> Database<B> {
    /// A database on an opened backend.
    pub fn new(backend: B) -> Self {
        Database { backend: Arc::new(backend), max_in: None, recovered: Default::default() }
    }

    /// Splits `in` lookups with more than `n` values into several queries whose results are
    /// merged, de-duplicated and ordered as one. The default is the backend's limit.
    pub fn with_max_in_values(mut self, n: usize) -> Self {
        self.max_in = Some(n.max(1));
        self
    }

    pub(crate) fn max_in(&self) -> usize {
        self.max_in.unwrap_or(B::MAX_IN_VALUES)
    }

    /// The backend, for what only it can do.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    async fn put_one<M: Model>(&self, m: &mut M, mode: WriteMode) -> Result<Key<M>> {
        let mut items = vec![PutItem { key: key_of(m)?, doc: encode(m)? }];
        let copied = crate::engine::related::before_put(&*self.backend, M::DESC, &mut items).await?;
        let copies =
            crate::engine::related::Pending::noted(self.backend(), || self.finish_pending_once(), M::DESC, &items)
                .await?;
        let key = self.backend.put(M::DESC, items, mode).await.map_err(Error::without_item)?.pop();
        let key = key.ok_or_else(|| Error::new(ErrorKind::Storage, "backend returned no key"))?;
        copied.check(&*self.backend).await?;
        copies.run(&*self.backend, std::slice::from_ref(&key)).await?;
        if m.key_value().is_none() {
            m.set_key_value(key.clone())?;
        }
        Ok(Key::from_value(key))
    }

    /// Saves a record: creates it or replaces the stored one, without checking which.
    /// An automatic key is assigned on the first save and written into the model.
    pub async fn save<M: Model>(&self, record: &mut M) -> Result<Key<M>> {
        trace::command(|| Command::on(B::NAME, "save", M::DESC), self.put_one(record, WriteMode::Upsert)).await
    }

    /// Creates a record; fails with [`ErrorKind::DuplicateKey`] if its key exists.
    pub async fn insert<M: Model>(&self, record: &mut M) -> Result<Key<M>> {
        trace::command(|| Command::on(B::NAME, "insert", M::DESC), self.put_one(record, WriteMode::Insert)).await
    }

    /// Saves many records in one write; on failure [`Error::item`] names the record that
    /// failed and nothing is written.
    pub async fn save_many<M: Model>(&self, records: &mut [M]) -> Result<Vec<Key<M>>> {
        trace::command(|| Command::on(B::NAME, "save_many", M::DESC), self.put_many(records)).await
    }

    async fn put_many<M: Model>(&self, records: &mut [M]) -> Result<Vec<Key<M>>> {
        let mut items = Vec::with_capacity(records.len());
        for (i, m) in records.iter().enumerate() {
            let item = (|| Ok(PutItem { key: key_of(m)?, doc: encode(m)? }))().map_err(|e: Error| e.with_item(i))?;
            items.push(item);
        }
        let copied = crate::engine::related::before_put(&*self.backend, M::DESC, &mut items).await?;
        let copies =
            crate::engine::related::Pending::noted(self.backend(), || self.finish_pending_once(), M::DESC, &items)
                .await?;
        let keys = self.backend.put(M::DESC, items, WriteMode::Upsert).await?;
        copied.check(&*self.backend).await?;
        copies.run(&*self.backend, &keys).await?;
        for (m, k) in records.iter_mut().zip(&keys) {
            if m.key_value().is_none() {
                m.set_key_value(k.clone())?;
            }
        }
        Ok(keys.into_iter().map(Key::from_value).collect())
    }

    /// Reads the record with this key.
    pub async fn get<M: Model>(&self, key: impl AsKey<M>) -> Result<Option<M>> {
        let key = key.as_key();
        trace::command(|| Command::on(B::NAME, "get", M::DESC).trips(1), async move {
            match self.backend.get(M::DESC, key.clone()).await? {
                Some(doc) if crate::engine::poly::is_instance::<M>(&doc)? => decode(Some(&key), &doc).map(Some),
                _ => Ok(None),
            }
        })
        .await
    }

    /// Reads many records in one round trip, in the order of `keys`.
    pub async fn get_many<M: Model, K: AsKey<M>>(&self, keys: impl IntoIterator<Item = K>) -> Result<Vec<Option<M>>> {
        let keys: Vec<KeyValue> = keys.into_iter().map(|k| k.as_key()).collect();
        trace::command(|| Command::on(B::NAME, "get_many", M::DESC).trips(1), async move {
            let docs = self.backend.get_many(M::DESC, keys.clone()).await?;
            let docs = docs.into_iter().map(|d| d.filter(|d| crate::engine::poly::is_instance::<M>(d).unwrap_or(true)));
            keys.iter().zip(docs).map(|(k, d)| d.map(|d| decode(Some(k), &d)).transpose()).collect()
        })
        .await
    }

    /// Deletes the record with this key without reading it; returns whether it existed.
    /// A subclass deletes only records of its class (others count as missing).
    pub async fn delete<M: Model>(&self, key: impl AsKey<M>) -> Result<bool> {
        let deleted = crate::engine::poly::delete::<M, B>(self.backend(), vec![key.as_key()]);
        Ok(trace::command(|| Command::on(B::NAME, "delete", M::DESC), deleted).await? > 0)
    }

    /// Deletes records by key without reading them; returns how many existed.
    /// A subclass deletes only records of its class (others count as missing).
    pub async fn delete_many<M: Model, K: AsKey<M>>(&self, keys: impl IntoIterator<Item = K>) -> Result<u64> {
        let deleted =
            crate::engine::poly::delete::<M, B>(self.backend(), keys.into_iter().map(|k| k.as_key()).collect());
        trace::command(|| Command::on(B::NAME, "delete_many", M::DESC), deleted).await
    }

    /// Starts a query on `M`.
    pub fn query<M: Model>(&self) -> QueryBuilder<'_, B, M> {
        Query::new().retarget(self)
    }

    /// Finishes the fan-out to denormalized copies that writes left pending: each
    /// write of a record whose fields other models copy notes the fan-out durably in an
    /// outbox with (or just before) the write, and removes the note once the copies are
    /// current. A note a crash left is finished here; returns how many were finished.
    ///
    /// This runs by itself when an embedded file is opened, and before a new database
    /// handle first writes a record whose fields other models copy; call it before
    /// [`integrity_check`](Self::integrity_check) to check a store that another process
    /// left after a crash.
    ///
    /// ```
    /// # use nonrel_runtime::Database;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// assert_eq!(db.finish_pending_copies().await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn finish_pending_copies(&self) -> Result<u64> {
        crate::engine::related::finish_outbox(&*self.backend).await
    }

    /// Finishes pending fan-out once per handle, before its first write that owes a fan-out.
    pub(crate) async fn finish_pending_once(&self) -> Result<()> {
        self.recovered.get_or_try_init(|| async { self.finish_pending_copies().await.map(|_| ()) }).await?;
        Ok(())
    }

    /// Checks every declared index of every registered model against the records.
    /// Stale denormalized copies are reported too, under the copy's reserved name.
    pub async fn integrity_check(&self) -> Result<IntegrityReport> {
        let models = all_models()?;
        let mut report = self.backend.integrity_check(models.clone()).await?;
        let (copies, problems) = crate::engine::related::check_copies(&*self.backend, &models).await?;
        report.entries += copies;
        report.problems.extend(problems);
        Ok(report)
    }

    /// Rebuilds every declared index of every registered model, after recomputing the index
    /// fields of emulated lookups of every registered model that declares some (as
    /// [`rebuild_indexes_of`](Self::rebuild_indexes_of) does for one) and bringing stale
    /// denormalized copies up to date; returns the entries and copies written.
    pub async fn rebuild_indexes(&self) -> Result<u64> {
        trace::command(|| Command::general(B::NAME, "rebuild_indexes"), self.rebuild_all()).await
    }

    async fn rebuild_all(&self) -> Result<u64> {
        for r in crate::engine::rebuild::registered_lookup_models() {
            crate::engine::rebuild::recompute(self.backend(), r).await?;
        }
        let models = all_models()?;
        let copies = crate::engine::related::refresh_copies(&*self.backend, &models).await?;
        Ok(copies + self.backend.rebuild_indexes(models).await?)
    }

    /// Creates every declared index of every registered model that does not exist yet
    /// (idempotent; never done implicitly by a save or a query on stores with native indexes).
    pub async fn sync_indexes(&self) -> Result<u64> {
        trace::command(|| Command::general(B::NAME, "sync_indexes").trips(1), self.backend.sync_indexes(all_models()?))
            .await
    }

    /// Copies every record of `M` to another database, keys and data exactly; returns
    /// how many were copied.
    pub async fn copy_to<M: Model, B2: Backend>(&self, to: &Database<B2>) -> Result<u64> {
        self.copy_model_to(M::DESC, to).await
    }

    /// Copies every record of every registered model to another database.
    pub async fn copy_all_to<B2: Backend>(&self, to: &Database<B2>) -> Result<u64> {
        let mut n = 0;
        for m in all_models()? {
            n += self.copy_model_to(m, to).await?;
        }
        Ok(n)
    }

    async fn copy_model_to<B2: Backend>(&self, m: &'static ModelDesc, to: &Database<B2>) -> Result<u64> {
        let rows = self.backend.query(m, crate::plan::Plan::default()).await?;
        to.put_batches(m, rows.into_iter().map(|row| PutItem { key: row.key, doc: row.doc }), WriteMode::Upsert).await
    }

    /// Writes stored documents as they are, in batches of 1,000; returns how many.
    pub(crate) async fn put_batches(
        &self,
        m: &'static ModelDesc,
        items: impl IntoIterator<Item = PutItem>,
        mode: WriteMode,
    ) -> Result<u64> {
        self.try_put_batches(m, items.into_iter().map(Ok), mode).await
    }

    /// [`Self::put_batches`] for items that may fail to build: at the first failure, the
    /// items before it are written and the error is returned.
    pub(crate) async fn try_put_batches(
        &self,
        m: &'static ModelDesc,
        items: impl IntoIterator<Item = Result<PutItem>>,
        mode: WriteMode,
    ) -> Result<u64> {
        const BATCH: usize = 1000;
        let (mut n, mut batch) = (0, Vec::new());
        for item in items {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    if !batch.is_empty() {
                        self.backend.put(m, batch, mode).await?;
                    }
                    return Err(e);
                }
            };
            batch.push(item);
            n += 1;
            if batch.len() == BATCH {
                self.backend.put(m, std::mem::take(&mut batch), mode).await?;
            }
        }
        if !batch.is_empty() {
            self.backend.put(m, batch, mode).await?;
        }
        Ok(n)
    }
}

/// The query [`Database::query`] starts: a [`Query`] on a database, awaited (or run with
/// [`all`](Query::all), [`rows`](Query::rows), [`count`](Query::count), [`page`](Query::page),
/// [`update`](Query::update)…) for the records. Its chaining methods are [`Query`]'s; on a
/// database, [`filter`](Query::filter) and [`order_by`](Query::order_by) check at compile
/// time that the backend runs each condition.
///
/// ```
/// # use nonrel_runtime::{Database, Key, Model};
/// # #[derive(Model)]
/// # struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] views: u32 }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// # let db = Database::in_memory()?;
/// let popular: Vec<Post> = db.query::<Post>().filter(Post::views().gt(100u32)).order_by(Post::views().desc()).limit(5).await?;
/// # assert!(popular.is_empty());
/// # Ok(()) }
/// ```
pub type QueryBuilder<'db, B, M> = Query<M, &'db Database<B>>;

/// A database takes what its backend runs.
impl<B: Runs<R>, R> crate::plan::Accepts<R> for &Database<B> {}

impl<'db, B: Backend, M: Model> Query<M, &'db Database<B>> {
    /// The handle and the query apart from it, for the builders that continue from here.
    pub(crate) fn into_parts(self) -> (&'db Database<B>, Query<M>) {
        self.detach()
    }

    /// Runs a query built apart from the database ([`Detached`](crate::plan::Detached)) on this
    /// one: `db.query::<M>().with(query)` is `query` on `db` (what was built here before is
    /// replaced).
    ///
    /// ```
    /// # use nonrel_runtime::{Database, Key, Model, Query};
    /// # #[derive(Model)]
    /// # struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] views: u32 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// let popular = Query::<Post>::new().filter(Post::views().gt(100u32)).limit(5);
    /// assert_eq!(db.query::<Post>().with(popular.clone()).count().await?, 0);
    /// # Ok(()) }
    /// ```
    pub fn with(self, query: Query<M>) -> Self {
        query.retarget(self.on)
    }

    /// The query rewritten for the backend (emulated lookups onto their index fields),
    /// its lookups across a `Ref` not yet resolved: see [`crate::engine::prepare`].
    fn prepared(&self) -> Result<crate::engine::prepare::Prepared> {
        crate::engine::prepare::Prepared::new::<B, M>(self.plan()?.clone(), self.joins())
    }

    /// The plan as the backend runs it, before lookups across a `Ref` are resolved.
    pub(crate) fn local_plan(&self) -> Result<crate::plan::Plan> {
        Ok(self.prepared()?.plan)
    }

    /// Where the query's steps read: the backend, splitting large `in` lookups.
    fn reads(&self) -> crate::engine::prepare::Direct<'db, B> {
        crate::engine::prepare::Direct { backend: &*self.on.backend, max_in: self.on.max_in() }
    }

    /// The plan as the backend runs it: rewritten, with lookups across a `Ref` resolved
    /// (two-step joins).
    pub(crate) async fn backend_plan(&self) -> Result<crate::plan::Plan> {
        crate::engine::prepare::backend_plan::<B, M>(&self.reads(), self.plan()?.clone(), self.joins()).await
    }

    /// The database the query runs on.
    pub(crate) fn database(&self) -> &'db Database<B> {
        self.on
    }

    pub(crate) fn run_update(
        self,
        ops: Vec<crate::backend::UpdateOp>,
    ) -> impl Future<Output = Result<crate::backend::UpdateCounts>> + Send + 'db {
        let (db, reads) = (self.on, self.reads());
        // Prepared before the future exists, so the future holds the prepared plan alone; the
        // plan then moves to the backend rather than being copied.
        let prepared =
            self.into_plan().and_then(|(plan, joins)| crate::engine::prepare::Prepared::new::<B, M>(plan, &joins));
        async move {
            let prepared = prepared?;
            let plan = if prepared.is_resolved() {
                prepared.plan
            } else {
                // Boxed: the reads of related records would otherwise make every update's
                // future as large.
                Box::pin(prepared.resolve(&reads)).await?
            };
            if !crate::engine::related::update_has_copies(M::DESC, &ops) {
                let counts = crate::engine::keyed::update(&*db.backend, M::DESC, plan, ops, db.max_in()).await;
                return counts.map_err(|e| e.with_model(M::DESC.name));
            }
            // Boxed: the copies' reads and writes would otherwise make every update's future as
            // large.
            Box::pin(Self::update_with_copies(db, plan, ops)).await
        }
    }

    /// [`Self::run_update`] of an update that sets a `Ref` with copies or changes copied
    /// fields: the copies follow.
    async fn update_with_copies(
        db: &'db Database<B>,
        plan: crate::plan::Plan,
        mut ops: Vec<crate::backend::UpdateOp>,
    ) -> Result<crate::backend::UpdateCounts> {
        let backend = &*db.backend;
        let mut copies = crate::engine::related::before_update(backend, M::DESC, &plan, &mut ops).await?;
        if copies.is_active() {
            db.finish_pending_once().await?;
        }
        copies.note(backend).await?;
        let counts = crate::engine::keyed::update(backend, M::DESC, plan, ops, db.max_in())
            .await
            .map_err(|e| e.with_model(M::DESC.name))?;
        copies.after(backend).await?;
        Ok(counts)
    }

    /// Runs the query, splitting `in` lookups larger than the backend takes.
    pub(crate) async fn run(&self) -> Result<Vec<Row>> {
        Ok(self.fetch(&[], None).await?.unwrap_or_default())
    }

    /// The rows with their `related` selections: the plan prepared once, then run with its
    /// joins and selections in one command where the backend can (MongoDB's `$lookup`), else
    /// the two-step joins, then the query with its selections where a backend without joins
    /// reads them together (the embedded backend, in one read transaction), else the (split)
    /// query and one batched key read per selection. With `visit`, such a backend is first
    /// offered to hand it the rows in place ([`Backend::visit_related`]): `None` when it did.
    async fn fetch(
        &self,
        related: &[crate::engine::related::Selection],
        visit: Option<&mut Visitor<'_>>,
    ) -> Result<Option<Vec<Row>>> {
        // Conditions across a `Ref` inside ORs and NOTs run in two steps on every backend.
        let prepared = self.prepared()?.resolve_nested(&self.reads()).await?;
        let (backend, max_in) = (&*self.on.backend, self.on.max_in());
        let native = <B::Joins as crate::backend::capability::Support>::NATIVE;
        let native = native && !crate::engine::keyed::emulated::<B>(&prepared.plan);
        if native && (!prepared.joins.is_empty() || !related.is_empty()) {
            if let Some(mut rows) =
                query_joined::<B, M>(backend, &prepared.plan, &prepared.joins, related, max_in).await?
            {
                crate::engine::related::load_missing(backend, related, &mut rows).await?;
                return Ok(Some(rows));
            }
        }
        let had_joins = !prepared.joins.is_empty();
        let plan = prepared.resolve(&self.reads()).await?;
        if native && had_joins && !related.is_empty() {
            // The backend declined the joins: offer it the selections alone.
            if let Some(mut rows) = query_joined::<B, M>(backend, &plan, &[], related, max_in).await? {
                crate::engine::related::load_missing(backend, related, &mut rows).await?;
                return Ok(Some(rows));
            }
        }
        let joinless = !<B::Joins as crate::backend::capability::Support>::NATIVE;
        let offered = !related.is_empty() || visit.is_some();
        let mut rows = if joinless && offered && !crate::engine::keyed::emulated::<B>(&plan) {
            // A backend without joins is offered the selections alone, to read them with the
            // query (the embedded backend, in one read transaction), and the rows in place
            // when they are wanted alone: one command, as the query it replaces.
            let plan = crate::engine::keyed::normalized(plan);
            let describe = || Command::planned(B::NAME, "query", M::DESC, &plan);
            let run = async {
                if let Some(visit) = visit {
                    let mut visited = 0;
                    let mut counting = |v: crate::backend::Visit<'_>| {
                        visited += u64::from(matches!(v, crate::backend::Visit::Row(_)));
                        visit(v)
                    };
                    if backend.visit_related(M::DESC, &plan, related, &mut counting).await? {
                        trace::round_trips(1);
                        return Ok(Joinless::Visited(visited));
                    }
                }
                // Rows alone, declined in place, run as any other query.
                if !related.is_empty() {
                    if let Some(rows) = backend.query_joined(M::DESC, &plan, &[], related, max_in).await? {
                        trace::round_trips(1);
                        return Ok(Joinless::Rows(rows, true));
                    }
                }
                let rows = crate::engine::split::query(backend, M::DESC, plan.clone(), max_in).await?;
                Ok(Joinless::Rows(rows, false))
            };
            match trace::command(describe, run).await? {
                Joinless::Visited(_) => return Ok(None),
                Joinless::Rows(mut rows, true) => {
                    crate::engine::related::load_missing(backend, related, &mut rows).await?;
                    return Ok(Some(rows));
                }
                Joinless::Rows(rows, false) => rows,
            }
        } else {
            crate::engine::keyed::query(backend, M::DESC, plan, max_in).await?
        };
        if !related.is_empty() {
            crate::engine::related::load(backend, related, &mut rows).await?;
        }
        Ok(Some(rows))
    }

    /// The matching rows: records with their related selections and annotations.
    pub async fn rows(mut self) -> Result<Vec<Record<M>>> {
        let projection = self.plan()?.projection.clone();
        let annotations = self.annotations()?;
        // A `len` annotation reads its field even when the projection defers it.
        let widened = crate::engine::annotate::widen(projection.as_ref(), &annotations);
        if let Some(w) = &widened {
            self.plan.projection = Some(w.clone());
        }
        // Selections of one `Ref` may run with the query ($lookup); prefetches run after it.
        let (single, prefetches) = crate::engine::related::partition(&self.related);
        let mut set = crate::api::related::RelatedSet::new(&self.related);
        if prefetches.is_empty() && annotations.is_empty() && !single.is_empty() {
            // Nothing else needs the rows: a backend may hand them over in place, each decoded
            // as it comes and its related documents kept together for the whole result.
            let mut records = Vec::new();
            let mut visit = |v: crate::backend::Visit<'_>| {
                match v {
                    crate::backend::Visit::Row(row) => records
                        .push(crate::plan::with_projection(projection.as_ref(), || decode::<M>(row.key, row.doc))?),
                    crate::backend::Visit::Related(found) => set.push_one(found),
                    crate::backend::Visit::Rows(n) => {
                        records.reserve_exact(n);
                        set.reserve(n);
                    }
                }
                Ok(())
            };
            let Some(mut rows) = self.fetch(&single, Some(&mut visit)).await? else {
                let related = set.shared(records.len());
                return Ok(records
                    .into_iter()
                    .zip(related)
                    .map(|(record, related)| Record { record, related, annotations: Vec::new() })
                    .collect());
            };
            return self.finish_rows(&mut rows, set, projection.as_ref());
        }
        let mut rows = self.fetch(&single, None).await?.unwrap_or_default();
        crate::engine::related::load_prefetches(&*self.on.backend, &prefetches, &mut rows, self.on.max_in()).await?;
        if !annotations.is_empty() {
            let restore = widened.and(projection.as_ref());
            let backend = &*self.on.backend;
            crate::engine::annotate::load(backend, &annotations, &mut rows, self.on.max_in(), restore)
                .await
                .map_err(|e| e.with_model(M::DESC.name))?;
        }
        self.finish_rows(&mut rows, set, projection.as_ref())
    }

    /// The rows decoded as records, their related records kept together in `set`.
    fn finish_rows(
        &self,
        rows: &mut Vec<Row>,
        mut set: crate::api::related::RelatedSet,
        projection: Option<&crate::plan::Projection>,
    ) -> Result<Vec<Record<M>>> {
        for r in rows.iter_mut() {
            set.push_row(std::mem::take(&mut r.related));
        }
        let mut related = set.shared(rows.len());
        crate::plan::with_projection(projection, || {
            // Collected into a list sized once (a collect of results grows it step by step).
            let mut out = Vec::with_capacity(rows.len());
            for r in rows.drain(..) {
                let record = decode(r.key.as_ref(), &r.doc)?;
                let related = related.next().unwrap_or_default();
                out.push(Record { record, related, annotations: r.annotations });
            }
            Ok(out)
        })
    }

    /// The matching records.
    pub async fn all(self) -> Result<Vec<M>> {
        let projection = self.plan()?.projection.clone();
        // A backend may hand the rows over in place, each decoded as it comes.
        let mut records = Vec::new();
        let mut visit = |v: crate::backend::Visit<'_>| {
            match v {
                crate::backend::Visit::Row(row) => {
                    records.push(crate::plan::with_projection(projection.as_ref(), || decode::<M>(row.key, row.doc))?)
                }
                crate::backend::Visit::Related(_) => {}
                crate::backend::Visit::Rows(n) => records.reserve_exact(n),
            }
            Ok(())
        };
        let Some(rows) = self.fetch(&[], Some(&mut visit)).await? else { return Ok(records) };
        crate::plan::with_projection(projection.as_ref(), || {
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(decode(r.key.as_ref(), &r.doc)?);
            }
            Ok(out)
        })
    }

    /// The first matching record.
    pub async fn first(self) -> Result<Option<M>> {
        Ok(self.limit(1).all().await?.pop())
    }

    /// How many records match (honouring offset and limit).
    pub async fn count(self) -> Result<u64> {
        self.bounded_count(None).await
    }

    /// How many records match, counting no further than `n`: the cost is bounded by `n`.
    pub async fn count_upto(self, n: u64) -> Result<u64> {
        self.bounded_count(Some(n)).await
    }

    /// Whether any record matches.
    pub async fn exists(self) -> Result<bool> {
        Ok(self.count_upto(1).await? > 0)
    }

    async fn bounded_count(self, n: Option<u64>) -> Result<u64> {
        let mut plan = self.backend_plan().await?;
        let offset = std::mem::take(&mut plan.offset) as u64;
        let cap = match (plan.limit.take().map(|l| l as u64), n) {
            (Some(l), Some(n)) => Some(l.min(n)),
            (l, n) => l.or(n),
        };
        if cap == Some(0) {
            return Ok(0);
        }
        let upto = cap.map(|c| c.saturating_add(offset));
        let found = crate::engine::keyed::count(&*self.on.backend, M::DESC, plan, upto, self.on.max_in()).await?;
        let after_offset = found.saturating_sub(offset);
        Ok(cap.map_or(after_offset, |c| after_offset.min(c)))
    }
}

impl<'db, B: Backend, M: Model> IntoFuture for Query<M, &'db Database<B>> {
    type Output = Result<Vec<M>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Vec<M>>> + Send + 'db>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.all())
    }
}

/// What takes the rows a backend hands over in place ([`Backend::visit_related`]).
type Visitor<'v> = dyn FnMut(crate::backend::Visit<'_>) -> Result<()> + Send + 'v;

/// What a backend without joins did with a query and its selections: rows, with whether it
/// filled their selections, or the rows it handed over in place, counted.
enum Joinless {
    Rows(Vec<Row>, bool),
    Visited(u64),
}

impl trace::Returned for Joinless {
    fn returned(&self) -> Option<u64> {
        Some(match self {
            Joinless::Rows(rows, _) => rows.len() as u64,
            Joinless::Visited(n) => *n,
        })
    }
}

/// The backend's joined command (MongoDB's `$lookup`), one store command with a span of its
/// own; `None` when the backend declines it.
async fn query_joined<B: Backend, M: Model>(
    backend: &B,
    plan: &crate::plan::Plan,
    joins: &[crate::plan::join::JoinFilter],
    related: &[crate::engine::related::Selection],
    max_in: usize,
) -> Result<Option<Vec<Row>>> {
    let describe = || Command::planned(B::NAME, "query", M::DESC, plan);
    let run = async { backend.query_joined(M::DESC, plan, joins, related, max_in).await.map(trace::MaybeRows) };
    Ok(trace::command(describe, run).await?.0)
}
