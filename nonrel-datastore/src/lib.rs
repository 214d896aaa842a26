//! A nonrel backend for Google Cloud Datastore (Firestore in Datastore mode), through the
//! public API of `nonrel-runtime` alone, over Datastore's v1 REST API.
//!
//! Each model collection is a kind; keys are numeric ids or names; records are
//! entities whose properties are the record's fields (see [`entity`]). Equality and `in` on
//! indexed properties run in Datastore; everything else runs in nonrel's evaluator on what
//! the native query returns, so answers are those of every other backend.
#![doc = include_str!("../README.md")]

mod client;
pub mod counter;
pub mod entity;
mod native;
mod reply;

pub use client::RpcCounts;

use client::{Client, Method};
use entity::{decode, encode, key_json, key_of, new_key, object};
use native::{collection_peers, is_indexed, key_order_native, plan_order, query_json, translate, Native, Order};
use nonrel_runtime::backend::{retry, Backend, PutItem, Row, SwapItem, Swapped, UpdateCounts, UpdateOp, WriteMode};
use nonrel_runtime::capability::{No, Transactions};
use nonrel_runtime::query::{eval, Direction, Plan, Seek};
use nonrel_runtime::{Error, ErrorKind, KeyKind, KeyValue, ModelDesc, Result, Value};
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;

/// The most keys of one `lookup`.
const LOOKUP_BATCH: usize = 1000;
/// The most mutations of one `commit`.
const COMMIT_BATCH: usize = 500;
/// How often an internal read-modify-write runs when Datastore aborts it. Two
/// transactions that read one entity and then both write it wait on each other's lock until
/// the lock times out (two seconds on the emulator), and one of them is aborted; under
/// contention an attempt can lose several times in a row.
const INTERNAL_TRIES: u32 = 16;
/// The longest pause before an attempt runs again (see [`retry::backoff`]).
const PAUSE_CEILING: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs an internal read-modify-write until Datastore does not abort it (see
/// [`INTERNAL_TRIES`]).
async fn retrying<T, F, Fut>(attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    retry::on_conflict(INTERNAL_TRIES, PAUSE_CEILING, attempt).await
}

/// The Datastore backend. Open a database with `Database::new(Datastore::new(host, project))`
/// or [`Datastore::from_env`]; clones share the connections and the counts.
#[derive(Clone)]
pub struct Datastore {
    inner: Arc<Inner>,
}

/// A Datastore transaction this handle began. The emulator keeps the locks of an open
/// transaction's reads for about a minute, and every writer of those entities waits on them:
/// a transaction dropped before its commit or rollback was sent (the future working in it
/// was dropped, by a timeout say) is rolled back on a task of its own.
struct OpenTx {
    ds: Datastore,
    id: String,
    settled: AtomicBool,
}

impl OpenTx {
    fn id(&self) -> &str {
        &self.id
    }

    /// Its commit or rollback was sent.
    fn settle(&self) {
        self.settled.store(true, AtomicOrdering::Relaxed);
    }
}

impl std::ops::Deref for OpenTx {
    type Target = str;
    fn deref(&self) -> &str {
        &self.id
    }
}

impl Drop for OpenTx {
    fn drop(&mut self) {
        if self.settled.load(AtomicOrdering::Relaxed) {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (ds, id) = (self.ds.clone(), std::mem::take(&mut self.id));
            handle.spawn(async move { ds.send_rollback(&id).await });
        }
    }
}

struct Inner {
    client: Client,
    /// The read-modify-write transactions of this handle run one at a time: Datastore (and
    /// its emulator) lock what a transaction reads, and two of one program's transactions
    /// waiting on each other's locks would both wait for the lock timeout.
    writes: tokio::sync::Mutex<()>,
    /// Whether a query whose order needs an undeclared compound index is an error rather
    /// than sorted in the evaluator.
    strict: std::sync::atomic::AtomicBool,
    /// The groupings (`collection/name`) whose counters are known to be filled.
    built: counter::Built,
}

/// How a read takes part in a transaction.
enum ReadIn<'a> {
    /// Outside any transaction (the latest committed data).
    None,
    /// Begins a read-write transaction with the read (its id is returned).
    New,
    /// Inside this transaction.
    Tx(&'a str),
}

impl ReadIn<'_> {
    fn options(&self) -> Option<Json> {
        match self {
            ReadIn::None => None,
            ReadIn::New => None,
            ReadIn::Tx(t) => Some(json!({"transaction": t})),
        }
    }
}

/// A record as read: its document and its version.
#[derive(Clone, Debug)]
struct Read {
    doc: Vec<u8>,
    version: String,
}

impl Datastore {
    /// A handle on the Datastore API at `host` (`host:port` of the emulator) for `project`.
    /// Nothing is sent until the first operation.
    pub fn new(host: &str, project: &str) -> Datastore {
        let client = Client::new(host, project);
        let strict = std::sync::atomic::AtomicBool::new(false);
        let built = counter::Built::default();
        Datastore { inner: Arc::new(Inner { client, writes: tokio::sync::Mutex::new(()), strict, built }) }
    }

    /// A handle on the emulator `DATASTORE_EMULATOR_HOST` names (as Google's own clients
    /// read it), for `project`; an error saying how to start the emulator when it is unset.
    pub fn from_env(project: &str) -> Result<Datastore> {
        match std::env::var("DATASTORE_EMULATOR_HOST") {
            Ok(host) if !host.is_empty() => Ok(Datastore::new(host.trim_start_matches("http://"), project)),
            _ => Err(Error::new(
                ErrorKind::Storage,
                "DATASTORE_EMULATOR_HOST is not set: start the emulator with `gcloud emulators firestore start \
                 --database-mode=datastore-mode --host-port=127.0.0.1:8081` (or scripts/servers.sh start) and set \
                 DATASTORE_EMULATOR_HOST=127.0.0.1:8081",
            )),
        }
    }

    /// The project this handle writes to.
    pub fn project(&self) -> &str {
        &self.inner.client.project
    }

