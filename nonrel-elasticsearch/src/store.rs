//! Reading from and writing to the cluster: `_mget`, `_search` pages on `search_after`,
//! `_count`, and `_bulk` writes with optimistic concurrency (`if_seq_no`/`if_primary_term`).

use crate::client::{segment, storage, Reply};
use crate::convert::{push_id_json, sort_key, write_source, Source};
use crate::translate::Native;
use crate::{Elastic, Refresh};
use nonrel_runtime::{Error, ErrorKind, KeyValue, ModelDesc, Result};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value as Json};
use std::fmt::Write as _;

/// A record as read, with its version for a conditional write.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub doc: Vec<u8>,
    pub seq_no: i64,
    pub primary_term: i64,
}

/// What a write requires of the stored record.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cond {
    /// Nothing: write over whatever is there.
    Any,
    /// The record must not exist (`op_type=create`).
    Create,
    /// The record must still be at this version.
    Version(i64, i64),
}

impl Cond {
    /// The condition that the record is still as read (absent, or at its version).
    pub fn as_read(old: Option<&Prior>) -> Cond {
        old.map_or(Cond::Create, |s| Cond::Version(s.seq_no, s.primary_term))
    }
}

/// What a save over a record knows of it before writing: its version, and its document when
/// the save needs it.
#[derive(Debug, Clone)]
pub(crate) struct Prior {
    pub seq_no: i64,
    pub primary_term: i64,
    /// The stored document: `None` only when [`plain`](Self::plain) and the save has no
    /// unique values to release.
    pub doc: Option<Vec<u8>>,
    /// Whether a save of the model over the record keeps nothing of the stored document, so
    /// the new one is written as it is: this handle wrote that document for the same model,
    /// and it held only fields the model names ([`Known::recall`]).
    pub plain: bool,
}

impl From<Stored> for Prior {
    /// A record as read: its document is needed, for the fields the model does not know.
    fn from(s: Stored) -> Prior {
        Prior { seq_no: s.seq_no, primary_term: s.primary_term, doc: Some(s.doc), plain: false }
    }
}

/// One write of a `_bulk`.
pub(crate) struct Write {
    pub key: KeyValue,
    /// The new document, or `None` to delete.
    pub doc: Option<Vec<u8>>,
    pub cond: Cond,
}

/// What one write of a `_bulk` did.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Written (or deleted); whether the record existed before.
    Done { existed: bool },
    /// The condition failed (a concurrent write, or an existing record for `Create`).
    Conflict,
    /// Refused for another reason.
    Failed(Error),
}

/// One hit of a search.
pub(crate) struct Hit {
    pub key: KeyValue,
    pub stored: Stored,
}

/// No value (a serde default that asks nothing of `S`).
fn none<S>() -> Option<S> {
    None
}

#[derive(Deserialize)]
struct MgetReply<S> {
    docs: Vec<MgetDoc<S>>,
}

/// A document of an `_mget` answer, its `_source` read as `S`.
#[derive(Deserialize)]
struct MgetDoc<S> {
    #[serde(default)]
    found: bool,
    #[serde(default = "none")]
    _source: Option<S>,
    #[serde(default)]
    _seq_no: i64,
    #[serde(default)]
    _primary_term: i64,
    #[serde(default)]
    error: Option<Json>,
}

#[derive(Deserialize)]
struct SearchReply<'a> {
    #[serde(borrow)]
    hits: Hits<'a>,
}

#[derive(Deserialize)]
struct Hits<'a> {
    #[serde(default)]
    total: Option<Total>,
    #[serde(borrow)]
    hits: Vec<SearchHit<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct Total {
    pub value: u64,
}

#[derive(Deserialize)]
struct SearchHit<'a> {
    _id: String,
    #[serde(default)]
    _source: Option<Source>,
    #[serde(default)]
    _seq_no: i64,
    #[serde(default)]
    _primary_term: i64,
    #[serde(borrow, default)]
    sort: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct BulkReply<'a> {
    #[serde(borrow)]
    items: Vec<BulkEntry<'a>>,
}

/// One item of a `_bulk` answer: an object whose one member is named after the action.
#[derive(Deserialize)]
struct BulkEntry<'a> {
    #[serde(borrow, default)]
    index: Option<BulkItem<'a>>,
    #[serde(borrow, default)]
    create: Option<BulkItem<'a>>,
    #[serde(borrow, default)]
    update: Option<BulkItem<'a>>,
    #[serde(borrow, default)]
    delete: Option<BulkItem<'a>>,
}

impl<'a> BulkEntry<'a> {
    /// What the item's action did.
    fn into_item(self) -> Option<BulkItem<'a>> {
        self.index.or(self.create).or(self.update).or(self.delete)
    }
}

#[derive(Deserialize)]
struct BulkItem<'a> {
    status: u16,
    #[serde(borrow, default)]
    result: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    _seq_no: Option<i64>,
    #[serde(default)]
    _primary_term: Option<i64>,
    #[serde(default)]
    error: Option<Json>,
}

/// The deepest hit `from` + `size` reach (the clusters' default `max_result_window`).
const MAX_WINDOW: usize = 10_000;

/// Whether an answer says the index does not exist (nothing written yet: no records).
fn missing_index(reply: &Reply) -> bool {
    reply.status == StatusCode::NOT_FOUND && reply.error_type().as_deref() == Some("index_not_found_exception")
}

/// Parses a key as `_id` holds it.
pub(crate) fn parse_id(m: &ModelDesc, id: &str) -> Result<KeyValue> {
    KeyValue::parse(m.key.kind, id).map_err(|e| e.with_model(m.name))
}

