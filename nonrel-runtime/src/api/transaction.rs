//! The implementation behind [`transaction`](crate::transaction); its documentation is there.

use crate::api::database::{decode, encode, key_of, Database};
use crate::backend::capability::Transactions;
use crate::backend::{Backend, PutItem, Row, WriteMode};
use crate::engine::trace::{self, Command, NotRows};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Plan, Query};
use crate::schema::key::{AsKey, Key, KeyValue};
use crate::schema::model::{Model, ModelDesc};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How many times a transaction runs before it reports the conflict, unless set with
/// [`TransactionBuilder::tries`].
///
/// ```
/// assert_eq!(nonrel_runtime::transaction::DEFAULT_TRIES, 10);
/// ```
pub const DEFAULT_TRIES: u32 = 10;

impl<B: Backend> Database<B> {
    /// Runs `work` in a transaction, retried on conflict. Await the returned builder;
    /// set the number of tries with [`TransactionBuilder::tries`].
    ///
    /// ```
    /// use nonrel_runtime::{Database, Model};
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Counter { #[field(key)] name: String, hits: u64 }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// let hits = db
    ///     .transaction(|tx| async move {
    ///         let mut c = tx.get::<Counter>("home").await?.unwrap_or(Counter { name: "home".into(), hits: 0 });
    ///         c.hits += 1;
    ///         tx.save(&mut c).await?;
    ///         Ok(c.hits)
    ///     })
    ///     .tries(20)
    ///     .await?;
    /// assert_eq!(hits, 1);
    /// # Ok(()) }
    /// ```
    pub fn transaction<F, Fut, T>(&self, work: F) -> TransactionBuilder<'_, B, F>
    where
        // On the method, not the impl, so that a backend without transactions gets the
        // capability's message rather than "method not found".
        B: Transactions,
        F: Fn(Transaction<B>) -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        TransactionBuilder { db: self, work, tries: DEFAULT_TRIES }
    }
}

/// A transaction waiting to run; await it for the closure's result (see
/// [`Database::transaction`]).
#[must_use = "a transaction does nothing until awaited"]
pub struct TransactionBuilder<'db, B, F> {
    db: &'db Database<B>,
    work: F,
    tries: u32,
}

impl<B, F> TransactionBuilder<'_, B, F> {
    /// How many times the closure may run before the conflict is reported (at least 1;
    /// [`DEFAULT_TRIES`] unless set).
    ///
    /// ```
    /// # use nonrel_runtime::{Database, Model};
    /// # #[derive(Model)] struct Note { #[field(key)] id: i64, text: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// db.transaction(|tx| async move { tx.save(&mut Note { id: 1, text: "hi".into() }).await }).tries(3).await?;
    /// # Ok(()) }
    /// ```
    pub fn tries(mut self, n: u32) -> Self {
        self.tries = n.max(1);
        self
    }
}

impl<'db, B, F, Fut, T> IntoFuture for TransactionBuilder<'db, B, F>
where
    B: Transactions,
    F: Fn(Transaction<B>) -> Fut + Send + 'db,
    Fut: Future<Output = Result<T>> + Send + 'db,
    T: Send + 'db,
{
    type Output = Result<T>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T>> + Send + 'db>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self.db, self.work, self.tries))
    }
}

async fn run<B, F, Fut, T>(db: &Database<B>, work: F, tries: u32) -> Result<T>
where
    B: Transactions,
    F: Fn(Transaction<B>) -> Fut + Send,
    Fut: Future<Output = Result<T>> + Send,
{
    let mut last = None;
    for attempt in 1..=tries {
        let started = std::time::Instant::now();
        let state = Arc::new(tokio::sync::Mutex::new(Some(db.backend().begin().await?)));
        let after = Arc::new(std::sync::Mutex::new(Vec::new()));
        let attempt_work = work(Transaction { db: db.clone(), state: state.clone(), after: after.clone() });
        let attempted = async { finish(db, &state, attempt_work.await).await.map(NotRows) };
        let command = || Command::general(B::NAME, "transaction").trips(1);
        match trace::command(command, attempted).await.map(|done| done.0) {
            Ok(value) => {
                let pending = std::mem::take(&mut *after.lock().unwrap_or_else(|e| e.into_inner()));
                for After { copies, copied, key } in pending {
                    if !B::COPIES_IN_WRITE {
                        copied.check(db.backend()).await?;
                    }
                    copies.run(db.backend(), std::slice::from_ref(&key)).await?;
                }
                return Ok(value);
            }
            Err(e) if e.kind() == ErrorKind::Conflict => last = Some(e),
            Err(e) => return Err(e),
        }
        if attempt < tries {
            if let Some(e) = &last {
                trace::retry(attempt + 1, e);
            }
            crate::backend::retry::backoff(attempt, Duration::from_millis(64), started.elapsed()).await;
        }
    }
    Err(gave_up(tries, last))
}