    /// Makes a query whose order Datastore could only run with a composite index the model
    /// does not declare an [`ErrorKind::Unsupported`] error naming the
    /// `#[model(compound_index(...))]` to add, instead of reading every match and sorting in
    /// nonrel's evaluator (the default, which gives the same answer at a cost that grows with
    /// the matches). Applies to this handle and its clones. On a real project, where every
    /// composite index must be deployed before it is used, this keeps such queries from
    /// reaching production unnoticed.
    ///
    /// ```no_run
    /// # use nonrel_datastore::Datastore;
    /// # fn f() -> nonrel_runtime::Result<()> {
    /// let store = Datastore::from_env("my-project")?.require_compound_indexes();
    /// # Ok(()) }
    /// ```
    pub fn require_compound_indexes(self) -> Datastore {
        self.inner.strict.store(true, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// The `index.yaml` of the composite indexes `models` declare with
    /// `#[model(compound_index(...))]`, to deploy with `gcloud datastore indexes create
    /// index.yaml`. Every other query this backend sends is served by Datastore's built-in
    /// indexes.
    ///
    /// ```
    /// # use nonrel_runtime::{Key, Model};
    /// #[derive(Model)]
    /// #[model(compound_index("category", "-created"))]
    /// struct Post {
    ///     #[field(key)]
    ///     id: Option<Key<Post>>,
    ///     #[field(index)]
    ///     category: String,
    ///     created: i64,
    /// }
    /// let yaml = nonrel_datastore::Datastore::index_yaml(&[Post::DESC]);
    /// assert!(yaml.starts_with("indexes:\n- kind: posts\n  properties:\n  - name: category\n  - name: created\n    direction: desc\n"));
    /// ```
    pub fn index_yaml(models: &[&ModelDesc]) -> String {
        native::index_yaml(models)
    }

    /// How the plan's order runs: sets `native.order` when Datastore orders the matches;
    /// the error of [`Datastore::require_compound_indexes`] when a declaration is missing.
    fn order(&self, m: &ModelDesc, plan: &Plan, native: &mut Native) -> Result<bool> {
        match plan_order(m, plan, native) {
            Order::Native(order) => {
                native.order = order;
                Ok(true)
            }
            Order::Evaluator(Some(declare)) if self.inner.strict.load(std::sync::atomic::Ordering::Relaxed) => {
                let terms: Vec<String> = plan.order.iter().map(|o| o.path.to_string()).collect();
                Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "ordering by {} after these filters needs a composite index on Datastore; \
                         declare {declare} on the model and deploy the index.yaml of Datastore::index_yaml",
                        terms.join(", ")
                    ),
                )
                .with_model(m.name))
            }
            Order::Evaluator(_) => Ok(false),
        }
    }

    /// The calls of each API method this handle (and its clones) made so far.
    pub fn rpc_counts(&self) -> RpcCounts {
        self.inner.client.counts()
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    fn entity(m: &'static ModelDesc, key: &KeyValue, doc: &[u8]) -> Result<Json> {
        let others = collection_peers(m);
        let props = encode(m, doc, &|p| is_indexed(m, p) || others.iter().any(|o| is_indexed(o, p)))?;
        Ok(object([("key", key_json(m.collection, key)), ("properties", Json::Object(props))]))
    }

    /// Reads records by key (batches of [`LOOKUP_BATCH`]); with [`ReadIn::New`], returns the
    /// transaction begun.
    async fn lookup(
        &self,
        m: &'static ModelDesc,
        keys: &[KeyValue],
        read_in: ReadIn<'_>,
    ) -> Result<(Vec<Option<Read>>, Option<OpenTx>)> {
        // `newTransaction` on a lookup is not used: the emulator's commit of such a
        // transaction waits on a lock of its own read until the lock timeout.
        let mut tx: Option<OpenTx> = None;
        if let ReadIn::New = read_in {
            tx = Some(self.begin().await?);
        }
        let options = match (&tx, &read_in) {
            (Some(t), _) => Some(json!({"transaction": t.id()})),
            (None, r) => r.options(),
        };
        match self.lookup_in(m, keys, options).await {
            Ok(found) => Ok((found, tx)),
            Err(e) => {
                // A transaction left open would hold the locks of what it read until the
                // store expires it, and every writer of those records would wait on them.
                if let Some(t) = &tx {
                    self.rollback(t).await;
                }
                Err(e)
            }
        }
    }

    /// The records of `keys` (each `None` when absent), read with `options`.
    async fn lookup_in(
        &self,
        m: &'static ModelDesc,
        keys: &[KeyValue],
        options: Option<Json>,
    ) -> Result<Vec<Option<Read>>> {
        let texts = keys
            .iter()
            .map(|k| {
                let mut text = String::with_capacity(64);
                entity::write_key_json(m.collection, k, &mut text);
                text
            })
            .collect();
        let mut found: HashMap<KeyValue, Read> = HashMap::with_capacity(keys.len());
        self.lookup_batches(texts, options, |bytes| {
            let reply: reply::LookupReply = serde_json::from_slice(bytes).map_err(|e| bad_reply(m, e))?;
            self.client().read(reply.found.len());
            for f in reply.found {
                let key = key_of(&f.entity.key)?;
                let doc = decode(&f.entity.properties).map_err(|e| e.with_model(m.name).with_key(&key))?;
                found.insert(key, Read { doc, version: f.version.map(|v| v.0.into_owned()).unwrap_or_default() });
            }
            Ok(reply.deferred)
        })
        .await?;
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    /// The entities of `keys` that exist (each `found` element of the replies: the entity
    /// and its version), read in batches of [`LOOKUP_BATCH`] with `options` as the read
    /// options, asking again for the keys the store deferred.
    async fn lookup_found(&self, keys: Vec<String>, options: Option<Json>) -> Result<Vec<Json>> {
        let mut found = Vec::new();
        self.lookup_batches(keys, options, |bytes| {
            let mut r: Json = serde_json::from_slice(bytes).unwrap_or(Json::Null);
            if let Some(batch) = r["found"].as_array_mut() {
                found.append(batch);
            }
            Ok(r["deferred"].as_array_mut().map(std::mem::take).unwrap_or_default())
        })
        .await?;
        Ok(found)
    }

    /// One `lookup` per batch of [`LOOKUP_BATCH`] `keys` (their JSON text) with `options` as
    /// the read options; `each` reads a reply's bytes and returns the keys the store
    /// deferred, which are asked for again.
    async fn lookup_batches(
        &self,
        keys: Vec<String>,
        options: Option<Json>,
        mut each: impl FnMut(&[u8]) -> Result<Vec<Json>>,
    ) -> Result<()> {
        let options = options.map(|o| o.to_string());
        let mut todo = keys;
        while !todo.is_empty() {
            let rest = todo.split_off(todo.len().min(LOOKUP_BATCH));
            let mut body = String::with_capacity(todo.iter().map(|k| k.len() + 1).sum::<usize>() + 64);
            body.push_str("{\"keys\":[");
            body.push_str(&todo.join(","));
            body.push(']');
            if let Some(o) = &options {
                body.push_str(",\"readOptions\":");
                body.push_str(o);
            }
            body.push('}');
            let bytes = self.client().call_raw(Method::Lookup, body.into_bytes()).await?;
            todo = each(&bytes)?.iter().map(Json::to_string).collect();
            todo.extend(rest);
        }
        Ok(())
    }

    /// Runs a native query to its end (each batch one `runQuery`), returning key, document
    /// (none for keys-only) and version of each entity.
    async fn run(
        &self,
        m: &'static ModelDesc,
        native: &Native,
        keys_only: bool,
        limit: Option<usize>,
        tx: Option<&str>,
    ) -> Result<Vec<(KeyValue, Option<Read>)>> {
        self.run_with(m, native, None, keys_only, limit, tx).await
    }

    /// [`run`](Self::run) with `more`, a filter's JSON text, ANDed to the native filter.
    async fn run_with(
        &self,
        m: &'static ModelDesc,
        native: &Native,
        more: Option<&str>,
        keys_only: bool,
        limit: Option<usize>,
        tx: Option<&str>,
    ) -> Result<Vec<(KeyValue, Option<Read>)>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let left = limit.map(|l| l - out.len());
            if left == Some(0) {
                break;
            }
            let body = native::write_run_query(m, native, more, keys_only, left, cursor.as_deref(), tx);
            let bytes = self.client().call_raw(Method::RunQuery, body).await.map_err(|e| e.with_model(m.name))?;
            let batch = serde_json::from_slice::<reply::QueryReply>(&bytes).map_err(|e| bad_reply(m, e))?.batch;
            self.client().read(batch.entity_results.len());
            out.reserve(batch.entity_results.len());
            for e in batch.entity_results {
                let key = key_of(&e.entity.key).map_err(|err| err.with_model(m.name))?;
                let read = if keys_only {
                    None
                } else {
                    let doc = decode(&e.entity.properties).map_err(|err| err.with_model(m.name).with_key(&key))?;
                    Some(Read { doc, version: e.version.map(|v| v.0.into_owned()).unwrap_or_default() })
                };
                out.push((key, read));
            }
            match batch.more_results.as_deref() {
                Some("NOT_FINISHED") => cursor = batch.end_cursor.map(|c| c.0.into_owned()),
                _ => break,
            }
            if cursor.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// One `commit`: in `tx`, or in a single-use transaction (atomic) when `None`.
    async fn commit_json(&self, mutations: Vec<Json>, tx: Option<&OpenTx>) -> Result<Json> {
        let mut body = object([("mode", Json::from("TRANSACTIONAL")), ("mutations", Json::Array(mutations))]);
        match tx {
            Some(t) => body["transaction"] = Json::from(t.id()),
            None => body["singleUseTransaction"] = json!({"readWrite": {}}),
        }
        let reply = self.client().call(Method::Commit, &body).await;
        if let Some(t) = tx {
            // Committed, or aborted by the store: either way it holds no locks now.
            t.settle();
        }
        reply
    }

    /// Begins a Datastore transaction, rolled back if it is dropped unsettled.
    async fn begin(&self) -> Result<OpenTx> {
        let r = self.client().call(Method::BeginTransaction, &json!({})).await?;
        match r["transaction"].as_str() {
            Some(id) => Ok(OpenTx { ds: self.clone(), id: id.to_string(), settled: AtomicBool::new(false) }),
            None => Err(Error::new(ErrorKind::Storage, format!("Datastore began no transaction: {r}"))),
        }
    }

    async fn rollback(&self, tx: &OpenTx) {
        tx.settle();
        self.send_rollback(tx.id()).await;
    }

    /// Rolls the transaction `id` back; a failure is not reported (the store expires the
    /// transaction in the end).
    async fn send_rollback(&self, id: &str) {
        let _ = self.client().call(Method::Rollback, &json!({"transaction": id})).await;
    }

    /// The keys of stored records (other than `except`) holding one of `values` at `path`:
    /// an `IN` query on the property, or a scan when the values cannot be matched natively.
    async fn holders(
        &self,
        m: &'static ModelDesc,
        path: &str,
        values: &[Value],
        tx: &str,
    ) -> Result<Vec<(KeyValue, Value)>> {
        let mut out = Vec::new();
        let filter = nonrel_runtime::query::Filter {
            path: path.to_string().into(),
            op: nonrel_runtime::query::Op::In(values.to_vec()),
        };
        let native = translate(m, std::slice::from_ref(&filter));
        let rows = self.run(m, &native, false, None, Some(tx)).await?;
        for (key, read) in rows {
            let doc = read.map(|r| r.doc).unwrap_or_default();
            for v in unique_values(path, &doc)? {
                if values.contains(&v) {
                    out.push((key.clone(), v));
                }
            }
        }
        Ok(out)
    }

    /// Refuses a value of a unique field that another record holds (stored, or written in
    /// the same batch), naming model, field and value; reads inside transaction `tx`.
    async fn check_unique(
        &self,
        m: &'static ModelDesc,
        writes: &[(KeyValue, Option<Vec<u8>>, usize)],
        tx: &str,
    ) -> Result<()> {
        for index in m.indexes.iter().filter(|i| i.unique) {
            let mut mine: Vec<(usize, &KeyValue, Value)> = Vec::new();
            for (key, doc, item) in writes {
                if let Some(doc) = doc {
                    for v in unique_values(index.path, doc)? {
                        if let Some((_, other, _)) = mine.iter().find(|(_, k, w)| *k != key && *w == v) {
                            return Err(unique_error(m, index.path, &v, other).with_item(*item).with_key(key));
                        }
                        mine.push((*item, key, v));
                    }
                }
            }
            if mine.is_empty() {
                continue;
            }
            let values: Vec<Value> = mine.iter().map(|(_, _, v)| v.clone()).collect();
            for chunk in values.chunks(native::MAX_IN) {
                for (owner, v) in self.holders(m, index.path, chunk, tx).await? {
                    if writes.iter().any(|(k, _, _)| *k == owner) {
                        continue; // rewritten by this batch: its new value was checked above
                    }
                    let (item, key, _) = mine.iter().find(|(_, _, w)| *w == v).expect("a value of the batch");
                    return Err(unique_error(m, index.path, &v, &owner).with_item(*item).with_key(key));
                }
            }
        }
        Ok(())
    }

    /// Writes records in transactions of at most [`COMMIT_BATCH`]: reads the stored ones
    /// (for unknown fields and `Insert`), checks unique fields, commits.
    async fn put_in_transaction(
        &self,
        m: &'static ModelDesc,
        items: Vec<(usize, PutItem)>,
        mode: WriteMode,
    ) -> Result<Vec<KeyValue>> {
        let _serial = self.inner.writes.lock().await;
        retrying(|| self.put_attempt(m, &items, mode)).await
    }

    async fn put_attempt(
        &self,
        m: &'static ModelDesc,
        items: &[(usize, PutItem)],
        mode: WriteMode,
    ) -> Result<Vec<KeyValue>> {
        let keyed: Vec<KeyValue> = items.iter().filter_map(|(_, i)| i.key.clone()).collect();
        let (old, tx) = self.lookup(m, &keyed, ReadIn::New).await?;
        let tx = tx.ok_or_else(|| Error::new(ErrorKind::Storage, "Datastore began no transaction"))?;
        let result = async {
            let mut old = old.into_iter();
            let mut writes = Vec::with_capacity(items.len());
            let mut mutations = Vec::with_capacity(items.len());
            let mut keys = Vec::with_capacity(items.len());
            let counted = !counter::collection_counters(m).is_empty();
            let mut tally = counter::Tally::default();
            // Each record's document as this batch leaves it (a key given twice moves once).
            let mut now: HashMap<KeyValue, Option<Vec<u8>>> = HashMap::new();
            for (i, item) in items {
                let Some(key) = &item.key else {
                    let key = new_key();
                    let entity = Self::entity(m, &key, &item.doc).map_err(|e| e.with_item(*i).with_model(m.name))?;
                    mutations.push(object([("insert", entity)]));
                    if counted {
                        tally.record(m, None, Some(&item.doc)).map_err(|e| e.with_item(*i).with_model(m.name))?;
                    }
                    writes.push((key.clone(), Some(item.doc.clone()), *i));
                    keys.push(key);
                    continue;
                };
                keys.push(key.clone());
                let at = |e: Error| e.with_model(m.name).with_key(key).with_item(*i);
                let read = old.next().flatten();
                let stored = match now.get(key) {
                    Some(doc) => doc.clone().map(|doc| Read { doc, version: String::new() }),
                    None => read,
                };
                let doc = match (&stored, mode) {
                    (Some(_), WriteMode::Insert) => {
                        return Err(at(Error::new(ErrorKind::DuplicateKey, "a record with this key already exists")));
                    }
                    (Some(s), WriteMode::Upsert) => eval::keep_unknown(m, &s.doc, &item.doc).map_err(at)?,
                    _ => item.doc.clone(),
                };
                mutations.push(object([("upsert", Self::entity(m, key, &doc).map_err(at)?)]));
                if counted {
                    tally.record(m, stored.as_ref().map(|s| s.doc.as_slice()), Some(&doc)).map_err(at)?;
                    now.insert(key.clone(), Some(doc.clone()));
                }
                writes.push((key.clone(), Some(doc), *i));
            }
            self.check_unique(m, &writes, &tx).await?;
            mutations.extend(self.counter_mutations(&mut tally, &tx).await.map_err(|e| e.with_model(m.name))?);
            match self.commit_json(mutations, Some(&tx)).await {
                // The stored records were read in the transaction: only a new automatic key
                // can exist already (taken by another process), so run again with new ones.
                Err(e) if e.kind() == ErrorKind::DuplicateKey => Err(conflict(m)),
                Err(e) => Err(e),
                Ok(_) => {
                    self.committed(&tally);
                    Ok(keys)
                }
            }
        }
        .await;
        if result.is_err() {
            self.rollback(&tx).await;
        }
        result
    }
}

fn unique_error(m: &ModelDesc, path: &str, v: &Value, owner: &KeyValue) -> Error {
    let msg = format!("value {v} of unique field `{path}` already belongs to record {owner}");
    Error::new(ErrorKind::UniqueViolation, msg).with_model(m.name).with_field(path)
}

/// The values at a unique path, each list element on its own; null and empty lists hold none.
fn unique_values(path: &str, doc: &[u8]) -> Result<Vec<Value>> {
    let mut values = Vec::new();
    for value in eval::values_at(doc, path)? {
        match value {
            Value::Array(items) => values.extend(items),
            other => values.push(other),
        }
    }
    values.retain(|v| !matches!(v, Value::Null | Value::Array(_)));
    Ok(values)
}

/// Whether a save must read the stored record to keep fields the program does not know.
fn needs_merge(m: &ModelDesc) -> bool {
    !(m.has_extra && m.fields.iter().all(|f| f.shape.is_plain()))
}

/// Filters, sorts (by the plan's order, then key), skips, limits and projects rows read in
/// any order; `filtered` when the native query already applied every filter.
fn finish(rows: Vec<(KeyValue, Vec<u8>)>, plan: &Plan, filtered: bool, in_key_order: bool) -> Result<Vec<Row>> {
    let mut found = Vec::with_capacity(rows.len());
    for (key, doc) in rows {
        if filtered || eval::matches_all(&plan.filters, &doc).map_err(|e| e.with_key(&key))? {
            found.push((eval::sort_key(&doc, &plan.order)?, key, doc));
        }
    }
    if !in_key_order {
        found.sort_by(|a, b| a.1.cmp(&b.1));
    }
    // Rows of an `IN` come in the order of its values: key order again.
    found.sort_by(|a, b| a.1.cmp(&b.1));
    if !plan.order.is_empty() {
        found.sort_by(|a, b| eval::compare_keys(&a.0, &b.0, &plan.order));
    }
    let wanted = found.len().saturating_sub(plan.offset).min(plan.limit.unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(wanted);
    for (_, key, doc) in found.into_iter().skip(plan.offset).take(wanted) {
        let doc = match &plan.projection {
            Some(p) => eval::project(&doc, p)?,
            None => doc,
        };
        out.push(Row { key: Some(key), doc, ..Row::default() });
    }
    Ok(out)
}

impl Backend for Datastore {
    const NAME: &'static str = "datastore";

    type Joins = No;
    type CaseInsensitive = No;
    type Regex = No;
    type DateParts = No;
    type FullText = No;

    /// Automatic keys are ids that increase in insertion order (see [`entity::new_key`]).
    const AUTO_KEY: KeyKind = KeyKind::Int;

    /// Datastore's `IN` takes at most 30 values; the runtime splits larger ones.
    const MAX_IN_VALUES: usize = native::MAX_IN;

    /// One `commit` per 500 records (each batch atomic) when nothing must be read first; a
    /// `lookup` that begins a transaction, then the `commit`, when the stored records' unknown
    /// fields must be kept, unique fields checked, or maintained counts moved (see
    /// [`counter`]: the counters' changes are mutations of the same commit).
    async fn put(&self, m: &'static ModelDesc, items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        let unique = m.indexes.iter().any(|i| i.unique);
        // Maintained counts need the stored records, read in a transaction, unless every
        // item is an insert (a commit that fails on an existing key writes nothing) and every
        // grouping is known to be filled: then the counters' increments join the commit.
        let counted = !counter::collection_counters(m).is_empty();
        let inserts = items.iter().all(|i| i.key.is_none() || mode == WriteMode::Insert);
        let blind = counted && inserts && self.groupings_built(m);
        let read_first = unique
            || (counted && !blind)
            || (mode == WriteMode::Upsert && needs_merge(m) && items.iter().any(|i| i.key.is_some()));
        let mut keys = Vec::with_capacity(items.len());
        let numbered: Vec<(usize, PutItem)> = items.into_iter().enumerate().collect();
        for chunk in numbered.chunks(COMMIT_BATCH) {
            if read_first {
                keys.extend(self.put_in_transaction(m, chunk.to_vec(), mode).await?);
                continue;
            }
            let mut tally = counter::Tally::default();
            if blind {
                for (i, item) in chunk {
                    tally.record(m, None, Some(&item.doc)).map_err(|e| e.with_model(m.name).with_item(*i))?;
                }
            }
            let mut tries = 0;
            loop {
                let chunk_keys: Vec<KeyValue> =
                    chunk.iter().map(|(_, i)| i.key.clone().unwrap_or_else(new_key)).collect();
                let mut mutations = Vec::with_capacity(chunk.len());
                for ((i, item), key) in chunk.iter().zip(&chunk_keys) {
                    let at = |e: Error| {
                        let e = e.with_model(m.name).with_item(*i);
                        match &item.key {
                            Some(k) => e.with_key(k),
                            None => e,
                        }
                    };
                    let entity = Self::entity(m, key, &item.doc).map_err(at)?;
                    let op = if mode == WriteMode::Insert || item.key.is_none() { "insert" } else { "upsert" };
                    mutations.push(object([(op, entity)]));
                }
                mutations.extend(self.increments(&tally));
                match self.commit_json(mutations, None).await {
                    Ok(_) => {
                        keys.extend(chunk_keys);
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::DuplicateKey => {
                        // Name the record: the first given key of the batch that exists.
                        let given: Vec<(usize, KeyValue)> =
                            chunk.iter().filter_map(|(i, it)| Some((*i, it.key.clone()?))).collect();
                        let ks: Vec<KeyValue> = given.iter().map(|(_, k)| k.clone()).collect();
                        let (found, _) = self.lookup(m, &ks, ReadIn::None).await?;
                        let e = Error::new(ErrorKind::DuplicateKey, "a record with this key already exists")
                            .with_model(m.name);
                        match given.iter().zip(found).find(|(_, f)| f.is_some()) {
                            Some(((i, k), _)) if mode == WriteMode::Insert => return Err(e.with_key(k).with_item(*i)),
                            // None of the given keys: a new automatic key another process took.
                            _ if tries + 1 < INTERNAL_TRIES => tries += 1,
                            _ => return Err(e),
                        }
                    }
                    Err(e) => return Err(e.with_model(m.name)),
                }
            }
        }
        Ok(keys)
    }

    /// One `lookup` per 1,000 keys.
    async fn get_many(&self, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        let (found, _) = self.lookup(m, &keys, ReadIn::None).await?;
        Ok(found.into_iter().map(|r| r.map(|r| r.doc)).collect())
    }

    /// One `commit` per 500 keys, without reading: a deleted record's mutation result carries
    /// the commit's version, a missing one an older version. A model with maintained counts
    /// reads the records first, in the transaction of the commit (`beginTransaction`,
    /// `lookup`, `commit` per 500), for the groups they leave.
    async fn delete(&self, m: &'static ModelDesc, mut keys: Vec<KeyValue>) -> Result<u64> {
        // A key given twice is one record (and one mutation).
        let mut seen = std::collections::HashSet::new();
        keys.retain(|k| seen.insert(k.clone()));
        if !counter::collection_counters(m).is_empty() {
            return self.delete_counted(m, &keys).await;
        }
        let mut existed = 0;
        for chunk in keys.chunks(COMMIT_BATCH) {
            let mutations = chunk.iter().map(|k| object([("delete", key_json(m.collection, k))])).collect();
            let r = self.commit_json(mutations, None).await.map_err(|e| e.with_model(m.name))?;
            let commit = r["commitVersion"].as_str().unwrap_or_default();
            existed += r["mutationResults"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|x| x["version"].as_str() == Some(commit))
                .count() as u64;
        }
        Ok(existed)
    }

    /// One `runQuery` (and one per further batch): equality and `in` on indexed properties
    /// natively; other filters, the order, offset and limit in the evaluator (the limit
    /// natively too when nothing else is left to evaluate and Datastore's key order is nonrel's).
    async fn query(&self, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        let mut native = translate(m, &plan.filters);
        let in_key_order = key_order_native(m, &plan);
        let ordered = self.order(m, &plan, &mut native)?;
        let limit = if ordered { plan.limit.map(|l| l + plan.offset) } else { None };
        let rows = self.run(m, &native, false, limit, None).await?;
        let rows = rows.into_iter().map(|(k, r)| (k, r.map(|r| r.doc).unwrap_or_default())).collect();
        finish(rows, &plan, native.exact, in_key_order)
    }

    /// A page from its position, natively when Datastore orders the plan's matches (see
    /// [`Datastore::index_yaml`]): in key order one `runQuery` from `__key__ >` the position;
    /// ordered by one field, the rest of the position's value (`field =` it, `__key__ >`)
    /// then the values after it (`field >`, or `<` descending), one `runQuery` each, both
    /// stopping at the page's size. Other pages (backward, with an offset, or ordered in the
    /// evaluator) seek in memory.
    async fn query_seek(&self, m: &'static ModelDesc, plan: Plan, seek: Seek) -> Result<Option<Vec<Row>>> {
        let mut native = translate(m, &plan.filters);
        if seek.backward || plan.offset != 0 || !self.order(m, &plan, &mut native)? {
            return Ok(None);
        }
        let rows = match (&plan.order[..], &seek.values[..]) {
            // The key filter joins the query's filter as text (see `native::write_run_query`).
            ([], _) => {
                let mut after = String::with_capacity(96);
                native::write_key_filter(m.collection, "GREATER_THAN", &seek.key, &mut after);
                self.run_with(m, &native, Some(&after), false, plan.limit, None).await?
            }
            ([o], [v]) => {
                let op = if o.direction == Direction::Desc { "LESS_THAN" } else { "GREATER_THAN" };
                let (Some(same), Some(after)) =
                    (native::order_filter(&o.path, "EQUAL", v), native::order_filter(&o.path, op, v))
                else {
                    return Ok(None);
                };
                let after_key = native::key_filter(m.collection, "GREATER_THAN", &seek.key);
                let mut rest = native::and(native.clone(), vec![same, after_key]);
                rest.order = Vec::new();
                let mut rows = self.run(m, &rest, false, plan.limit, None).await?;
                let left = plan.limit.map(|l| l.saturating_sub(rows.len()));
                if left != Some(0) {
                    rows.extend(self.run(m, &native::and(native, vec![after]), false, left, None).await?);
                }
                rows
            }
            _ => return Ok(None),
        };
        let rows = rows.into_iter().map(|(k, r)| (k, r.map(|r| r.doc).unwrap_or_default())).collect();
        finish(rows, &plan, true, false).map(Some)
    }

    /// One `lookup` of the group's counter shards when a filled declared grouping answers the
    /// plan (see [`counter`]); otherwise one `runAggregationQuery` with `COUNT` up to `upto`
    /// when Datastore runs every filter, or the matches of the native query counted in the
    /// evaluator.
    async fn count(&self, m: &'static ModelDesc, plan: Plan, upto: Option<u64>) -> Result<u64> {
        if let Some(n) = self.counted(m, &plan).await? {
            return Ok(upto.map_or(n, |u| n.min(u)));
        }
        let native = translate(m, &plan.filters);
        if native.exact {
            let mut count = json!({});
            if let Some(n) = upto {
                count["upTo"] = Json::from(n.to_string());
            }
            let body = json!({"aggregationQuery": {
                "nestedQuery": query_json(m, &native, false, None, None),
                "aggregations": [{"alias": "n", "count": count}],
            }});
            let r = self.client().call(Method::RunAggregationQuery, &body).await.map_err(|e| e.with_model(m.name))?;
            let n = &r["batch"]["aggregationResults"][0]["aggregateProperties"]["n"]["integerValue"];
            return n.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                Error::new(ErrorKind::Storage, format!("Datastore count returned {r}")).with_model(m.name)
            });
        }
        let rows = self.run(m, &native, false, None, None).await?;
        let (mut n, upto) = (0, upto.unwrap_or(u64::MAX));
        for (key, read) in rows {
            if n == upto {
                break;
            }
            let doc = read.map(|r| r.doc).unwrap_or_default();
            n += u64::from(eval::matches_all(&plan.filters, &doc).map_err(|e| e.with_key(&key))?);
        }
        Ok(n)
    }

    /// Datastore has no server-side update: the matching records are read, changed and
    /// written back in transactions of at most 500 records (each record's change atomic, and
    /// each batch all or nothing; a record changed meanwhile is read again).
    async fn update(&self, m: &'static ModelDesc, plan: Plan, ops: Vec<UpdateOp>) -> Result<UpdateCounts> {
        let native = translate(m, &plan.filters);
        let keys: Vec<KeyValue> = if native.exact {
            self.run(m, &native, true, None, None).await?.into_iter().map(|(k, _)| k).collect()
        } else {
            let rows = self.run(m, &native, false, None, None).await?;
            let mut keys = Vec::new();
            for (key, read) in rows {
                if eval::matches_all(&plan.filters, &read.map(|r| r.doc).unwrap_or_default())
                    .map_err(|e| e.with_key(&key))?
                {
                    keys.push(key);
                }
            }
            keys
        };
        let mut counts = UpdateCounts::default();
        let _serial = self.inner.writes.lock().await;
        for chunk in keys.chunks(COMMIT_BATCH) {
            let c = retrying(|| self.update_attempt(m, chunk, &plan, &ops)).await?;
            counts.matched += c.matched;
            counts.modified += c.modified;
        }
        Ok(counts)
    }

    /// Compares and writes in one transaction: a `lookup` that begins it, then the `commit`.
    async fn swap(&self, m: &'static ModelDesc, items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
        let _serial = self.inner.writes.lock().await;
        retrying(|| self.swap_attempt(m, &items)).await
    }

    /// Datastore's built-in single-property indexes serve every native query this backend
    /// sends but the ordered ones of declared compound indexes, whose composite indexes are
    /// deployed from [`Datastore::index_yaml`] (the data API cannot create them): nothing is
    /// created here.
    async fn sync_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        Ok(models.iter().map(|m| m.indexes.len() as u64).sum())
    }

    /// Datastore keeps its indexes with the entities (written in the same commit), so nothing
    /// can disagree: the report counts records (one keys-only query per model) and declared
    /// indexes (the runtime adds its own checks of lookup fields and copies). The counters of
    /// declared groupings are compared with the records: each group whose shards sum to
    /// another number is reported, naming model, grouping and values, and so is a grouping
    /// not filled yet while records exist.
    async fn integrity_check(&self, models: Vec<&'static ModelDesc>) -> Result<nonrel_runtime::IntegrityReport> {
        let mut report = nonrel_runtime::IntegrityReport::default();
        let none = native::everything();
        for m in models {
            report.records += self.run(m, &none, true, None, None).await?.len() as u64;
            report.entries += m.indexes.len() as u64;
            self.check_counters(m, &mut report).await?;
        }
        Ok(report)
    }

    /// Datastore indexes a property when the entity is written with it indexed, so after an
    /// index is declared (or a compound index naming the field) the entities written before
    /// are written again, each collection once: read and written back in transactions of at
    /// most 500 records (a record changed meanwhile is read again, never overwritten with an
    /// older copy). Then every declared grouping's counters are recomputed from the records
    /// beside live writes (see [`counter`]) and marked filled. Returns the records and counter
    /// groups written.
    async fn rebuild_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        let mut done: Vec<&str> = Vec::new();
        let mut written = 0;
        let all = native::everything();
        let models_again = models.clone();
        for m in models {
            if done.contains(&m.collection) {
                continue;
            }
            done.push(m.collection);
            let keys: Vec<KeyValue> = self.run(m, &all, true, None, None).await?.into_iter().map(|(k, _)| k).collect();
            let _serial = self.inner.writes.lock().await;
            for chunk in keys.chunks(COMMIT_BATCH) {
                written += retrying(|| self.rewrite_attempt(m, chunk)).await?;
            }
        }
        // Then the maintained counts, each grouping of a collection once.
        let mut counted: Vec<(&str, &str)> = Vec::new();
        for m in models_again {
            if m.counters.iter().all(|c| counted.contains(&(m.collection, c.name))) {
                continue;
            }
            counted.extend(m.counters.iter().map(|c| (m.collection, c.name)));
            written += self.rebuild_counters(m).await?;
        }
        Ok(written)
    }
}