impl Elastic {
    /// Reads records by key in one `_mget`, each with its version.
    pub(crate) async fn mget(&self, index: &str, keys: &[KeyValue]) -> Result<Vec<Option<Stored>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = String::with_capacity(12 + keys.len() * 28);
        body.push_str("{\"ids\":[");
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            push_id_json(key, &mut body);
        }
        body.push_str("]}");
        let path = format!("/{index}/_mget");
        let reply = self.client.json_bytes(Method::POST, &path, body.into_bytes()).await?;
        if missing_index(&reply) {
            return Ok(vec![None; keys.len()]);
        }
        if !reply.status.is_success() {
            return Err(reply.fail("_mget"));
        }
        let docs = match crate::scan::mget_docs(&reply.body) {
            Some(docs) => docs
                .into_iter()
                .map(|d| MgetDoc {
                    found: d.found,
                    _source: d.source.map(|doc| Source(Ok(doc))),
                    _seq_no: d.seq_no,
                    _primary_term: d.primary_term,
                    error: None,
                })
                .collect(),
            None => reply.json::<MgetReply<Source>>()?.docs,
        };
        let mut out = Vec::with_capacity(keys.len());
        for (doc, key) in docs.into_iter().zip(keys) {
            if let Some(e) = doc.error {
                if e.get("type").and_then(Json::as_str) == Some("index_not_found_exception") {
                    out.push(None);
                    continue;
                }
                return Err(storage(format!("_mget of {key}: {e}")));
            }
            out.push(match (doc.found, doc._source) {
                (true, Some(src)) => {
                    let stored = Stored {
                        doc: src.0.map_err(|p| p.into_error().with_key(key))?,
                        seq_no: doc._seq_no,
                        primary_term: doc._primary_term,
                    };
                    self.known.remember(index, key, stored.clone());
                    Some(stored)
                }
                _ => {
                    self.known.forget(index, key);
                    None
                }
            });
        }
        Ok(out)
    }

    /// One `_search` request with a JSON body; `None` when the index does not exist.
    pub(crate) async fn search_once(&self, index: &str, body: Vec<u8>) -> Result<Option<Reply>> {
        let reply = self.client.json_bytes(Method::POST, &format!("/{index}/_search"), body).await?;
        if missing_index(&reply) {
            return Ok(None);
        }
        if !reply.status.is_success() {
            return Err(reply.fail("_search"));
        }
        Ok(Some(reply))
    }

    /// Searches `index` with `body` (its query and sort), reading pages of `size` with
    /// `search_after` from the first page's `from` until `limit` hits (or all) are read, or
    /// `stop` says enough.
    pub(crate) async fn search(
        &self,
        m: &'static ModelDesc,
        body: SearchBody,
        from: usize,
        limit: Option<usize>,
        stop: impl FnMut(&[Hit]) -> Result<bool>,
    ) -> Result<Vec<Hit>> {
        self.search_pages(m, body, from, limit, self.page_size, stop).await
    }

    /// [`search`](Self::search) in pages of `page` hits (a reader that stops early asks for
    /// pages near what it needs).
    pub(crate) async fn search_pages(
        &self,
        m: &'static ModelDesc,
        mut body: SearchBody,
        from: usize,
        limit: Option<usize>,
        page: usize,
        mut stop: impl FnMut(&[Hit]) -> Result<bool>,
    ) -> Result<Vec<Hit>> {
        let index = self.index(m);
        let page = page.clamp(1, self.page_size);
        let mut out: Vec<Hit> = Vec::new();
        // Where the next page starts by position (`from`, left out when 0).
        let mut at = from;
        loop {
            let want = limit.map_or(page, |l| (l - out.len()).min(page));
            if want == 0 {
                break;
            }
            let Some(reply) = self.search_once(&index, body.page(at, want)).await? else { break };
            let start = out.len();
            let last = read_page(m, &reply, &mut out)?;
            let n = out.len() - start;
            let enough = stop(&out[start..])?;
            if n < want || enough {
                break;
            }
            // Relevance order pages by position while the window allows: a score sent back
            // in `search_after` is a decimal rendering of a 32-bit float, which a server may
            // read back as a slightly different number and skip a tie.
            let next = from + out.len();
            if body.by_score && body.after.is_none() && next + page <= MAX_WINDOW {
                at = next;
                continue;
            }
            at = 0;
            // The sort values as the answer wrote them (both readers checked they are JSON).
            body.after = Some(last.unwrap_or_else(|| "[]".to_owned()));
        }
        Ok(out)
    }

    /// The number of hits of a query, at most `upto` (`track_total_hits`), or exactly
    /// (`_count`).
    pub(crate) async fn count_native(&self, m: &'static ModelDesc, query: Json, upto: Option<u64>) -> Result<u64> {
        let index = self.index(m);
        if let Some(upto) = upto {
            let body = json!({ "size": 0, "query": query, "track_total_hits": upto.min(i32::MAX as u64) });
            let Some(reply) = self.search_once(&index, body.to_string().into_bytes()).await? else { return Ok(0) };
            let parsed: SearchReply = reply.json()?;
            return Ok(parsed.hits.total.map_or(0, |t| t.value).min(upto));
        }
        let reply = self.client.json(Method::POST, &format!("/{index}/_count"), &json!({ "query": query })).await?;
        if missing_index(&reply) {
            return Ok(0);
        }
        if !reply.status.is_success() {
            return Err(reply.fail("_count"));
        }
        #[derive(Deserialize)]
        struct Count {
            count: u64,
        }
        Ok(reply.json::<Count>()?.count)
    }

    /// Writes records of `m` in one `_bulk` request; `refresh` makes the writes visible to
    /// searches.
    pub(crate) async fn bulk(
        &self,
        m: &'static ModelDesc,
        index: &str,
        writes: Vec<Write>,
        refresh: bool,
    ) -> Result<Vec<Outcome>> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        // Room for each action line and the document's JSON (rarely over twice its BSON), so
        // the body is written without growing.
        let room: usize = writes.iter().map(|w| 128 + index.len() + w.doc.as_ref().map_or(0, |d| d.len() * 2)).sum();
        let mut body = String::with_capacity(room);
        // Per write, whether a later save of `m` over the document keeps nothing of it.
        let mut keeps_nothing = Vec::with_capacity(writes.len());
        // `"_index":"…"` once, copied into every action.
        let mut index_member = String::with_capacity(index.len() + 12);
        index_member.push_str("\":{\"_index\":");
        nonrel_runtime::json::write_json_str(index, &mut index_member);
        for w in &writes {
            let action = if w.doc.is_some() { "index" } else { "delete" };
            body.push_str("{\"");
            body.push_str(action);
            body.push_str(&index_member);
            body.push_str(",\"_id\":");
            push_id_json(&w.key, &mut body);
            match w.cond {
                Cond::Any => {}
                Cond::Create if w.doc.is_some() => body.push_str(",\"op_type\":\"create\""),
                // A delete of a record that must not exist deletes nothing.
                Cond::Create => {}
                Cond::Version(s, p) => {
                    body.push_str(",\"if_seq_no\":");
                    nonrel_runtime::json::write_json_int(s, &mut body);
                    body.push_str(",\"if_primary_term\":");
                    nonrel_runtime::json::write_json_int(p, &mut body);
                }
            }
            body.push_str("}}\n");
            keeps_nothing.push(match &w.doc {
                Some(doc) => {
                    let plain = write_source(&w.key, doc, Some(m), &mut body)?;
                    body.push('\n');
                    plain
                }
                None => false,
            });
        }
        let path = if refresh { self.refresh.bulk_path() } else { Refresh::NearRealTime.bulk_path() };
        let reply = self.client.bulk(path, body).await?;
        if !reply.status.is_success() {
            return Err(reply.fail("_bulk"));
        }
        let items = read_bulk(&reply, writes.len())?;
        let mut out = Vec::with_capacity(writes.len());
        // What the handle knows of each record now, recorded at once (one lock).
        let mut known = Vec::with_capacity(writes.len());
        for ((item, w), plain) in items.into_iter().zip(writes).zip(keeps_nothing) {
            let Some(item) = item else {
                self.known.record(index, known);
                return Err(storage("_bulk answered an empty item"));
            };
            let delete = w.doc.is_none();
            let outcome = match (item.status, item.error) {
                (409, _) => Outcome::Conflict,
                (404, None) if delete => Outcome::Done { existed: false },
                (404, Some(e))
                    if delete && e.get("type").and_then(Json::as_str) == Some("index_not_found_exception") =>
                {
                    Outcome::Done { existed: false }
                }
                (s, None) if s < 300 => Outcome::Done { existed: item.result.as_deref() != Some("created") },
                (s, e) => Outcome::Failed(item_error(s, e)),
            };
            match (w.doc, item.status, item._seq_no, item._primary_term, &outcome) {
                (Some(doc), 200..=299, Some(seq_no), Some(primary_term), Outcome::Done { .. }) => {
                    known.push((w.key, Some((Stored { doc, seq_no, primary_term }, plain.then_some(m)))));
                }
                _ => known.push((w.key, None)),
            }
            out.push(outcome);
        }
        self.known.record(index, known);
        Ok(out)
    }

    /// Creates the index of `m` with its mapping, or adds the model's fields to the mapping
    /// of an index another model of the collection created (once per handle).
    pub(crate) async fn ensure(&self, m: &'static ModelDesc) -> Result<()> {
        self.ensured_index(m).await.map(drop)
    }

    /// [`ensure`](Self::ensure), giving the name of the model's index (made once per handle).
    pub(crate) async fn ensured_index(&self, m: &'static ModelDesc) -> Result<std::sync::Arc<str>> {
        let address = std::ptr::from_ref(m) as usize;
        let ensured = {
            let models = self.ensured_models.lock().unwrap_or_else(|p| p.into_inner());
            models.iter().find(|(a, _)| *a == address).map(|(_, index)| index.clone())
        };
        if let Some(index) = ensured {
            return Ok(index);
        }
        let index = self.index(m);
        let name: std::sync::Arc<str> = index.as_str().into();
        if self.ensured.lock().unwrap_or_else(|p| p.into_inner()).contains(&(index.clone(), m.name)) {
            self.ensured_models.lock().unwrap_or_else(|p| p.into_inner()).push((address, name.clone()));
            return Ok(name);
        }
        let reply = self.client.json(Method::PUT, &format!("/{index}"), &crate::mapping::index_body(m)).await?;
        if !reply.status.is_success() {
            let exists = matches!(
                reply.error_type().as_deref(),
                Some("resource_already_exists_exception" | "index_already_exists_exception")
            );
            if !exists {
                return Err(reply.fail(&format!("creating index {index}")).with_model(m.name));
            }
            let path = format!("/{index}/_mapping");
            let reply = self.client.json(Method::PUT, &path, &crate::mapping::mappings(m)).await?;
            if !reply.status.is_success() {
                return Err(reply
                    .fail(&format!("adding the fields of {} to index {index}", m.name))
                    .with_model(m.name));
            }
        }
        if m.indexes.iter().any(|i| i.unique) {
            let claims = self.claims_index(m);
            let body = json!({ "mappings": { "dynamic": false, "properties": { "id": { "type": "keyword" } } } });
            let reply = self.client.json(Method::PUT, &format!("/{claims}"), &body).await?;
            if !reply.status.is_success()
                && !matches!(
                    reply.error_type().as_deref(),
                    Some("resource_already_exists_exception" | "index_already_exists_exception")
                )
            {
                return Err(reply.fail(&format!("creating index {claims}")).with_model(m.name));
            }
        }
        self.ensured.lock().unwrap_or_else(|p| p.into_inner()).insert((index, m.name));
        self.ensured_models.lock().unwrap_or_else(|p| p.into_inner()).push((address, name.clone()));
        Ok(name)
    }

    /// Reads one document of any index by id (the unique claims), with its version.
    pub(crate) async fn mget_raw(&self, index: &str, ids: &[String]) -> Result<Vec<Option<(Json, i64, i64)>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let reply = self.client.json(Method::POST, &format!("/{index}/_mget"), &json!({ "ids": ids })).await?;
        if missing_index(&reply) {
            return Ok(vec![None; ids.len()]);
        }
        if !reply.status.is_success() {
            return Err(reply.fail("_mget"));
        }
        let parsed: MgetReply<Json> = reply.json()?;
        parsed
            .docs
            .into_iter()
            .map(|d| {
                Ok(match (d.found, d._source) {
                    (true, Some(src)) => Some((src, d._seq_no, d._primary_term)),
                    _ => None,
                })
            })
            .collect()
    }

    /// Writes documents of any index (the unique claims) in one `_bulk`, without refresh
    /// (they are only read by id, which is real-time).
    pub(crate) async fn bulk_raw(&self, index: &str, ops: &[(String, Option<Json>, Cond)]) -> Result<Vec<Outcome>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = String::new();
        for (id, doc, cond) in ops {
            let action = if doc.is_some() { "index" } else { "delete" };
            let _ = write!(body, "{{\"{action}\":{{\"_index\":{},\"_id\":{}", json!(index), json!(id));
            match cond {
                Cond::Create if doc.is_some() => body.push_str(",\"op_type\":\"create\""),
                Cond::Version(s, p) => {
                    let _ = write!(body, ",\"if_seq_no\":{s},\"if_primary_term\":{p}");
                }
                _ => {}
            }
            body.push_str("}}\n");
            if let Some(doc) = doc {
                body.push_str(&doc.to_string());
                body.push('\n');
            }
        }
        let reply = self.client.bulk("/_bulk", body).await?;
        if !reply.status.is_success() {
            return Err(reply.fail("_bulk"));
        }
        Ok(read_bulk(&reply, ops.len())?
            .into_iter()
            .map(|item| match item {
                Some(BulkItem { status: 409, .. }) => Outcome::Conflict,
                Some(BulkItem { status, error: None, result, .. }) if status < 300 || status == 404 => {
                    Outcome::Done { existed: result.as_deref() != Some("created") && status != 404 }
                }
                Some(BulkItem { status, error, .. }) => Outcome::Failed(item_error(status, error)),
                None => Outcome::Failed(storage("_bulk answered an empty item")),
            })
            .collect())
    }
}

