//! A nonrel backend on Elasticsearch 8 and OpenSearch 2, over their REST API.
//!
//! Each collection is an index with an explicit mapping generated from the model; records
//! are `_source` documents in the runtime's exact JSON form, keyed by `_id`. Conditions the
//! cluster answers exactly run as Query DSL (`term`, `terms`, `range`, `prefix`, `nested`, …),
//! the rest through [`query::eval`](nonrel_runtime::query::eval) on the candidates, so every
//! query gives the answers of every other backend. See the README for what is native.
#![doc = include_str!("../README.md")]

mod client;
mod convert;
mod mapping;
mod scan;
mod store;
mod translate;
mod unique;

use client::Client;
use nonrel_runtime::backend::{retry, Backend, PutItem, Row, SwapItem, Swapped, UpdateCounts, UpdateOp, WriteMode};
use nonrel_runtime::capability::{No, Yes};
use nonrel_runtime::query::{eval, Plan, Seek};
use nonrel_runtime::{Error, ErrorKind, KeyKind, KeyValue, ModelDesc, ObjectId, Result};
use serde_json::{json, Value as Json};
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Cond, Hit, Outcome, Prior, SearchBody, Stored, Write};

/// When writes become visible to searches (`refresh` on every write request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Refresh {
    /// `refresh=wait_for` (the default): a write returns once a search sees it, so a query
    /// right after a save finds the record (read-your-writes) without forcing extra
    /// segments; the request waits for the next scheduled refresh.
    #[default]
    WaitFor,
    /// `refresh=true`: the write refreshes the shards it touched at once; faster for one
    /// writer, heavier on the cluster under many.
    Immediate,
    /// `refresh=false`: near-real-time; searches see a write after the index's next refresh
    /// (one second by default). Reads by key (`get`) always see it.
    NearRealTime,
}

impl Refresh {
    /// The path of a `_bulk` request with this policy.
    fn bulk_path(self) -> &'static str {
        match self {
            Refresh::WaitFor => "/_bulk?refresh=wait_for",
            Refresh::Immediate => "/_bulk?refresh=true",
            Refresh::NearRealTime => "/_bulk?refresh=false",
        }
    }
}

/// The Elasticsearch/OpenSearch backend. Open a database with
/// `Database::new(Elastic::connect(url, "app").await?)`; clones share the connection pool.
#[derive(Clone)]
pub struct Elastic {
    client: Client,
    prefix: String,
    refresh: Refresh,
    page_size: usize,
    ensured: Arc<Mutex<HashSet<(String, &'static str)>>>,
    /// The addresses of the model descriptions `ensured` holds, with their index names: the
    /// check of every write (a few: read by a scan), which gives the name without making it.
    ensured_models: Arc<Mutex<Vec<EnsuredModel>>>,
    /// Records this handle (and its clones) read or wrote last, with their versions.
    known: Arc<store::Known>,
}

/// A model description's address, and the name of its index.
type EnsuredModel = (usize, Arc<str>);

/// The key's order: the sort of a search that reads candidates (`_key` is
/// [`convert::KEY_FIELD`]).
const KEY_ORDER: &str = "[{\"_key\":{\"order\":\"asc\"}}]";

/// How often a write that met a concurrent one is tried again.
const TRIES: usize = 20;

/// Before a write's attempt after the first (a concurrent write changed a record it read):
/// a random pause growing with the attempts, up to 64 ms, so that writers that keep
/// meeting spread out (see [`retry::backoff`]).
async fn pause_before(attempt: usize) {
    if attempt > 0 {
        let attempt = u32::try_from(attempt).unwrap_or(u32::MAX);
        retry::backoff(attempt, std::time::Duration::from_millis(64), std::time::Duration::ZERO).await;
    }
}

impl std::fmt::Debug for Elastic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elastic").field("url", &self.client.base()).field("prefix", &self.prefix).finish()
    }
}