impl Datastore {
    /// Deletes records of a model with maintained counts: each batch of [`COMMIT_BATCH`] a
    /// `lookup` that begins a transaction (the groups the records leave), then the `commit`
    /// of the deletions and the counters.
    async fn delete_counted(&self, m: &'static ModelDesc, keys: &[KeyValue]) -> Result<u64> {
        let _serial = self.inner.writes.lock().await;
        let mut existed = 0;
        for chunk in keys.chunks(COMMIT_BATCH) {
            existed += retrying(|| self.delete_attempt(m, chunk)).await.map_err(|e| e.with_model(m.name))?;
        }
        Ok(existed)
    }

    async fn delete_attempt(&self, m: &'static ModelDesc, keys: &[KeyValue]) -> Result<u64> {
        let (found, tx) = self.lookup(m, keys, ReadIn::New).await?;
        let tx = tx.ok_or_else(|| Error::new(ErrorKind::Storage, "Datastore began no transaction"))?;
        let result = async {
            let mut tally = counter::Tally::default();
            let mut mutations = Vec::new();
            for (key, read) in keys.iter().zip(found) {
                if let Some(read) = read {
                    tally.record(m, Some(&read.doc), None).map_err(|e| e.with_key(key))?;
                    mutations.push(object([("delete", key_json(m.collection, key))]));
                }
            }
            let n = mutations.len() as u64;
            if mutations.is_empty() {
                self.rollback(&tx).await;
                return Ok(0);
            }
            mutations.extend(self.counter_mutations(&mut tally, &tx).await?);
            self.commit_json(mutations, Some(&tx)).await?;
            self.committed(&tally);
            Ok(n)
        }
        .await;
        if result.is_err() {
            self.rollback(&tx).await;
        }
        result
    }