/// A `_search` body as JSON text: its `query` and `sort`, which every page repeats, written
/// once; each page's body adds its size and where it starts.
pub(crate) struct SearchBody {
    /// `{"query":…,"sort":…`, without the closing brace.
    head: String,
    /// Whether the order starts with relevance (`_score`).
    by_score: bool,
    /// The `search_after` values (a JSON array's text): where the pages start.
    pub after: Option<String>,
}

impl SearchBody {
    /// The body of `query` and `sort` (a JSON array's text, as [`translate::sort`] writes it).
    ///
    /// [`translate::sort`]: crate::translate::sort
    pub fn new(query: &Native, sort: &str) -> SearchBody {
        let mut head = String::with_capacity(96 + sort.len());
        head.push_str("{\"query\":");
        query.write_query(&mut head);
        head.push_str(",\"sort\":");
        head.push_str(sort);
        SearchBody { head, by_score: sort.starts_with("[{\"_score\""), after: None }
    }

    /// The body of one page: `size` hits from position `from` (left out when 0), after
    /// [`after`](Self::after) when set.
    pub fn page(&self, from: usize, size: usize) -> Vec<u8> {
        let after = self.after.as_deref().map_or(0, str::len);
        let mut out = String::with_capacity(self.head.len() + after + 96);
        out.push_str(&self.head);
        out.push_str(",\"seq_no_primary_term\":true,\"track_total_hits\":false,\"size\":");
        nonrel_runtime::json::write_json_int(i64::try_from(size).unwrap_or(i64::MAX), &mut out);
        if from > 0 {
            out.push_str(",\"from\":");
            nonrel_runtime::json::write_json_int(i64::try_from(from).unwrap_or(i64::MAX), &mut out);
        }
        if let Some(after) = &self.after {
            out.push_str(",\"search_after\":");
            out.push_str(after);
        }
        out.push('}');
        out.into_bytes()
    }
}