impl Elastic {
    /// Connects to the cluster at `url` (`http://127.0.0.1:9200`) and checks that it answers
    /// (one request); `prefix` starts the name of every index (a database name: `app`
    /// gives `app_user`), lowercase letters, digits and `_`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("index prefix {prefix:?} must be lowercase letters, digits and `_`"),
            ));
        }
        let client = Client::new(url, Duration::from_secs(5))?;
        let reply = client.send(reqwest::Method::GET, "/", None).await?;
        if !reply.status.is_success() {
            return Err(reply.fail(&format!("connecting to {url}")));
        }
        Ok(Elastic {
            client,
            prefix: prefix.to_string(),
            refresh: Refresh::default(),
            page_size: 1000,
            ensured: Arc::default(),
            ensured_models: Arc::default(),
            known: Arc::default(),
        })
    }

    /// The same handle with another refresh policy for writes.
    pub fn with_refresh(mut self, refresh: Refresh) -> Self {
        self.refresh = refresh;
        self
    }

    /// The same handle reading searches in pages of `size` hits (1,000 by default; at
    /// most 10,000, the clusters' default `max_result_window`).
    pub fn with_page_size(mut self, size: usize) -> Self {
        self.page_size = size.clamp(1, 10_000);
        self
    }

    /// HTTP requests sent through this handle (and its clones) so far.
    pub fn requests(&self) -> u64 {
        self.client.requests()
    }

    /// The name of the index holding a model's collection: the prefix, `_`, and the
    /// collection name with lowercase letters, digits and `_` kept and every other character
    /// written `~` and its code in hex (index names are lowercase).
    pub fn index(&self, m: &ModelDesc) -> String {
        let mut out = String::with_capacity(self.prefix.len() + 1 + m.collection.len());
        out.push_str(&self.prefix);
        out.push('_');
        if m.collection.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            out.push_str(m.collection);
            return out;
        }
        for c in m.collection.chars() {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                out.push(c);
            } else {
                out.push_str(&format!("~{:x}~", c as u32));
            }
        }
        out
    }

    /// The index of a model's unique-value claims.
    fn claims_index(&self, m: &ModelDesc) -> String {
        format!("{}-unique", self.index(m))
    }

    /// Writes records (and their unique claims), then releases the claims they no longer
    /// make. `old` is what was read of each record when the model has unique fields.
    async fn commit(
        &self,
        m: &'static ModelDesc,
        index: &str,
        writes: Vec<Write>,
        old: Vec<Option<Vec<u8>>>,
    ) -> Result<Vec<Outcome>> {
        let unique = m.indexes.iter().any(|i| i.unique);
        let mut gained = Vec::new();
        let mut lost = Vec::new();
        if unique {
            for (w, old) in writes.iter().zip(&old) {
                let before = old.as_deref().map(|d| unique::claims(m, d)).transpose()?.unwrap_or_default();
                let after = w.doc.as_deref().map(|d| unique::claims(m, d)).transpose()?.unwrap_or_default();
                gained.push(after.difference(&before).cloned().collect::<Vec<_>>());
                lost.push(before.difference(&after).cloned().collect::<Vec<_>>());
            }
            let empty = Vec::new();
            let items: Vec<_> = writes
                .iter()
                .zip(&gained)
                .map(|(w, g)| (w.key.clone(), w.doc.as_deref().unwrap_or(&empty[..]), g.clone()))
                .collect();
            if gained.iter().any(|g| !g.is_empty()) {
                self.claim(m, &items).await?;
            }
        }
        let outcomes = self.bulk(m, index, writes, true).await?;
        if unique {
            let mut release = Vec::new();
            for ((o, g), l) in outcomes.iter().zip(gained).zip(lost) {
                release.extend(if matches!(o, Outcome::Done { .. }) { l } else { g });
            }
            self.release(m, release).await?;
        }
        Ok(outcomes)
    }

    /// Writes a batch whose keys are distinct: reads the records when a save must keep
    /// their unknown fields or release their unique values, claims new unique values, and
    /// writes with the version read, again from the read when a concurrent write came first.
    async fn put_distinct(
        &self,
        m: &'static ModelDesc,
        index: &str,
        items: Vec<PutItem>,
        mode: WriteMode,
    ) -> Result<Vec<KeyValue>> {
        let unique = m.indexes.iter().any(|i| i.unique);
        // Keys made here name no record yet: nothing to read for them.
        let fresh = items.iter().all(|i| i.key.is_none());
        let keys: Vec<KeyValue> =
            items.iter().map(|i| i.key.clone().unwrap_or_else(|| KeyValue::ObjectId(ObjectId::new()))).collect();
        let docs: Vec<Vec<u8>> = items.into_iter().map(|i| i.doc).collect();
        for attempt in 0..TRIES {
            pause_before(attempt).await;
            let read = mode == WriteMode::Upsert || unique;
            let old: Vec<Option<Prior>> = if !read || (fresh && attempt == 0) {
                vec![None; keys.len()]
            } else {
                // A save over records this handle knows writes at the version it knows (a
                // concurrent write fails the condition, and the next attempt reads).
                let known =
                    (attempt == 0 && mode == WriteMode::Upsert).then(|| self.known.recall(index, &keys, m, unique));
                match known.flatten() {
                    Some(known) => known,
                    None => self.mget(index, &keys).await?.into_iter().map(|s| s.map(Prior::from)).collect(),
                }
            };
            let mut writes = Vec::with_capacity(keys.len());
            for (i, (key, doc)) in keys.iter().zip(&docs).enumerate() {
                let before = old[i].as_ref();
                if mode == WriteMode::Insert && before.is_some() {
                    return Err(duplicate(m, key, i));
                }
                let doc = match (mode, before) {
                    // A document this handle wrote for the model with only its fields has
                    // nothing to keep: the merge would give `doc` back.
                    (WriteMode::Upsert, Some(Prior { doc: Some(old), plain: false, .. })) => {
                        eval::keep_unknown(m, old, doc).map_err(|e| e.with_model(m.name).with_key(key).with_item(i))?
                    }
                    _ => doc.clone(),
                };
                let cond = match mode {
                    WriteMode::Insert => Cond::Create,
                    WriteMode::Upsert => Cond::as_read(before),
                    WriteMode::Replace if unique => Cond::as_read(before),
                    WriteMode::Replace => Cond::Any,
                };
                writes.push(Write { key: key.clone(), doc: Some(doc), cond });
            }
            let old_docs = old.into_iter().map(|s| s.and_then(|s| s.doc)).collect();
            let outcomes = self.commit(m, index, writes, old_docs).await?;
            let mut again = false;
            for (i, o) in outcomes.into_iter().enumerate() {
                match o {
                    Outcome::Done { .. } => {}
                    Outcome::Conflict if mode == WriteMode::Insert => return Err(duplicate(m, &keys[i], i)),
                    Outcome::Conflict => again = true,
                    Outcome::Failed(e) => return Err(e.with_model(m.name).with_key(&keys[i]).with_item(i)),
                }
            }
            if !again {
                return Ok(keys);
            }
        }
        Err(conflict(m))
    }

    /// Runs a plan: natively when its filters and order are exact in the cluster, else
    /// candidates from the native part evaluated, sorted and paged here.
    async fn run(&self, m: &'static ModelDesc, plan: &Plan, seek: Option<&Seek>) -> Result<Option<Vec<Hit>>> {
        let native = translate::filters(m, &plan.filters);
        let reverse = seek.is_some_and(|s| s.backward);
        let sort = translate::sort(m, &plan.order, reverse);
        let window = plan.offset.saturating_add(plan.limit.unwrap_or(0));
        if let (true, Some(sort), true) = (native.exact, sort, window <= 10_000) {
            let mut body = SearchBody::new(&native, &sort);
            if let Some(seek) = seek {
                let mut after = Vec::new();
                for (o, v) in plan.order.iter().zip(&seek.values) {
                    match translate::after_value(m.fields, o, v) {
                        Some(v) => after.push(v),
                        None => return Ok(None),
                    }
                }
                after.push(store::key_sort_value(&seek.key));
                body.after = Some(Json::Array(after).to_string());
            }
            let mut hits = self.search(m, body, plan.offset, plan.limit, |_| Ok(false)).await?;
            if reverse {
                hits.reverse();
            }
            if let Some(p) = &plan.projection {
                for h in &mut hits {
                    h.stored.doc = eval::project(&h.stored.doc, p)?;
                }
            }
            return Ok(Some(hits));
        }
        if seek.is_some() {
            return Ok(None);
        }
        // Ordered by relevance: the cluster's order (`_score`, then the other terms), kept.
        let by_score = plan.order.first().is_some_and(|o| o.path == nonrel_runtime::lookup::RELEVANCE);
        let sort = match translate::sort(m, &plan.order, false) {
            Some(sort) if by_score => sort,
            _ => KEY_ORDER.to_owned(),
        };
        let body = SearchBody::new(&native, &sort);
        // Candidates come in the plan's order (relevance, or the key with no ordering term):
        // reading stops once `offset + limit` of them match, in pages near that size
        // (`search_after` from one page to the next).
        let in_order = by_score || plan.order.is_empty();
        let need = plan.limit.map(|l| plan.offset.saturating_add(l)).filter(|_| in_order);
        let page = need.map_or(self.page_size, |n| n.saturating_mul(2).max(10));
        let mut matched = Vec::new();
        let mut count = 0usize;
        let candidates = self
            .search_pages(m, body, 0, None, page, |hits| {
                for h in hits {
                    let at = |e: Error| e.with_model(m.name).with_key(&h.key);
                    let hit = eval::matches_all(&plan.filters, &h.stored.doc).map_err(at)?;
                    count += usize::from(hit);
                    matched.push(hit);
                }
                Ok(need.is_some_and(|n| count >= n))
            })
            .await?;
        let mut found = Vec::new();
        for (h, hit) in candidates.into_iter().zip(matched) {
            if hit {
                let key = if by_score { Vec::new() } else { eval::sort_key(&h.stored.doc, &plan.order)? };
                found.push((key, h));
            }
        }
        if !by_score {
            found.sort_by(|a, b| eval::compare_keys(&a.0, &b.0, &plan.order));
        }
        let page = found.into_iter().skip(plan.offset).take(plan.limit.unwrap_or(usize::MAX));
        let mut out = Vec::new();
        for (_, mut h) in page {
            if let Some(p) = &plan.projection {
                h.stored.doc = eval::project(&h.stored.doc, p)?;
            }
            out.push(h);
        }
        Ok(Some(out))
    }
}