    async fn update_attempt(
        &self,
        m: &'static ModelDesc,
        keys: &[KeyValue],
        plan: &Plan,
        ops: &[UpdateOp],
    ) -> Result<UpdateCounts> {
        let (found, tx) = self.lookup(m, keys, ReadIn::New).await?;
        let tx = tx.ok_or_else(|| Error::new(ErrorKind::Storage, "Datastore began no transaction"))?;
        let result = async {
            let mut counts = UpdateCounts::default();
            let (mut writes, mut mutations) = (Vec::new(), Vec::new());
            let mut tally = counter::Tally::default();
            for (i, (key, read)) in keys.iter().zip(found).enumerate() {
                let Some(read) = read else { continue };
                let at = |e: Error| e.with_model(m.name).with_key(key);
                if !eval::matches_all(&plan.filters, &read.doc).map_err(at)? {
                    continue;
                }
                counts.matched += 1;
                let new = eval::apply_update(&read.doc, ops).map_err(at)?;
                if new != read.doc {
                    counts.modified += 1;
                    mutations.push(object([("upsert", Self::entity(m, key, &new).map_err(at)?)]));
                    tally.record(m, Some(&read.doc), Some(&new)).map_err(at)?;
                    writes.push((key.clone(), Some(new), i));
                }
            }
            self.check_unique(m, &writes, &tx).await?;
            if !mutations.is_empty() {
                mutations.extend(self.counter_mutations(&mut tally, &tx).await?);
            }
            if mutations.is_empty() {
                self.rollback(&tx).await;
            } else {
                self.commit_json(mutations, Some(&tx)).await?;
                self.committed(&tally);
            }
            Ok(counts)
        }
        .await;
        if result.is_err() {
            self.rollback(&tx).await;
        }
        result
    }