/// The items of a `_bulk` answer, each the write of its action: read in one pass by
/// [`scan::bulk_items`](crate::scan::bulk_items), or by serde when the answer is not of the
/// shape that reader takes (an item with an error, among others).
fn read_bulk(reply: &Reply, expected: usize) -> Result<Vec<Option<BulkItem<'_>>>> {
    if let Some(items) = crate::scan::bulk_items(&reply.body, expected) {
        return Ok(items
            .into_iter()
            .map(|i| {
                i.map(|i| BulkItem {
                    status: i.status,
                    result: i.result.map(std::borrow::Cow::Borrowed),
                    _seq_no: i.seq_no,
                    _primary_term: i.primary_term,
                    error: None,
                })
            })
            .collect());
    }
    let parsed: BulkReply = reply.json()?;
    Ok(parsed.items.into_iter().map(BulkEntry::into_item).collect())
}

/// Appends the hits of a `_search` answer to `out`, and gives the text of the last one's sort
/// values (where the next page starts): read in one pass by [`scan::search_hits`], or by
/// serde when the answer is not of the shape that reader takes.
fn read_page(m: &'static ModelDesc, reply: &Reply, out: &mut Vec<Hit>) -> Result<Option<String>> {
    if let Some(hits) = crate::scan::search_hits(&reply.body) {
        let last = hits.last().and_then(|h| h.sort).map(str::to_owned);
        out.reserve(hits.len());
        for h in hits {
            let key = parse_id(m, h.id)?;
            let doc = h.source.unwrap_or_else(empty_doc);
            out.push(Hit { key, stored: Stored { doc, seq_no: h.seq_no, primary_term: h.primary_term } });
        }
        return Ok(last);
    }
    let parsed: SearchReply = reply.json()?;
    let last = parsed.hits.hits.last().and_then(|h| h.sort).map(|raw| raw.get().to_owned());
    out.reserve(parsed.hits.hits.len());
    for h in parsed.hits.hits {
        let key = parse_id(m, &h._id)?;
        let doc = match h._source {
            Some(src) => src.0.map_err(|p| p.into_error().with_model(m.name).with_key(&key))?,
            None => empty_doc(),
        };
        out.push(Hit { key, stored: Stored { doc, seq_no: h._seq_no, primary_term: h._primary_term } });
    }
    Ok(last)
}

/// An empty document (a hit whose `_source` was filtered to nothing).
fn empty_doc() -> Vec<u8> {
    vec![5, 0, 0, 0, 0]
}

/// The error of one refused item of a `_bulk`.
fn item_error(status: u16, error: Option<Json>) -> Error {
    let kind = match status {
        413 => ErrorKind::TooLarge,
        _ => ErrorKind::Storage,
    };
    let reason = error
        .as_ref()
        .and_then(|e| e.get("reason").or_else(|| e.get("type")))
        .and_then(Json::as_str)
        .map_or_else(|| format!("status {status}"), str::to_string);
    Error::new(kind, format!("the server refused the write: {reason}"))
}

/// `sort_key` re-exported for the query module.
pub(crate) fn key_sort_value(key: &KeyValue) -> Json {
    json!(sort_key(key))
}

/// Percent-encoded id, for single-document paths.
#[allow(dead_code)]
pub(crate) fn id_segment(key: &KeyValue) -> String {
    segment(&key.to_url_safe())
}

/// The version and document of records this handle read or wrote last, so a save over a
/// record it knows writes at once, conditionally on that version (`if_seq_no`), instead of
/// reading it first: a write another client made meanwhile fails the condition, and the
/// save reads the record then, so nothing another writer stored is lost. Bounded: emptied
/// when it holds [`Known::CAPACITY`] records.
#[derive(Default)]
pub(crate) struct Known {
    records: std::sync::Mutex<KnownRecords>,
}

/// Per index, the records by key, and how many there are in all.
#[derive(Default)]
struct KnownRecords {
    by_index: ByIndex,
    /// The number of records of every index (kept as they come and go, not counted).
    len: usize,
}

/// The records of each index, by key, by the index's name.
type ByIndex = std::collections::HashMap<
    String,
    std::collections::HashMap<KeyValue, KnownRecord>,
    std::hash::BuildHasherDefault<NameHasher>,
>;