fn rows(hits: Vec<Hit>) -> Vec<Row> {
    hits.into_iter().map(|h| Row { key: Some(h.key), doc: h.stored.doc, ..Row::default() }).collect()
}

fn conflict(m: &ModelDesc) -> Error {
    Error::new(ErrorKind::Conflict, "the records kept changing under concurrent writes; try again").with_model(m.name)
}

fn duplicate(m: &ModelDesc, key: &KeyValue, item: usize) -> Error {
    Error::new(ErrorKind::DuplicateKey, "a record with this key already exists")
        .with_model(m.name)
        .with_key(key)
        .with_item(item)
}

impl Backend for Elastic {
    const NAME: &'static str = "elasticsearch";

    type Joins = No;
    type CaseInsensitive = Yes;
    type Regex = No;
    type DateParts = No;
    /// Full-text `search` is an analyzed `match`; relevance is `_score`.
    type FullText = Yes;

    /// Automatic keys are ObjectIds made by the client (no request for a counter).
    const AUTO_KEY: KeyKind = KeyKind::Auto;

    /// The clusters' default `index.max_terms_count`.
    const MAX_IN_VALUES: usize = 65_536;

    async fn put(&self, m: &'static ModelDesc, items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        let index = self.ensured_index(m).await?;
        // One record names one key at most: only a batch can hold a key twice.
        let twice = items.len() > 1 && {
            let mut given: Vec<&KeyValue> = items.iter().filter_map(|i| i.key.as_ref()).collect();
            given.sort_unstable();
            given.windows(2).any(|pair| pair[0] == pair[1])
        };
        if twice {
            // One key twice in a batch: written in order, the last one wins.
            let mut keys = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                keys.extend(self.put_distinct(m, &index, vec![item], mode).await.map_err(|e| e.with_item(i))?);
            }
            return Ok(keys);
        }
        self.put_distinct(m, &index, items, mode).await
    }

    async fn get_many(&self, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        Ok(self.mget(&self.index(m), &keys).await?.into_iter().map(|s| s.map(|s| s.doc)).collect())
    }

    async fn delete(&self, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        if !m.indexes.iter().any(|i| i.unique) {
            let writes: Vec<Write> = keys.into_iter().map(|key| Write { key, doc: None, cond: Cond::Any }).collect();
            let mut n = 0;
            for o in self.bulk(m, &self.index(m), writes, true).await? {
                match o {
                    Outcome::Done { existed } => n += u64::from(existed),
                    Outcome::Failed(e) => return Err(e.with_model(m.name)),
                    Outcome::Conflict => return Err(conflict(m)),
                }
            }
            return Ok(n);
        }
        // With unique fields the records are read first, to release their claims.
        let mut deleted = 0;
        let mut keys = keys;
        for attempt in 0..TRIES {
            pause_before(attempt).await;
            let old = self.mget(&self.index(m), &keys).await?;
            let mut writes = Vec::new();
            let mut olds = Vec::new();
            for (key, s) in keys.iter().zip(old) {
                if let Some(s) = s {
                    writes.push(Write { key: key.clone(), doc: None, cond: Cond::Version(s.seq_no, s.primary_term) });
                    olds.push(Some(s.doc));
                }
            }
            let mut retry = Vec::new();
            for (w, o) in
                writes.iter().zip(self.commit(m, &self.index(m), writes.iter().map(clone_write).collect(), olds).await?)
            {
                match o {
                    Outcome::Done { existed } => deleted += u64::from(existed),
                    Outcome::Conflict => retry.push(w.key.clone()),
                    Outcome::Failed(e) => return Err(e.with_model(m.name).with_key(&w.key)),
                }
            }
            if retry.is_empty() {
                return Ok(deleted);
            }
            keys = retry;
        }
        Err(conflict(m))
    }

    async fn query(&self, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        Ok(rows(self.run(m, &plan, None).await?.unwrap_or_default()))
    }

    async fn query_seek(&self, m: &'static ModelDesc, plan: Plan, seek: Seek) -> Result<Option<Vec<Row>>> {
        Ok(self.run(m, &plan, Some(&seek)).await?.map(rows))
    }

    async fn count(&self, m: &'static ModelDesc, plan: Plan, upto: Option<u64>) -> Result<u64> {
        let native = translate::filters(m, &plan.filters);
        if native.exact {
            return self.count_native(m, native.query(), upto).await;
        }
        let body = SearchBody::new(&native, KEY_ORDER);
        let upto = upto.unwrap_or(u64::MAX);
        let page = usize::try_from(upto).unwrap_or(usize::MAX).saturating_mul(2).max(10);
        let mut n = 0u64;
        self.search_pages(m, body, 0, None, page, |hits| {
            for h in hits {
                if n < upto && eval::matches_all(&plan.filters, &h.stored.doc)? {
                    n += 1;
                }
            }
            Ok(n >= upto)
        })
        .await?;
        Ok(n.min(upto))
    }

    /// Without scripts: the matching records are read with their versions, changed here, and
    /// written back with `if_seq_no`/`if_primary_term`; a record a concurrent write changed
    /// is read again, checked against the filters again and changed again.
    async fn update(&self, m: &'static ModelDesc, plan: Plan, ops: Vec<UpdateOp>) -> Result<UpdateCounts> {
        let filters = plan.filters.clone();
        let whole = Plan { filters: plan.filters, ..Plan::default() };
        let mut current: Vec<(KeyValue, Stored)> =
            self.run(m, &whole, None).await?.unwrap_or_default().into_iter().map(|h| (h.key, h.stored)).collect();
        let mut counts = UpdateCounts { matched: current.len() as u64, modified: 0 };
        if current.is_empty() {
            return Ok(counts);
        }
        self.ensure(m).await?;
        for attempt in 0..TRIES {
            pause_before(attempt).await;
            let mut writes = Vec::new();
            let mut olds = Vec::new();
            for (key, s) in &current {
                let at = |e: Error| e.with_model(m.name).with_key(key);
                let new = eval::apply_update(&s.doc, &ops).map_err(at)?;
                if new != s.doc {
                    writes.push(Write {
                        key: key.clone(),
                        doc: Some(new),
                        cond: Cond::Version(s.seq_no, s.primary_term),
                    });
                    olds.push(Some(s.doc.clone()));
                }
            }
            let keys: Vec<KeyValue> = writes.iter().map(|w| w.key.clone()).collect();
            let mut retry = Vec::new();
            for (key, o) in keys.into_iter().zip(self.commit(m, &self.index(m), writes, olds).await?) {
                match o {
                    Outcome::Done { .. } => counts.modified += 1,
                    Outcome::Conflict => retry.push(key),
                    Outcome::Failed(e) => return Err(e.with_model(m.name).with_key(&key)),
                }
            }
            if retry.is_empty() {
                return Ok(counts);
            }
            // Changed meanwhile: read again, and change only those that still match.
            let again = self.mget(&self.index(m), &retry).await?;
            current = Vec::new();
            for (key, s) in retry.into_iter().zip(again) {
                match s {
                    Some(s) if eval::matches_all(&filters, &s.doc)? => current.push((key, s)),
                    _ => counts.matched -= 1,
                }
            }
        }
        Err(conflict(m))
    }

    /// Compare-and-set on the version read with the document: the write carries
    /// `if_seq_no`/`if_primary_term`, so a concurrent save in between makes it fail.
    async fn swap(&self, m: &'static ModelDesc, items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
        self.ensure(m).await?;
        let mut out: Vec<Option<Swapped>> = vec![None; items.len()];
        let mut pending: Vec<usize> = (0..items.len()).collect();
        for attempt in 0..TRIES {
            pause_before(attempt).await;
            let keys: Vec<KeyValue> = pending.iter().map(|&i| items[i].key.clone()).collect();
            let now = self.mget(&self.index(m), &keys).await?;
            let mut writes = Vec::new();
            let mut olds = Vec::new();
            let mut which = Vec::new();
            for (&i, s) in pending.iter().zip(now) {
                let item = &items[i];
                match s {
                    None => out[i] = Some(Swapped::Missing),
                    Some(s) if s.doc != item.expected => out[i] = Some(Swapped::Changed(s.doc)),
                    Some(s) => {
                        let doc = item.doc.as_ref().map(|d| eval::keep_unknown(m, &s.doc, d)).transpose()?;
                        writes.push(Write {
                            key: item.key.clone(),
                            doc,
                            cond: Cond::Version(s.seq_no, s.primary_term),
                        });
                        olds.push(Some(s.doc));
                        which.push(i);
                    }
                }
            }
            let mut retry = Vec::new();
            for (i, o) in which.into_iter().zip(self.commit(m, &self.index(m), writes, olds).await?) {
                match o {
                    Outcome::Done { .. } => out[i] = Some(Swapped::Written),
                    Outcome::Conflict => retry.push(i),
                    Outcome::Failed(e) => return Err(e.with_model(m.name).with_key(&items[i].key)),
                }
            }
            if retry.is_empty() {
                return Ok(out.into_iter().map(|o| o.unwrap_or(Swapped::Missing)).collect());
            }
            pending = retry;
        }
        Err(conflict(m))
    }

    /// Creates each model's index with its mapping (and the claims index of unique fields).
    async fn sync_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        let mut n = 0;
        for m in models {
            self.ensure(m).await?;
            n += m.indexes.len() as u64;
        }
        Ok(n)
    }

    async fn integrity_check(&self, models: Vec<&'static ModelDesc>) -> Result<nonrel_runtime::IntegrityReport> {
        self.check_claims(models, false).await.map(|(report, _)| report)
    }

    /// Indexes every record again under its index's current mapping (an `_update_by_query`
    /// without a script, which skips records a live write changed meanwhile: that write
    /// indexed them), so fields that became indexed after records were written (references,
    /// before this crate indexed them) answer queries for those records too; then repairs
    /// the unique claims.
    async fn rebuild_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        let mut done = HashSet::new();
        for m in &models {
            let index = self.index(m);
            if !done.insert(index.clone()) {
                continue;
            }
            self.ensure(m).await?;
            let path = format!("/{index}/_update_by_query?conflicts=proceed&refresh=true");
            let reply =
                self.client.json(reqwest::Method::POST, &path, &json!({ "query": { "match_all": {} } })).await?;
            if !reply.status.is_success() {
                return Err(reply.fail(&format!("indexing the records of {index} again")).with_model(m.name));
            }
        }
        self.check_claims(models, true).await.map(|(_, written)| written)
    }
}