/// Commits an attempt whose closure succeeded, or drops it; a conflict comes back as an
/// `Err` of that kind.
async fn finish<B: Transactions, T>(
    db: &Database<B>,
    state: &tokio::sync::Mutex<Option<B::Session>>,
    out: Result<T>,
) -> Result<T> {
    // The closure may have kept a clone of the handle; the attempt ends here all the same.
    let Some(session) = state.lock().await.take() else {
        return Err(Error::new(ErrorKind::Storage, "the transaction's session was lost"));
    };
    match out {
        Ok(value) => {
            let commit = || Command::general(B::NAME, "commit").trips(1);
            trace::command(commit, db.backend().commit(session)).await.map(|()| value)
        }
        Err(e) => {
            db.backend().abort(session).await;
            Err(e)
        }
    }
}

fn gave_up(tries: u32, last: Option<Error>) -> Error {
    let (model, why) = match &last {
        Some(e) => (e.model(), e.to_string()),
        None => (None, "no attempt ran".to_string()),
    };
    let noun = if tries == 1 { "try" } else { "tries" };
    let msg = format!("transaction gave up after {tries} {noun}, each conflicting with a concurrent write; nothing it wrote was kept (last conflict: {why})");
    let err = Error::new(ErrorKind::Conflict, msg);
    let err = match model {
        Some(m) => err.with_model(m),
        None => err,
    };
    match last {
        Some(e) => err.with_source(e),
        None => err,
    }
}

/// The handle a transaction's closure works with: typed operations inside one attempt.
/// Every write is kept only if the attempt commits. Cloning it is cheap; a handle kept past
/// its transaction only returns errors.
///
/// ```
/// # use nonrel_runtime::{Database, Redb, Model, Transaction};
/// # #[derive(Model)] struct Note { #[field(key)] id: i64, text: String }
/// async fn rename(tx: Transaction<Redb>, id: i64) -> nonrel_runtime::Result<()> {
///     if let Some(mut note) = tx.get::<Note>(id).await? {
///         note.text = note.text.to_uppercase();
///         tx.save(&mut note).await?;
///     }
///     Ok(())
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// # let db = Database::in_memory()?;
/// db.save(&mut Note { id: 1, text: "hi".into() }).await?;
/// db.transaction(|tx| rename(tx, 1)).await?;
/// assert_eq!(db.get::<Note>(1).await?.unwrap().text, "HI");
/// # Ok(()) }
/// ```
pub struct Transaction<B: Transactions> {
    db: Database<B>,
    state: Arc<tokio::sync::Mutex<Option<B::Session>>>,
    /// Denormalized copies of records written in the attempt, brought up to date once
    /// it commits.
    after: Arc<std::sync::Mutex<Vec<After>>>,
}

/// What a record written in an attempt owes denormalized copies once the attempt commits.
struct After {
    /// The fan-out to other models' copies of the record.
    copies: crate::engine::related::Pending,
    /// The record's own copies, as read before the commit.
    copied: crate::engine::related::Copied,
    key: KeyValue,
}

impl<B: Transactions> Clone for Transaction<B> {
    fn clone(&self) -> Self {
        Transaction { db: self.db.clone(), state: self.state.clone(), after: self.after.clone() }
    }
}

fn finished(model: &'static str) -> Error {
    Error::new(ErrorKind::Unsupported, "the transaction has already ended; use its handle only inside its closure")
        .with_model(model)
}

impl<B: Transactions> Transaction<B> {
    /// Reads the record with this key, as the transaction sees it (its own writes included).
    ///
    /// ```
    /// # use nonrel_runtime::{Database, Model};
    /// # #[derive(Model, Debug, PartialEq)] struct Note { #[field(key)] id: i64, text: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// let text = db.transaction(|tx| async move {
    ///     tx.save(&mut Note { id: 7, text: "draft".into() }).await?;
    ///     Ok(tx.get::<Note>(7).await?.map(|n| n.text))
    /// }).await?;
    /// assert_eq!(text.as_deref(), Some("draft"));
    /// # Ok(()) }
    /// ```
    pub async fn get<M: Model>(&self, key: impl AsKey<M>) -> Result<Option<M>> {
        let key = key.as_key();
        let mut guard = self.state.lock().await;
        let session = guard.as_mut().ok_or_else(|| finished(M::DESC.name))?;
        let doc = self.db.backend().tx_get(session, M::DESC, key.clone()).await.map_err(|e| at::<M>(e, &key))?;
        // A subclass (F11) finds only its own records.
        let doc = doc.filter(|d| crate::engine::poly::is_instance::<M>(d).unwrap_or(true));
        doc.map(|d| decode(Some(&key), &d)).transpose()
    }