/// A fast hash of index names, eight bytes at a time (FxHash's step). Index names are this
/// handle's own (its prefix and its models' collections), not data a client chooses, so a
/// hash without a random key is safe here; record keys keep the standard one.
#[derive(Default)]
struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A record as written, and the model whose save over it keeps nothing of it, if any.
pub(crate) type Written = (Stored, Option<&'static ModelDesc>);

/// A record as this handle last read or wrote it.
struct KnownRecord {
    stored: Stored,
    /// The model this handle wrote the document for, when a save of that model over it keeps
    /// nothing of it ([`write_fields_json_of`](nonrel_runtime::json::write_fields_json_of)):
    /// the document is that model's fields and nothing else, so there are no unknown fields
    /// to keep. `None` for a record read (another client may have written fields this
    /// program does not know) and for a document with fields its model does not name.
    keeps_nothing_for: Option<&'static ModelDesc>,
}

impl Known {
    /// The most records remembered.
    const CAPACITY: usize = 10_000;

    fn lock(&self) -> std::sync::MutexGuard<'_, KnownRecords> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers a record as read.
    pub fn remember(&self, index: &str, key: &KeyValue, stored: Stored) {
        let stored = KnownRecord { stored, keeps_nothing_for: None };
        let mut records = self.lock();
        if records.len >= Self::CAPACITY {
            records.by_index.clear();
            records.len = 0;
        }
        let KnownRecords { by_index, len } = &mut *records;
        let of_index = match by_index.get_mut(index) {
            Some(r) => r,
            None => by_index.entry(index.to_owned()).or_default(),
        };
        match of_index.get_mut(key) {
            Some(known) => *known = stored,
            None => {
                of_index.insert(key.clone(), stored);
                *len += 1;
            }
        }
    }

    /// Forgets a record (deleted, absent, or changed by a write that failed).
    pub fn forget(&self, index: &str, key: &KeyValue) {
        let mut records = self.lock();
        let KnownRecords { by_index, len } = &mut *records;
        if by_index.get_mut(index).and_then(|r| r.remove(key)).is_some() {
            *len -= 1;
        }
    }

    /// Remembers records as written (`Some`, with the model whose save over the document
    /// keeps nothing of it, if any) and forgets others (`None`), in order, as
    /// [`remember`](Self::remember) and [`forget`](Self::forget) one by one would (under
    /// one lock, the index looked up once).
    pub fn record(&self, index: &str, changes: Vec<(KeyValue, Option<Written>)>) {
        if changes.is_empty() {
            return;
        }
        let mut records = self.lock();
        let KnownRecords { by_index, len } = &mut *records;
        let mut of_index = by_index.get_mut(index);
        for (key, stored) in changes {
            match stored {
                Some((stored, keeps_nothing_for)) => {
                    let stored = KnownRecord { stored, keeps_nothing_for };
                    if *len >= Self::CAPACITY {
                        of_index = None;
                        by_index.clear();
                        *len = 0;
                    }
                    let map = match of_index {
                        Some(map) => map,
                        None => by_index.entry(index.to_owned()).or_default(),
                    };
                    match map.get_mut(&key) {
                        Some(known) => *known = stored,
                        None => {
                            map.insert(key, stored);
                            *len += 1;
                        }
                    }
                    of_index = Some(map);
                }
                None => {
                    if let Some(map) = &mut of_index {
                        if map.remove(&key).is_some() {
                            *len -= 1;
                        }
                    }
                }
            }
        }
    }

    /// The records as last known, when every one is, for a save of `m` over them: a
    /// document this handle wrote for `m` with only fields `m` names is
    /// [`plain`](Prior::plain), and copied only when `with_doc` (the save releases unique
    /// values it held); any other is copied.
    pub fn recall(
        &self,
        index: &str,
        keys: &[KeyValue],
        m: &'static ModelDesc,
        with_doc: bool,
    ) -> Option<Vec<Option<Prior>>> {
        let records = self.lock();
        let of_index = records.by_index.get(index)?;
        keys.iter()
            .map(|k| {
                let known = of_index.get(k)?;
                let plain = known.keeps_nothing_for.is_some_and(|w| std::ptr::eq(w, m));
                Some(Some(Prior {
                    seq_no: known.stored.seq_no,
                    primary_term: known.stored.primary_term,
                    doc: (with_doc || !plain).then(|| known.stored.doc.clone()),
                    plain,
                }))
            })
            .collect()
    }

    /// How many records are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len
    }
}

#[cfg(test)]
mod known_tests {
    use super::{Known, Stored, Written};
    use nonrel_runtime::{KeyValue, ModelDesc};

    /// A model of the tests named `name`, of collection `m`.
    const fn model(name: &'static str) -> ModelDesc {
        ModelDesc {
            name,
            collection: "m",
            key: nonrel_runtime::KeyDesc { field: "id", kind: nonrel_runtime::KeyKind::Int },
            fields: &[],
            indexes: &[],
            compound_indexes: &[],
            counters: &[],
            has_extra: false,
        }
    }

    /// A model of the tests (`N`, a second one sharing its index).
    static M: ModelDesc = model("M");
    static N: ModelDesc = model("N");

    fn stored(n: i64) -> Stored {
        Stored { doc: vec![5, 0, 0, 0, 0], seq_no: n, primary_term: 1 }
    }

    /// The running count is the number of records held, through random sequences of
    /// remembers and forgets over a few indexes and keys (against a map as the oracle).
    #[test]
    fn the_count_follows_the_records() {
        let mut rng = nonrel_runtime::conformance::Rng::new(0x9e37_79b9_7f4a_7c15_u64);
        let mut next = move |n: u64| rng.below_u64(n);
        for _ in 0..200 {
            let known = Known::default();
            let mut model = std::collections::BTreeMap::new();
            for _ in 0..next(300) {
                let index = format!("i{}", next(3));
                let key = next(40) as i64;
                let k = KeyValue::Int(key);
                if next(3) > 0 {
                    let n = next(1000) as i64;
                    known.remember(&index, &k, stored(n));
                    model.insert((index, key), n);
                } else {
                    known.forget(&index, &k);
                    model.remove(&(index, key));
                }
                assert_eq!(known.len(), model.len());
                let held: usize = known.lock().by_index.values().map(|r| r.len()).sum();
                assert_eq!(held, model.len());
            }
            for ((index, key), n) in &model {
                let got = known.recall(index, &[KeyValue::Int(*key)], &M, false).expect("known");
                assert_eq!(got[0].as_ref().map(|s| s.seq_no), Some(*n));
            }
        }
    }

    /// Recording a batch leaves what remembering and forgetting its records one by one
    /// leaves, through random batches over a few indexes and keys, across emptyings.
    #[test]
    fn a_batch_records_what_one_by_one_does() {
        let mut rng = nonrel_runtime::conformance::Rng::new(0x2545_f491_4f6c_dd1d_u64);
        let mut next = move |n: u64| rng.below_u64(n);
        let (batched, single) = (Known::default(), Known::default());
        for round in 0..800 {
            let index = format!("i{}", next(3));
            let changes: Vec<(KeyValue, Option<Written>)> = (0..next(200))
                .map(|_| {
                    let key = KeyValue::Int(next(8_000) as i64);
                    (key, (next(4) > 0).then(|| (stored(next(1_000) as i64), (next(2) == 0).then_some(&M))))
                })
                .collect();
            for (key, s) in &changes {
                match s {
                    Some((s, _)) => single.remember(&index, key, s.clone()),
                    None => single.forget(&index, key),
                }
            }
            batched.record(&index, changes);
            assert_eq!(batched.len(), single.len(), "round {round}");
            if round % 20 != 0 {
                continue;
            }
            let state = |k: &Known| {
                let records = k.lock();
                let mut all: Vec<(String, KeyValue, i64)> = records
                    .by_index
                    .iter()
                    .flat_map(|(i, r)| r.iter().map(move |(k, s)| (i.clone(), k.clone(), s.stored.seq_no)))
                    .collect();
                all.sort();
                all
            };
            assert_eq!(state(&batched), state(&single), "round {round}");
        }
    }