    /// Writes the stored records of `keys` again as they are (their properties indexed as
    /// the models now declare), in one transaction.
    async fn rewrite_attempt(&self, m: &'static ModelDesc, keys: &[KeyValue]) -> Result<u64> {
        let (found, tx) = self.lookup(m, keys, ReadIn::New).await?;
        let tx = tx.ok_or_else(|| Error::new(ErrorKind::Storage, "Datastore began no transaction"))?;
        let mut mutations = Vec::new();
        for (key, read) in keys.iter().zip(found) {
            if let Some(read) = read {
                match Self::entity(m, key, &read.doc) {
                    Ok(e) => mutations.push(object([("upsert", e)])),
                    Err(e) => {
                        self.rollback(&tx).await;
                        return Err(e.with_model(m.name).with_key(key));
                    }
                }
            }
        }
        let n = mutations.len() as u64;
        if mutations.is_empty() {
            self.rollback(&tx).await;
        } else if let Err(e) = self.commit_json(mutations, Some(&tx)).await {
            self.rollback(&tx).await;
            return Err(e);
        }
        Ok(n)
    }

    async fn swap_attempt(&self, m: &'static ModelDesc, items: &[SwapItem]) -> Result<Vec<Swapped>> {
        let keys: Vec<KeyValue> = items.iter().map(|i| i.key.clone()).collect();
        let (found, tx) = self.lookup(m, &keys, ReadIn::New).await?;
        let tx = tx.ok_or_else(|| Error::new(ErrorKind::Storage, "Datastore began no transaction"))?;
        let result = async {
            let mut out = Vec::with_capacity(items.len());
            let mut mutations = Vec::new();
            let mut tally = counter::Tally::default();
            for (item, now) in items.iter().zip(found) {
                out.push(match now {
                    None => Swapped::Missing,
                    Some(now) if now.doc != item.expected => Swapped::Changed(now.doc),
                    Some(now) => {
                        let at = |e: Error| e.with_model(m.name).with_key(&item.key);
                        match &item.doc {
                            None => {
                                mutations.push(object([("delete", key_json(m.collection, &item.key))]));
                                tally.record(m, Some(&now.doc), None).map_err(at)?;
                            }
                            Some(doc) => {
                                let doc = eval::keep_unknown(m, &now.doc, doc).map_err(at)?;
                                mutations.push(object([("upsert", Self::entity(m, &item.key, &doc).map_err(at)?)]));
                                tally.record(m, Some(&now.doc), Some(&doc)).map_err(at)?;
                            }
                        }
                        Swapped::Written
                    }
                });
            }
            if mutations.is_empty() {
                self.rollback(&tx).await;
            } else {
                mutations.extend(self.counter_mutations(&mut tally, &tx).await?);
                self.commit_json(mutations, Some(&tx)).await?;
                self.committed(&tally);
            }
            Ok(out)
        }
        .await;
        if result.is_err() {
            self.rollback(&tx).await;
        }
        result
    }
}