    async fn put<M: Model>(&self, record: &mut M, mode: WriteMode) -> Result<Key<M>> {
        let mut item = PutItem { key: key_of(record)?, doc: encode(record)? };
        // Copies of related fields (F15) come from the related records as committed (checked
        // again after the commit, or taken afresh by a commit that writes them itself).
        let copied =
            crate::engine::related::with_copies(self.db.backend(), M::DESC, std::slice::from_mut(&mut item)).await?;
        let copies = crate::engine::related::Pending::new(M::DESC, std::slice::from_ref(&item));
        let mut guard = self.state.lock().await;
        let session = guard.as_mut().ok_or_else(|| finished(M::DESC.name))?;
        let backend = self.db.backend();
        let key = backend.tx_put(session, M::DESC, item, mode).await.map_err(|e| e.with_model(M::DESC.name))?;
        // The fan-out this write owes other models' copies of it is noted in the outbox
        // inside the transaction, so a crash after the commit leaves the note for the next
        // handle (a backend that notes it in its commit does so itself).
        let copies = if copies.owes_fan_out() && !B::OUTBOX_IN_WRITE {
            let entry = crate::engine::related::outbox::entry(M::DESC, &key)?;
            let noted = entry.key.clone().map(|id| (id, entry.doc.clone()));
            backend.tx_put(session, &crate::engine::related::outbox::OUTBOX, entry, WriteMode::Replace).await?;
            copies.noted_in_transaction(noted)
        } else {
            copies
        };
        self.after.lock().unwrap_or_else(|e| e.into_inner()).push(After { copies, copied, key: key.clone() });
        if record.key_value().is_none() {
            record.set_key_value(key.clone())?;
        }
        Ok(Key::from_value(key))
    }

    /// Saves a record (an upsert) in the transaction; an automatic key is assigned at once.
    ///
    /// ```
    /// # use nonrel_runtime::{Database, Key, Model};
    /// # #[derive(Model)] struct Post { #[field(key)] id: Option<Key<Post>>, title: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// let key = db.transaction(|tx| async move {
    ///     tx.save(&mut Post { id: None, title: "Hello".into() }).await
    /// }).await?;
    /// assert!(db.get(&key).await?.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn save<M: Model>(&self, record: &mut M) -> Result<Key<M>> {
        self.put(record, WriteMode::Upsert).await
    }

    /// Creates a record in the transaction; fails with [`ErrorKind::DuplicateKey`] if its key
    /// exists.
    ///
    /// ```
    /// # use nonrel_runtime::{Database, ErrorKind, Model};
    /// # #[derive(Model)] struct Note { #[field(key)] id: i64, text: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// db.save(&mut Note { id: 1, text: "a".into() }).await?;
    /// let err = db.transaction(|tx| async move {
    ///     tx.insert(&mut Note { id: 1, text: "b".into() }).await
    /// }).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::DuplicateKey);
    /// # Ok(()) }
    /// ```
    pub async fn insert<M: Model>(&self, record: &mut M) -> Result<Key<M>> {
        self.put(record, WriteMode::Insert).await
    }

    /// Deletes the record with this key in the transaction; returns whether it existed.
    /// Declared cascades run inside the transaction too, so they are all-or-nothing.
    ///
    /// ```
    /// # use nonrel_runtime::{Database, Model};
    /// # #[derive(Model)] struct Note { #[field(key)] id: i64, text: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// db.save(&mut Note { id: 1, text: "a".into() }).await?;
    /// assert!(db.transaction(|tx| async move { tx.delete::<Note>(1).await }).await?);
    /// assert!(db.get::<Note>(1).await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn delete<M: Model>(&self, key: impl AsKey<M>) -> Result<bool> {
        let key = key.as_key();
        // A subclass (F11) deletes only its own records; another class's counts as missing.
        if M::CLASS.is_some() && self.get(Key::<M>::from_value(key.clone())).await?.is_none() {
            return Ok(false);
        }
        let n = crate::engine::cascade::delete(self, M::DESC, vec![key.clone()]).await.map_err(|e| at::<M>(e, &key))?;
        Ok(n > 0)
    }

    /// The records a query matches, as the transaction sees them (its own writes included).
    ///
    /// ```
    /// # use nonrel_runtime::{Database, Model, Query};
    /// # #[derive(Model)] struct Note { #[field(key)] id: i64, #[field(index)] text: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// let n = db.transaction(|tx| async move {
    ///     tx.save(&mut Note { id: 1, text: "a".into() }).await?;
    ///     let found = tx.query(Query::<Note>::new().filter(Note::text().eq("a"))).await?;
    ///     Ok(found.len())
    /// }).await?;
    /// assert_eq!(n, 1);
    /// # Ok(()) }
    /// ```
    pub async fn query<M: Model>(&self, query: Query<M>) -> Result<Vec<M>> {
        let at = |e: Error| e.with_model(M::DESC.name);
        if !query.selections().is_empty() {
            let msg = "a query in a transaction cannot select related records: read them with `get` in the transaction";
            return Err(at(Error::new(ErrorKind::Unsupported, msg)));
        }
        // Emulated lookups on their index fields (F14); conditions across a `Ref` (F15) as
        // the keys of the related records the attempt sees.
        let plan = crate::engine::prepare::backend_plan::<B, M>(self, query.plan()?.clone(), query.joins())
            .await
            .map_err(at)?;
        let projection = plan.projection.clone();
        let rows = self.rows(M::DESC, plan).await.map_err(at)?;
        crate::plan::with_projection(projection.as_ref(), || {
            rows.into_iter().map(|r| decode(r.key.as_ref(), &r.doc)).collect()
        })
    }

    /// Untyped query rows inside the attempt (for cascades).
    pub(crate) async fn rows(&self, model: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        let plan = crate::engine::keyed::normalized(plan);
        if crate::engine::keyed::emulated::<B>(&plan) {
            return crate::engine::keyed::answer(self, model, &plan).await;
        }
        self.plain_rows(model, plan).await
    }

    /// Query rows inside the attempt, the plan sent as it is.
    async fn plain_rows(&self, model: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        let mut guard = self.state.lock().await;
        let session = guard.as_mut().ok_or_else(|| finished(model.name))?;
        self.db.backend().tx_query(session, model, plan).await
    }

    /// Untyped delete inside the attempt (for cascades).
    pub(crate) async fn delete_keys(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        let mut guard = self.state.lock().await;
        let session = guard.as_mut().ok_or_else(|| finished(model.name))?;
        self.db.backend().tx_delete(session, model, keys).await
    }
}