    /// A record is plain for a save only when this handle wrote it for the same model and
    /// its document kept nothing: not one read (another client may have written fields this
    /// program does not know), nor one written for another model of the index, nor one
    /// with fields its model does not name; then its document is copied only when asked.
    #[test]
    fn only_a_record_written_for_the_same_model_is_plain() {
        let known = Known::default();
        let doc = |n: i64| Stored { doc: vec![5, 0, 0, 0, 0, n as u8], seq_no: n, primary_term: 1 };
        known.remember("i", &KeyValue::Int(1), doc(1));
        known.record(
            "i",
            vec![
                (KeyValue::Int(2), Some((doc(2), Some(&M)))),
                (KeyValue::Int(3), Some((doc(3), Some(&N)))),
                (KeyValue::Int(4), Some((doc(4), None))),
            ],
        );
        let keys: Vec<KeyValue> = (1..=4).map(KeyValue::Int).collect();
        for with_doc in [false, true] {
            let got = known.recall("i", &keys, &M, with_doc).expect("all known");
            let got: Vec<_> = got.into_iter().map(|p| p.expect("found")).collect();
            assert_eq!(got.iter().map(|p| p.plain).collect::<Vec<_>>(), [false, true, false, false]);
            assert_eq!(got.iter().map(|p| p.seq_no).collect::<Vec<_>>(), [1, 2, 3, 4]);
            for (n, p) in (1..=4).zip(&got) {
                let copied = p.doc.clone();
                if p.plain && !with_doc {
                    assert_eq!(copied, None);
                } else {
                    assert_eq!(copied, Some(doc(n).doc));
                }
            }
        }
        // Read again (by another path): no longer plain.
        known.remember("i", &KeyValue::Int(2), doc(5));
        let got = known.recall("i", &keys[1..2], &M, false).expect("known");
        assert!(got[0].as_ref().is_some_and(|p| !p.plain && p.doc.is_some()));
        // Written again for `N`: plain for `N` only.
        known.record("i", vec![(KeyValue::Int(2), Some((doc(6), Some(&N))))]);
        assert!(known.recall("i", &keys[1..2], &N, false).expect("known")[0].as_ref().is_some_and(|p| p.plain));
        assert!(!known.recall("i", &keys[1..2], &M, false).expect("known")[0].as_ref().is_some_and(|p| p.plain));
    }

    #[test]
    fn a_full_cache_is_emptied() {
        let known = Known::default();
        for n in 0..Known::CAPACITY as i64 {
            known.remember("i", &KeyValue::Int(n), stored(n));
        }
        assert_eq!(known.len(), Known::CAPACITY);
        known.remember("j", &KeyValue::Int(0), stored(0));
        assert_eq!(known.len(), 1);
        assert!(known.recall("i", &[KeyValue::Int(1)], &M, false).is_none());
        known.remember("j", &KeyValue::Int(0), stored(1));
        assert_eq!(known.len(), 1);
    }
}

#[cfg(test)]
mod scan_tests {
    use super::SearchReply;
    use crate::scan::search_hits;