/// A reply that does not have the shape of the call's reply.
fn bad_reply(m: &ModelDesc, e: serde_json::Error) -> Error {
    Error::new(ErrorKind::Decode, format!("malformed Datastore reply: {e}")).with_model(m.name)
}

/// The keys and versions a query returned.
type Versions = Vec<(KeyValue, String)>;
/// Records to write: key, document, item number.
type Writes = Vec<(KeyValue, Option<Vec<u8>>, usize)>;

/// One attempt of a transaction, optimistic: reads go to the latest committed data and are
/// remembered with their versions; writes are kept. `commit` opens a Datastore transaction,
/// reads again what the attempt read (and re-runs its queries), and commits the writes only
/// if every version is unchanged; otherwise it is a `Conflict` and the runtime runs the
/// attempt again.
#[derive(Default)]
pub struct Session {
    /// Each record read: model, key, version seen (`None`: absent).
    reads: Vec<(&'static ModelDesc, KeyValue, Option<String>)>,
    /// Each query run (without offset and limit) with the keys and versions it returned.
    queries: Vec<(&'static ModelDesc, Plan, Versions)>,
    /// The writes in order, the latest per record: model, key, document (`None`: delete), mode.
    writes: Vec<(&'static ModelDesc, KeyValue, Option<Vec<u8>>, WriteMode)>,
}

impl Session {
    fn written(&self, m: &ModelDesc, key: &KeyValue) -> Option<&Option<Vec<u8>>> {
        self.writes.iter().find(|w| w.0.collection == m.collection && w.1 == *key).map(|w| &w.2)
    }

    fn write(&mut self, m: &'static ModelDesc, key: KeyValue, doc: Option<Vec<u8>>, mode: WriteMode) {
        self.writes.retain(|w| !(w.0.collection == m.collection && w.1 == key));
        self.writes.push((m, key, doc, mode));
    }
}

impl Datastore {
    /// A record as the attempt sees it: its own write, else the committed one (remembered).
    async fn tx_read(&self, s: &mut Session, m: &'static ModelDesc, keys: &[KeyValue]) -> Result<Vec<Option<Vec<u8>>>> {
        let missing: Vec<KeyValue> = keys.iter().filter(|k| s.written(m, k).is_none()).cloned().collect();
        let (found, _) = self.lookup(m, &missing, ReadIn::None).await?;
        let mut found: HashMap<KeyValue, Option<Read>> = missing.into_iter().zip(found).collect();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(doc) = s.written(m, key) {
                out.push(doc.clone());
                continue;
            }
            let read = found.remove(key).flatten();
            s.reads.push((m, key.clone(), read.as_ref().map(|r| r.version.clone())));
            out.push(read.map(|r| r.doc));
        }
        Ok(out)
    }

    async fn commit_attempt(&self, s: &Session, tx: &OpenTx) -> Result<()> {
        // The reads again, in the transaction, with the records to write (for unknown fields).
        let mut by_model: Vec<(&'static ModelDesc, Vec<KeyValue>)> = Vec::new();
        let mut add =
            |m: &'static ModelDesc, k: &KeyValue| match by_model.iter_mut().find(|(x, _)| x.collection == m.collection)
            {
                Some((_, ks)) if ks.contains(k) => {}
                Some((_, ks)) => ks.push(k.clone()),
                None => by_model.push((m, vec![k.clone()])),
            };
        for (m, k, _) in &s.reads {
            add(m, k);
        }
        for (m, k, _, _) in &s.writes {
            add(m, k);
        }
        let mut now: HashMap<(&'static str, KeyValue), Read> = HashMap::new();
        for (m, keys) in &by_model {
            let (found, _) = self.lookup(m, keys, ReadIn::Tx(tx)).await?;
            for (k, r) in keys.iter().zip(found) {
                if let Some(r) = r {
                    now.insert((m.collection, k.clone()), r);
                }
            }
        }
        for (m, key, seen) in &s.reads {
            if now.get(&(m.collection, key.clone())).map(|r| &r.version) != seen.as_ref() {
                return Err(conflict(m).with_key(key));
            }
        }
        for (m, plan, seen) in &s.queries {
            let native = translate(m, &plan.filters);
            let rows = self.run(m, &native, false, None, Some(tx)).await?;
            let mut got = Vec::new();
            for (key, read) in rows {
                let read = read.unwrap_or(Read { doc: Vec::new(), version: String::new() });
                if eval::matches_all(&plan.filters, &read.doc)? {
                    got.push((key, read.version));
                }
            }
            got.sort();
            if got != *seen {
                return Err(conflict(m));
            }
        }
        let mut mutations = Vec::new();
        let mut checks: Vec<(&'static ModelDesc, Writes)> = Vec::new();
        let mut tally = counter::Tally::default();
        for (i, (m, key, doc, mode)) in s.writes.iter().enumerate() {
            let at = |e: Error| e.with_model(m.name).with_key(key);
            let stored = now.get(&(m.collection, key.clone()));
            let Some(doc) = doc else {
                mutations.push(object([("delete", key_json(m.collection, key))]));
                tally.record(m, stored.map(|s| s.doc.as_slice()), None).map_err(at)?;
                continue;
            };
            let doc = match (stored, mode) {
                (Some(_), WriteMode::Insert) => return Err(conflict(m).with_key(key)),
                (Some(old), WriteMode::Upsert) => eval::keep_unknown(m, &old.doc, doc).map_err(at)?,
                _ => doc.clone(),
            };
            mutations.push(object([("upsert", Self::entity(m, key, &doc).map_err(at)?)]));
            tally.record(m, stored.map(|s| s.doc.as_slice()), Some(&doc)).map_err(at)?;
            match checks.iter_mut().find(|(x, _)| x.collection == m.collection && x.name == m.name) {
                Some((_, w)) => w.push((key.clone(), Some(doc), i)),
                None => checks.push((m, vec![(key.clone(), Some(doc), i)])),
            }
        }
        for (m, writes) in &checks {
            self.check_unique(m, writes, tx).await.map_err(|e| e.with_model(m.name))?;
        }
        mutations.extend(self.counter_mutations(&mut tally, tx).await?);
        self.commit_json(mutations, Some(tx)).await?;
        self.committed(&tally);
        Ok(())
    }
}

/// What the attempt read has changed since: the error kind makes the runtime run it again.
fn conflict(m: &ModelDesc) -> Error {
    Error::new(ErrorKind::Conflict, "changed by a concurrent write since the transaction read it").with_model(m.name)
}

impl Transactions for Datastore {
    type Session = Session;

    /// Nothing is sent: the Datastore transaction is opened by the commit.
    async fn begin(&self) -> Result<Session> {
        Ok(Session::default())
    }

    /// One `lookup` (none for a record the attempt wrote).
    async fn tx_get(&self, s: &mut Session, m: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        Ok(self.tx_read(s, m, std::slice::from_ref(&key)).await?.pop().flatten())
    }

    /// No call, except one `lookup` for an insert with a given key.
    async fn tx_put(&self, s: &mut Session, m: &'static ModelDesc, item: PutItem, mode: WriteMode) -> Result<KeyValue> {
        let Some(key) = item.key else {
            let key = new_key();
            // Written as an insert: a record that took the key meanwhile is a conflict.
            s.write(m, key.clone(), Some(item.doc), WriteMode::Insert);
            return Ok(key);
        };
        if mode == WriteMode::Insert {
            if self.tx_read(s, m, std::slice::from_ref(&key)).await?[0].is_some() {
                let e = Error::new(ErrorKind::DuplicateKey, "a record with this key already exists");
                return Err(e.with_model(m.name).with_key(&key));
            }
            // Found free (a read checked at commit): the commit writes the document as given.
            s.write(m, key.clone(), Some(item.doc), WriteMode::Replace);
            return Ok(key);
        }
        s.write(m, key.clone(), Some(item.doc), mode);
        Ok(key)
    }

    /// One `lookup` of the keys the attempt has not written.
    async fn tx_delete(&self, s: &mut Session, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        let docs = self.tx_read(s, m, &keys).await?;
        let mut existed = 0;
        for (key, doc) in keys.into_iter().zip(docs) {
            if doc.is_some() {
                existed += 1;
                s.write(m, key, None, WriteMode::Upsert);
            }
        }
        Ok(existed)
    }

    /// The query on committed records (remembered for the commit's check), with the
    /// attempt's own writes laid over it.
    async fn tx_query(&self, s: &mut Session, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        let native = translate(m, &plan.filters);
        let rows = self.run(m, &native, false, None, None).await?;
        let mut seen = Vec::new();
        let mut view: HashMap<KeyValue, Vec<u8>> = HashMap::new();
        for (key, read) in rows {
            let read = read.unwrap_or(Read { doc: Vec::new(), version: String::new() });
            if eval::matches_all(&plan.filters, &read.doc).map_err(|e| e.with_key(&key))? {
                seen.push((key.clone(), read.version));
            }
            view.insert(key, read.doc);
        }
        seen.sort();
        let whole = Plan { offset: 0, limit: None, projection: None, ..plan.clone() };
        s.queries.push((m, whole, seen));
        for (_, key, doc, _) in s.writes.iter().filter(|w| w.0.collection == m.collection) {
            match doc {
                Some(d) => view.insert(key.clone(), d.clone()),
                None => view.remove(key),
            };
        }
        finish(view.into_iter().collect(), &plan, false, false)
    }

    /// Nothing to send for an attempt that wrote nothing. Otherwise: a `lookup` that begins
    /// the Datastore transaction (one per model read or written), the queries again, then
    /// the `commit`; a changed version is a `Conflict`, and so is Datastore aborting it.
    async fn commit(&self, s: Session) -> Result<()> {
        if s.writes.is_empty() {
            return Ok(());
        }
        let _serial = self.inner.writes.lock().await;
        let tx = self.begin().await?;
        let result = self.commit_attempt(&s, &tx).await;
        if result.is_err() {
            self.rollback(&tx).await;
        }
        result
    }

    /// Nothing was sent for the attempt's writes: dropping it is enough.
    async fn abort(&self, _s: Session) {}
}