impl<B: Transactions> crate::engine::keyed::KeyReads for Transaction<B> {
    const BOOLEAN: bool = B::BOOLEAN;
    const KEY_FILTERS: bool = B::KEY_FILTERS;
    async fn docs(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        let mut docs = Vec::with_capacity(keys.len());
        for key in keys {
            let mut guard = self.state.lock().await;
            let session = guard.as_mut().ok_or_else(|| finished(model.name))?;
            docs.push(self.db.backend().tx_get(session, model, key).await?);
        }
        Ok(docs)
    }
    async fn plain(&self, model: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        self.plain_rows(model, plan).await
    }
}

impl<B: Transactions> crate::engine::prepare::Reads for Transaction<B> {
    fn rows(&self, model: &'static ModelDesc, plan: Plan) -> impl Future<Output = Result<Vec<Row>>> + Send {
        Transaction::rows(self, model, plan)
    }
}

fn at<M: Model>(e: Error, key: &KeyValue) -> Error {
    e.with_model(M::DESC.name).with_key(key)
}

impl<B: Transactions> crate::engine::cascade::Target for Transaction<B> {
    fn find(
        &self,
        model: &'static ModelDesc,
        plan: Plan,
    ) -> crate::engine::cascade::BoxFuture<'_, Result<Vec<crate::engine::cascade::Found>>> {
        let plan = Plan { projection: Some(crate::plan::Projection::Only(vec!["_id".into()])), ..plan };
        Box::pin(async move {
            Ok(self.rows(model, plan).await?.into_iter().filter_map(|r| Some((r.key?, r.doc))).collect())
        })
    }
    fn remove(
        &self,
        model: &'static ModelDesc,
        keys: Vec<KeyValue>,
    ) -> crate::engine::cascade::BoxFuture<'_, Result<u64>> {
        Box::pin(self.delete_keys(model, keys))
    }
    /// Inside a transaction the reads are checked at commit: a plain delete is enough.
    fn remove_found(
        &self,
        model: &'static ModelDesc,
        found: Vec<(KeyValue, Vec<u8>)>,
        _plan: &Plan,
    ) -> crate::engine::cascade::BoxFuture<'_, Result<Vec<KeyValue>>> {
        Box::pin(async move {
            let keys: Vec<KeyValue> = found.into_iter().map(|(k, _)| k).collect();
            self.delete_keys(model, keys.clone()).await?;
            Ok(keys)
        })
    }
}