    /// A seeded generator (the conformance kit's): a number below `n`.
    fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut rng = nonrel_runtime::conformance::Rng::new(seed);
        move |n: u64| rng.below_u64(n)
    }

    const NAMES: [&str; 10] = ["a", "b", "_key", "$date", "$numberInt", "é", "x\\u00e9", "$other", "n", "tags"];
    const LEAVES: [&str; 30] = [
        "1",
        "0",
        "-0",
        "-0.0",
        "-2.25e-300",
        "-7",
        "0.25",
        "1e3",
        "1E+3",
        "2.5e-3",
        "true",
        "false",
        "null",
        "\"s\"",
        "\"\"",
        "\"t\\n\\u0041\"",
        "\"héllo wörld\"",
        "\"2023-11-14T22:13:20.123Z\"",
        "-1000",
        "999999999999999999",
        "-999999999999999999",
        "9223372036854775807",
        "18446744073709551615",
        "18446744073709551616",
        "1e400",
        "-1e-400",
        "0.1",
        "123456789.123456789e-5",
        "01",
        "1.",
    ];

    fn ws(next: &mut dyn FnMut(u64) -> u64, out: &mut String) {
        if next(6) == 0 {
            out.push_str([" ", "\n", "\t ", "\r\n  "][next(4) as usize]);
        }
    }

    fn leaf(next: &mut dyn FnMut(u64) -> u64, out: &mut String) {
        match next(7) {
            // Short decimals, most read without the parser: digits, a fraction, an exponent.
            5 | 6 => {
                let sign = ["", "-"][next(2) as usize];
                let int_digits = next(12) as u32 + 1;
                let int = next(10u64.pow(int_digits));
                let frac = match next(3) {
                    0 => String::new(),
                    _ => {
                        let (digits, width) = (next(9) as u32 + 1, next(8) as usize);
                        format!(".{:0width$}", next(10u64.pow(digits)))
                    }
                };
                let exp = match next(3) {
                    0 => String::new(),
                    _ => format!("{}{}", ["e", "E", "e+", "e-", "E-"][next(5) as usize], next(40)),
                };
                out.push_str(&format!("{sign}{int}{frac}{exp}"));
            }
            // A double written by Rust, or random digits: read to the same bits by both.
            0 => {
                let f = f64::from_bits(next(u64::MAX));
                if f.is_finite() {
                    out.push_str(&if next(2) == 0 { format!("{f:e}") } else { format!("{f:?}") });
                } else {
                    out.push_str("2.5");
                }
            }
            1 => {
                let digits: String = (0..1 + next(25)).map(|_| char::from(b'0' + next(10) as u8)).collect();
                let digits = digits.trim_start_matches('0');
                let digits = if digits.is_empty() { "0" } else { digits };
                out.push_str(&format!("{digits}.{}e{}", next(1000), next(700) as i64 - 350));
            }
            _ => out.push_str(LEAVES[next(LEAVES.len() as u64) as usize]),
        }
    }

    fn value(next: &mut dyn FnMut(u64) -> u64, depth: u32, out: &mut String) {
        ws(next, out);
        match if depth > 3 { 0 } else { next(4) } {
            0 => leaf(next, out),
            1 => {
                out.push('[');
                for i in 0..next(3) {
                    if i > 0 {
                        out.push(',');
                    }
                    value(next, depth + 1, out);
                }
                out.push(']');
            }
            _ => object(next, depth + 1, out),
        }
        ws(next, out);
    }

    fn object(next: &mut dyn FnMut(u64) -> u64, depth: u32, out: &mut String) {
        out.push('{');
        for i in 0..next(5) {
            if i > 0 {
                out.push(',');
            }
            ws(next, out);
            out.push_str(&format!("\"{}\"", NAMES[next(NAMES.len() as u64) as usize]));
            ws(next, out);
            out.push(':');
            value(next, depth, out);
        }
        out.push('}');
    }

    fn hit(next: &mut dyn FnMut(u64) -> u64, out: &mut String) {
        let mut members = vec![
            format!("\"_index\":\"idx\",\"_score\":{}", ["null", "1.5", "0"][next(3) as usize]),
            format!("\"_id\":\"{}\"", ["65f0c1d2e3f4a5b6c7d8e9f0", "a b", "x\\\"y", "é"][next(4) as usize]),
        ];
        if next(8) > 0 {
            members.push(format!("\"_seq_no\":{}", ["12", "0", "null", "1.5", "-3"][next(5) as usize]));
            members.push(format!("\"_primary_term\":{}", ["1", "2"][next(2) as usize]));
        }
        if next(8) > 0 {
            let mut src = String::new();
            object(next, 0, &mut src);
            if next(2) == 0 {
                let key = if src == "{}" { "{\"_key\":\"0a\"" } else { "{\"_key\":\"0a\"," };
                src = src.replacen('{', key, 1);
            }
            members.push(format!("\"_source\":{src}"));
        }
        match next(6) {
            0 => {}
            1 => members.push("\"sort\":null".into()),
            _ => members.push(format!("\"sort\":[{},\"0a\"]", next(100))),
        }
        if next(20) == 0 {
            members.push("\"_id\":\"twice\"".into());
        }
        for i in (1..members.len()).rev() {
            members.swap(i, next(i as u64 + 1) as usize);
        }
        out.push('{');
        out.push_str(&members.join(","));
        out.push('}');
    }

    fn reply(next: &mut dyn FnMut(u64) -> u64) -> String {
        let mut hits = String::new();
        for i in 0..next(5) {
            if i > 0 {
                hits.push(',');
                ws(next, &mut hits);
            }
            hit(next, &mut hits);
        }
        let total =
            ["", "\"total\":null,", "\"total\":{\"value\":5,\"relation\":\"eq\"},", "\"total\":{\"relation\":\"eq\"},"]
                [next(4) as usize];
        format!(
            "{{\"took\":3,\"timed_out\":false,\"_shards\":{{\"total\":1,\"failed\":0}},\"hits\":{{{total}\"max_score\":null,\"hits\":[{hits}]}}}}"
        )
    }

    /// Where the one-pass reader reads an answer, it reads what serde reads: the same ids,
    /// versions, sort values and documents; on random answers (wrappers, `$` names, escapes,
    /// `_key`, numbers of every form, names twice, whitespace, `null`s).
    #[test]
    fn the_one_pass_reader_reads_what_serde_reads() {
        let mut next = rng(0x2545_f491_4f6c_dd1d);
        let (mut scanned, mut left) = (0, 0);
        for _ in 0..20_000 {
            let text = reply(&mut next);
            let Some(fast) = search_hits(text.as_bytes()) else {
                left += 1;
                continue;
            };
            scanned += 1;
            let slow: SearchReply = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(fast.len(), slow.hits.hits.len(), "{text}");
            for (f, s) in fast.into_iter().zip(slow.hits.hits) {
                assert_eq!(f.id, s._id, "{text}");
                assert_eq!((f.seq_no, f.primary_term), (s._seq_no, s._primary_term), "{text}");
                assert_eq!(f.sort, s.sort.map(|r| r.get()), "{text}");
                let slow_doc = s._source.map(|src| src.0.unwrap_or_else(|p| panic!("{text}: {p:?}")));
                assert_eq!(f.source, slow_doc, "{text}");
            }
        }
        assert!(scanned > 3_000 && left > 3_000, "{scanned} read in one pass, {left} left to serde");
    }

    /// Strings of every length with quotes, backslashes, control and non-ASCII characters at
    /// every offset (the reader looks at eight bytes at a time): read as serde reads them, or
    /// left to it; a string of plain characters is always read.
    #[test]
    fn strings_read_as_serde_reads_them() {
        const PIECES: [&str; 10] = ["a", " ", "\"", "\\", "\u{1}", "\u{1f}", "\u{7f}", "é", "😀", "\\n"];
        let mut next = rng(0x1234_5678_9abc_def1);
        let mut read = 0;
        for _ in 0..50_000 {
            let len = next(40);
            let plain = next(2) == 0;
            let s: String = (0..len)
                .map(|_| {
                    let i = next(PIECES.len() as u64) as usize;
                    if plain && ((1..=6).contains(&i) || i == 9) {
                        "b"
                    } else {
                        PIECES[i]
                    }
                })
                .collect();
            let body = format!("{{\"hits\":{{\"hits\":[{{\"_id\":\"{s}\",\"_source\":{{\"{s}\":\"{s}\"}}}}]}}}}");
            let fast = search_hits(body.as_bytes());
            if plain {
                assert!(fast.is_some(), "{body}");
            }
            let Some(fast) = fast else { continue };
            let slow: SearchReply = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
            let slow = slow.hits.hits.into_iter().next().expect("a hit");
            assert_eq!(fast[0].id, slow._id);
            assert_eq!(fast[0].source, slow._source.map(|s| s.0.expect("a document")), "{body}");
            read += 1;
        }
        assert!(read > 25_000, "{read} read in one pass");
    }

    /// A page's body is the JSON the search sent as a value before: the query and sort, the
    /// versions asked for, no total, the size, `from` when not 0, `search_after` when set.
    #[test]
    fn page_bodies_are_the_former_values() {
        use serde_json::json;
        let native = crate::translate::Native {
            must: vec![json!({ "term": { "group": 3 } })],
            must_not: vec![json!({ "exists": { "field": "a\"b" } })],
            ..Default::default()
        };
        let sort = r#"[{"_score":{"order":"desc"}},{"_key":{"order":"asc"}}]"#;
        for (from, size, after) in [(0, 10, None), (5, 1, None), (0, 1000, Some("[1,\"0a\"]")), (20, 3, Some("[]"))] {
            let mut body = super::SearchBody::new(&native, sort);
            assert!(body.by_score);
            body.after = after.map(str::to_owned);
            let text = String::from_utf8(body.page(from, size)).expect("UTF-8");
            let mut want = json!({
                "query": native.query(),
                "sort": serde_json::from_str::<serde_json::Value>(sort).expect("JSON"),
                "seq_no_primary_term": true,
                "track_total_hits": false,
                "size": size,
            });
            if from > 0 {
                want["from"] = json!(from);
            }
            if let Some(a) = after {
                want["search_after"] = serde_json::from_str(a).expect("JSON");
            }
            assert_eq!(serde_json::from_str::<serde_json::Value>(&text).expect("JSON"), want, "{text}");
        }
        assert!(!super::SearchBody::new(&native, r#"[{"_key":{"order":"asc"}}]"#).by_score);
    }

    /// Where the one-pass reader reads a `_bulk` answer, it reads what serde reads, on random
    /// answers: every action, members in any order, `null`s, errors, statuses out of range,
    /// escapes, names twice, items naming no action.
    #[test]
    fn bulk_answers_read_as_serde_reads_them() {
        use super::{BulkEntry, BulkReply};
        let mut next = rng(0x0bad_5eed_1234_5678);
        let (mut scanned, mut left) = (0, 0);
        for _ in 0..20_000 {
            let mut items = Vec::new();
            for _ in 0..next(5) {
                let mut members = vec![
                    format!("\"_index\":\"i\",\"_id\":\"{}\",\"_version\":3", ["a", "b\\\"c"][next(2) as usize]),
                    format!("\"status\":{}", ["200", "201", "404", "409", "70000", "-1", "2e2"][next(7) as usize]),
                    "\"_shards\":{\"total\":2,\"successful\":1,\"failed\":0}".to_owned(),
                ];
                let optional = [
                    ["\"result\":\"created\"", "\"result\":\"updated\"", "\"result\":null", "\"result\":\"x\\ny\""],
                    ["\"_seq_no\":12", "\"_seq_no\":null", "\"_seq_no\":1.5", "\"_seq_no\":99999999999999999999"],
                    ["\"_primary_term\":1", "\"_primary_term\":null", "\"_primary_term\":-4", "\"_primary_term\":0"],
                    [
                        "\"error\":null",
                        "\"error\":{\"type\":\"version_conflict_engine_exception\"}",
                        "\"error\":null",
                        "\"error\":null",
                    ],
                ];
                for choices in optional {
                    if next(3) > 0 {
                        members.push(choices[next(4) as usize].to_owned());
                    }
                }
                if next(20) == 0 {
                    members.push("\"status\":200".into());
                }
                if next(10) == 0 {
                    members.retain(|m| !m.starts_with("\"status\""));
                }
                for i in (1..members.len()).rev() {
                    members.swap(i, next(i as u64 + 1) as usize);
                }
                let item = format!("{{{}}}", members.join(","));
                let mut actions = Vec::new();
                for _ in 0..next(3) {
                    let action = ["index", "create", "update", "delete", "other"][next(5) as usize];
                    actions.push(format!("\"{action}\":{item}"));
                }
                if actions.is_empty() && next(2) == 0 {
                    actions.push(format!("\"index\":{item}"));
                }
                items.push(format!("{{{}}}", actions.join(",")));
            }
            let text = format!("{{\"took\":4,\"errors\":false,\"items\":[{}]}}", items.join(","));
            let Some(fast) = crate::scan::bulk_items(text.as_bytes(), 4) else {
                left += 1;
                continue;
            };
            scanned += 1;
            let slow: BulkReply = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let slow: Vec<_> = slow.items.into_iter().map(BulkEntry::into_item).collect();
            assert_eq!(fast.len(), slow.len(), "{text}");
            for (f, s) in fast.into_iter().zip(slow) {
                match (f, s) {
                    (None, None) => {}
                    (Some(f), Some(s)) => {
                        assert!(s.error.is_none(), "{text}");
                        assert_eq!(
                            (f.status, f.result, f.seq_no, f.primary_term),
                            (s.status, s.result.as_deref(), s._seq_no, s._primary_term),
                            "{text}"
                        );
                    }
                    (f, s) => panic!("{text}: {f:?} against {:?}", s.map(|s| s.status)),
                }
            }
        }
        assert!(scanned > 3_000 && left > 3_000, "{scanned} read in one pass, {left} left to serde");
    }

    /// Where the one-pass reader reads an `_mget` answer, it reads what serde reads, on
    /// random answers: found or not, sources of every shape, versions, errors, `null`s.
    #[test]
    fn mget_answers_read_as_serde_reads_them() {
        use super::MgetReply;
        use crate::convert::Source;
        let mut next = rng(0x5eed_0f6e_7000_0001_u64);
        let (mut scanned, mut left) = (0, 0);
        for _ in 0..20_000 {
            let mut docs = Vec::new();
            for _ in 0..next(4) {
                let mut members = vec!["\"_index\":\"i\",\"_id\":\"k\"".to_owned()];
                let optional = [
                    ["\"found\":true", "\"found\":false", "\"found\":null", "\"found\":true"],
                    ["\"_seq_no\":12", "\"_seq_no\":null", "\"_seq_no\":1.5", "\"_seq_no\":0"],
                    ["\"_primary_term\":1", "\"_primary_term\":-4", "\"_primary_term\":2", "\"_primary_term\":3"],
                    [
                        "\"error\":{\"type\":\"index_not_found_exception\"}",
                        "\"_version\":2",
                        "\"x\":[1]",
                        "\"_version\":1",
                    ],
                ];
                for choices in optional {
                    if next(3) > 0 {
                        members.push(choices[next(4) as usize].to_owned());
                    }
                }
                if next(4) > 0 {
                    let mut src = String::new();
                    object(&mut next, 0, &mut src);
                    if next(2) == 0 {
                        let key = if src == "{}" { "{\"_key\":\"0a\"" } else { "{\"_key\":\"0a\"," };
                        src = src.replacen('{', key, 1);
                    }
                    members.push(format!("\"_source\":{src}"));
                }
                for i in (1..members.len()).rev() {
                    members.swap(i, next(i as u64 + 1) as usize);
                }
                docs.push(format!("{{{}}}", members.join(",")));
            }
            let text = format!("{{\"docs\":[{}]}}", docs.join(","));
            let Some(fast) = crate::scan::mget_docs(text.as_bytes()) else {
                left += 1;
                continue;
            };
            scanned += 1;
            let slow: MgetReply<Source> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(fast.len(), slow.docs.len(), "{text}");
            for (f, s) in fast.into_iter().zip(slow.docs) {
                assert!(s.error.is_none(), "{text}");
                assert_eq!((f.found, f.seq_no, f.primary_term), (s.found, s._seq_no, s._primary_term), "{text}");
                let slow_doc = s._source.map(|src| src.0.unwrap_or_else(|p| panic!("{text}: {p:?}")));
                assert_eq!(f.source, slow_doc, "{text}");
            }
        }
        assert!(scanned > 2_000 && left > 2_000, "{scanned} read in one pass, {left} left to serde");
    }

    /// Doubles read in one pass are serde's to the bit.
    #[test]
    fn doubles_read_as_serde_reads_them() {
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        let mut read = 0;
        for _ in 0..50_000 {
            let mut text = String::new();
            leaf(&mut next, &mut text);
            let body = format!("{{\"hits\":{{\"hits\":[{{\"_id\":\"k\",\"_source\":{{\"v\":{text}}}}}]}}}}");
            let Some(fast) = search_hits(body.as_bytes()) else { continue };
            let slow: SearchReply = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
            let slow = slow.hits.hits.into_iter().next().and_then(|h| h._source).map(|s| s.0.expect("a value"));
            assert_eq!(fast[0].source, slow, "{text}");
            read += 1;
        }
        assert!(read > 30_000, "{read} read in one pass");
    }
}