fn clone_write(w: &Write) -> Write {
    Write { key: w.key.clone(), doc: w.doc.clone(), cond: w.cond }
}

impl Elastic {
    /// Compares the unique claims with the records: a value a record holds without a claim
    /// naming it, or a claim whose record does not hold its value. With `repair`, claims
    /// are written and stale ones deleted; returns the report and the claims written.
    async fn check_claims(
        &self,
        models: Vec<&'static ModelDesc>,
        repair: bool,
    ) -> Result<(nonrel_runtime::IntegrityReport, u64)> {
        let mut report = nonrel_runtime::IntegrityReport::default();
        let mut written = 0;
        let mut done = HashSet::new();
        for m in models {
            report.entries += m.indexes.len() as u64;
            written += m.indexes.iter().filter(|i| !i.unique).count() as u64;
            if !done.insert(self.index(m)) {
                continue;
            }
            let body = SearchBody::new(&translate::Native::default(), "[{\"_key\":\"asc\"}]");
            let records = self.search(m, body, 0, None, |_| Ok(false)).await?;
            report.records += records.len() as u64;
            if !m.indexes.iter().any(|i| i.unique) {
                continue;
            }
            self.ensure(m).await?;
            let mut want = std::collections::BTreeMap::new();
            for h in &records {
                for c in unique::claims(m, &h.stored.doc)? {
                    want.insert(c.id(), (c, h.key.clone()));
                }
            }
            // Every claim, read by id from the claims index.
            let index = self.claims_index(m);
            let ids: Vec<String> = want.keys().cloned().collect();
            let found = self.mget_raw(&index, &ids).await?;
            let mut fix = Vec::new();
            for ((id, (claim, key)), f) in want.iter().zip(found) {
                let owner = f.as_ref().and_then(|(b, ..)| b.get("owner").and_then(|o| o.as_str()).map(str::to_string));
                if owner.as_deref() != Some(key.to_url_safe().as_str()) {
                    report.problems.push(nonrel_runtime::IntegrityProblem {
                        model: m.name,
                        index: claim.path,
                        key: Some(key.clone()),
                        message: format!("value {} has no claim naming this record", &claim.value[1..]),
                    });
                    let at = nonrel_runtime::Utc::now().timestamp_millis();
                    fix.push((id.clone(), Some(json!({ "id": id, "owner": key.to_url_safe(), "at": at })), Cond::Any));
                }
            }
            let stale = self.stale_claims(&index, &want.keys().cloned().collect()).await?;
            for id in stale {
                report.problems.push(nonrel_runtime::IntegrityProblem {
                    model: m.name,
                    index: m
                        .indexes
                        .iter()
                        .find(|i| id.starts_with(&format!("{}\u{1f}", i.path)))
                        .map_or("", |i| i.path),
                    key: None,
                    message: "a claim of a value no record holds".into(),
                });
                fix.push((id, None, Cond::Any));
            }
            written += want.len() as u64;
            if repair {
                self.bulk_raw(&index, &fix).await?;
            }
        }
        Ok((report, written))
    }

    /// Claims whose id is not among `live`.
    async fn stale_claims(&self, index: &str, live: &BTreeSet<String>) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut after: Option<Json> = None;
        loop {
            let mut body = json!({ "query": { "match_all": {} }, "size": self.page_size, "_source": false, "sort": [{ "id": "asc" }] });
            if let Some(a) = &after {
                body["search_after"] = a.clone();
            }
            let Some(reply) = self.search_once(index, body.to_string().into_bytes()).await? else { return Ok(out) };
            let v: Json = reply.json()?;
            let hits = v["hits"]["hits"].as_array().cloned().unwrap_or_default();
            for h in &hits {
                if let Some(id) = h["_id"].as_str() {
                    if !live.contains(id) {
                        out.push(id.to_string());
                    }
                }
            }
            if hits.len() < self.page_size {
                return Ok(out);
            }
            after = hits.last().map(|h| h["sort"].clone());
        }
    }
}
