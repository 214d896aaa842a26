//! A nonrel backend on Redis, through the public API of `nonrel-runtime` alone.
//!
//! Records are strings holding their BSON document; each declared index is a sorted set of
//! order-preserving encoded values read by `ZRANGEBYLEX`; every write (records, index entries,
//! unique checks, declared counters) is one Lua script run atomically in the server. See the crate README for the
//! layout, what is native and what emulated, and what durability means here.
#![doc = include_str!("../README.md")]

mod conn;
mod counter;
mod index;
mod scripts;
mod tx;

pub use tx::Session;

use conn::{Conn, Counters};
use index::{entries, lex, Entry, Source};
use nonrel_runtime::backend::{
    Backend, IntegrityProblem, IntegrityReport, PutItem, Row, SwapItem, Swapped, UpdateCounts, UpdateOp, WriteMode,
};
use nonrel_runtime::capability::No;
use nonrel_runtime::query::{eval, Direction, Plan, Seek};
use nonrel_runtime::{CounterDesc, Error, ErrorKind, IndexDesc, KeyKind, KeyValue, ModelDesc, Result, Value};
use redis::Value as Reply;
use scripts::{Script, Scripts};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// The Redis backend. Open it with [`Redis::connect`] (one server) or
/// [`Redis::connect_cluster`], then `Database::new(redis)`; clones share the connection.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    /// Where the server is, for messages.
    url: String,
    /// The first part of every key's hash tag: databases with different prefixes share a
    /// server without seeing each other's records.
    prefix: String,
    /// Every collection under one hash tag (`{<prefix>}`) rather than one each.
    one_slot: bool,
    scripts: Scripts,
    counters: Counters,
    /// The indexes and counters kept for each collection: those of every model stored in it.
    kept: Mutex<HashMap<&'static str, Arc<Kept>>>,
}

/// What every write to a collection keeps beside its records, and its keys' base.
pub(crate) struct Kept {
    /// The hash-tagged base of the collection's keys (see [`Redis::base`]).
    pub(crate) base: String,
    /// The declared indexes of every model stored in the collection, each path once.
    pub(crate) indexes: Vec<&'static IndexDesc>,
    /// The declared counters of every model stored in the collection, each grouping once.
    pub(crate) counters: Vec<&'static CounterDesc>,
}

/// Requests and commands sent since the handle was opened (see [`Redis::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests that waited for the server's answer: one per command, or script.
    pub round_trips: u64,
    /// Commands sent (a script counts as one).
    pub commands: u64,
    /// Members of the key set or of an index that reads returned, each with its record: what
    /// a query read, whatever it kept.
    pub entries_read: u64,
}

/// How long connecting to a server may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long one request may wait for its answer. redis-rs waits 500 ms by default, less than
/// a script over a large batch or a large read may take on a loaded server; a server that
/// stops answering still fails the request after this long.
const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The message for a server that does not answer: how to start one.
fn unreachable(url: &str, e: redis::RedisError) -> Error {
    let msg = format!(
        "cannot reach Redis at {url}: {e}. Start a server (`redis-server --port 6379 --save ''`, or \
         `scripts/servers.sh start`, which writes REDIS_URL to .servers/env) and set REDIS_URL"
    );
    Error::new(ErrorKind::Storage, msg).with_source(e)
}

impl Redis {
    /// Connects to one Redis server (`redis://host:port/db`), checking that it answers.
    pub async fn connect(url: &str) -> Result<Redis> {
        let client = redis::Client::open(url).map_err(|e| unreachable(url, e))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let conn =
            client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| unreachable(url, e))?;
        Redis::open(Conn::Single(conn), url).await
    }

    /// Connects to a Redis cluster through any of its nodes. Every collection lives in one
    /// slot (see the crate docs), so every write stays one atomic script.
    pub async fn connect_cluster(urls: &[&str]) -> Result<Redis> {
        let shown = urls.join(",");
        let client = redis::cluster::ClusterClient::builder(urls.to_vec())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .build()
            .map_err(|e| unreachable(&shown, e))?;
        let conn = client.get_async_connection().await.map_err(|e| unreachable(&shown, e))?;
        Redis::open(Conn::Cluster(conn), &shown).await
    }

    async fn open(conn: Conn, url: &str) -> Result<Redis> {
        let redis = Redis {
            inner: Arc::new(Inner {
                conn,
                url: url.to_owned(),
                prefix: "nr".to_owned(),
                one_slot: false,
                scripts: Scripts::new(),
                counters: Counters::default(),
                kept: Mutex::default(),
            }),
        };
        redis.inner.conn.call(&redis.inner.counters, &redis::cmd("PING")).await.map_err(|e| {
            Error::new(ErrorKind::Storage, format!("Redis at {url} does not answer PING: {e}")).with_source(e)
        })?;
        Ok(redis)
    }

    /// The same server under another key prefix (default `nr`): a separate database whose
    /// keys all start with `{<prefix>:`. The prefix may not hold `{` or `}`.
    pub fn with_prefix(&self, prefix: &str) -> Result<Redis> {
        if prefix.is_empty() || prefix.contains(['{', '}']) {
            let msg = format!("the key prefix {prefix:?} must be non-empty and hold no `{{` or `}}`");
            return Err(Error::new(ErrorKind::InvalidKey, msg));
        }
        Ok(self.derived(prefix.to_owned(), self.inner.one_slot))
    }

    /// The same server and prefix with every collection under one hash tag, `{<prefix>}`:
    /// on a cluster the whole database then lives in one slot (one primary holds it all), and
    /// a transaction may span collections. By default each collection has its own tag, so
    /// collections spread over the shards and a transaction stays within one collection.
    /// A single server behaves the same either way. The two layouts name keys differently:
    /// pick one per database.
    pub fn in_one_slot(&self) -> Redis {
        self.derived(self.inner.prefix.clone(), true)
    }

    fn derived(&self, prefix: String, one_slot: bool) -> Redis {
        Redis {
            inner: Arc::new(Inner {
                conn: self.inner.conn.clone(),
                url: self.inner.url.clone(),
                prefix,
                one_slot,
                scripts: Scripts::new(),
                counters: Counters::default(),
                kept: Mutex::default(),
            }),
        }
    }

    /// Requests and commands this handle has sent: tests count them per operation.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            round_trips: c.round_trips.load(Ordering::Relaxed),
            commands: c.commands.load(Ordering::Relaxed),
            entries_read: c.entries.load(Ordering::Relaxed),
        }
    }

    /// The hash-tagged base of a collection's keys: `{<prefix>:<collection>}`, or
    /// `{<prefix>}:<collection>` in one slot.
    fn base(&self, m: &'static ModelDesc) -> String {
        self.kept(m).base.clone()
    }

    /// [`base`](Self::base), written out (once per collection: [`kept`](Self::kept) keeps it).
    fn base_of(&self, m: &ModelDesc) -> String {
        if self.inner.one_slot {
            format!("{{{}}}:{}", self.inner.prefix, m.collection)
        } else {
            format!("{{{}:{}}}", self.inner.prefix, m.collection)
        }
    }

    /// The indexes and counters kept for a model's collection: the union of those declared by
    /// the models stored in it (a polymorphic base and its subclasses), each once.
    fn kept(&self, m: &'static ModelDesc) -> Arc<Kept> {
        let mut cache = self.inner.kept.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(m.collection)
            .or_insert_with(|| {
                let mut all: Vec<&'static IndexDesc> = m.indexes.iter().collect();
                for other in nonrel_runtime::registered_models().filter(|o| o.collection == m.collection) {
                    for index in other.indexes {
                        if !all.iter().any(|i| i.path == index.path) {
                            all.push(index);
                        }
                    }
                }
                Arc::new(Kept { base: self.base_of(m), indexes: all, counters: counter::collection_counters(m) })
            })
            .clone()
    }

    async fn eval(&self, script: &Script, cmd: &redis::Cmd) -> Result<Reply> {
        self.inner.conn.eval(&self.inner.counters, script, cmd).await
    }

    async fn call(&self, cmd: &redis::Cmd) -> Result<Reply> {
        self.inner.conn.call(&self.inner.counters, cmd).await
    }

    /// Runs the write script and reads its answer.
    async fn write(&self, bases: &[String], checks: &[Check], items: &[Item], swap: bool) -> Result<Written> {
        let s = &self.inner.scripts.write;
        // The command's size, known before it is built: its buffers grow no more.
        let (mut args, mut size) = (6 + bases.len() + 5 * checks.len(), 64);
        size += bases.iter().map(String::len).sum::<usize>();
        for c in checks {
            size += match c {
                Check::Record { kb, seen, .. } => kb.len() + seen.as_ref().map_or(0, Vec::len) + 8,
                Check::Version { seen, .. } => seen.len() + 8,
            };
        }
        for it in items {
            args += 6 + 3 * it.entries.len() + it.groups.iter().map(|(_, g)| 2 + g.len()).sum::<usize>();
            size += 32 + it.kb.len() + it.doc.as_ref().map_or(0, Vec::len);
            size += match &it.expect {
                Expect::Exactly(d) => d.len(),
                _ => 0,
            };
            for e in &it.entries {
                size += e.index.path.len() + e.enc.len() + e.unique_end.len();
            }
            for (name, groups) in &it.groups {
                size += name.len() + 8 + groups.iter().map(Vec::len).sum::<usize>();
            }
        }
        let mut cmd = redis::Cmd::with_capacity(args, size);
        cmd.arg("EVALSHA").arg(&s.sha).arg(bases.len());
        for b in bases {
            cmd.arg(b);
        }
        cmd.arg(if swap { "S" } else { "W" }).arg(checks.len());
        for c in checks {
            match c {
                Check::Record { base, kb, seen } => {
                    cmd.arg("R").arg(base + 1).arg(kb).arg(if seen.is_some() { "1" } else { "0" });
                    cmd.arg(seen.as_deref().unwrap_or_default());
                }
                Check::Version { base, seen } => {
                    cmd.arg("V").arg(base + 1).arg(seen);
                }
            }
        }
        cmd.arg(items.len());
        for it in items {
            let (head, len) = item_head(it);
            cmd.arg(&head[..len]).arg(&it.kb);
            match &it.expect {
                Expect::Exactly(d) => cmd.arg(d),
                _ => cmd.arg(""),
            };
            cmd.arg(it.doc.as_deref().unwrap_or_default()).arg(it.entries.len());
            for e in &it.entries {
                cmd.arg(e.index.path).arg(&e.enc).arg(&e.unique_end);
            }
            cmd.arg(it.groups.len());
            for (name, groups) in &it.groups {
                cmd.arg(*name).arg(groups.len());
                for g in groups {
                    cmd.arg(g);
                }
            }
        }
        let reply = self.eval(s, &cmd).await?;
        if let Reply::Int(_) = reply {
            return Ok(Written::Done);
        }
        let parts = array(reply)?;
        let tag = parts.first().map(text).unwrap_or_default();
        let int = |i: usize| parts.get(i).and_then(integer).unwrap_or(0) as usize;
        Ok(match tag.as_str() {
            "OK" => Written::Keys(parts[1..].iter().map(bytes).collect()),
            "SWAP" => Written::Swapped(
                parts[1..].chunks(2).map(|p| (text(&p[0]), p.get(1).and_then(optional).unwrap_or_default())).collect(),
            ),
            "DUP" => Written::Duplicate(int(1) - 1),
            "UNIQUE" => Written::Unique { item: int(1) - 1, entry: int(2) - 1, owner: bytes(&parts[3]) },
            "MERGE" => Written::Merge(
                parts[1..]
                    .chunks(2)
                    .map(|p| (integer(&p[0]).unwrap_or(0) as usize - 1, p.get(1).and_then(optional)))
                    .collect(),
            ),
            "CONFLICT" => Written::Conflict(int(1) - 1),
            other => {
                return Err(Error::new(
                    ErrorKind::Storage,
                    format!("unexpected answer {other:?} from the write script"),
                ))
            }
        })
    }

    /// Writes items of one model until done, merging unknown fields of stored records when
    /// the script reports them (an upsert over an existing record), and turns the script's
    /// refusals into errors naming model, field, value and item.
    async fn write_items(
        &self,
        m: &'static ModelDesc,
        bases: &[String],
        checks: &[Check],
        items: &mut [Item],
        swap: bool,
    ) -> Result<Written> {
        loop {
            match self.write(bases, checks, items, swap).await? {
                Written::Merge(list) => {
                    for (i, current) in list {
                        let item = &mut items[i];
                        let model = item.model.unwrap_or(m);
                        // The caller's document: kept the first time a merge replaces it.
                        let original = match &item.original {
                            Some(o) => o.clone(),
                            None => {
                                let o = item.doc.clone().unwrap_or_default();
                                item.original = Some(o.clone());
                                o
                            }
                        };
                        match current {
                            None => {
                                item.expect = Expect::Absent;
                                item.set_doc(model, original, &self.kept(model))?;
                            }
                            Some(old) => {
                                let merged = eval::keep_unknown(model, &old, &original)
                                    .map_err(|e| e.with_model(model.name).with_item(i))?;
                                item.expect = Expect::Exactly(old);
                                item.set_doc(model, merged, &self.kept(model))?;
                            }
                        }
                    }
                }
                Written::Duplicate(i) => {
                    let e = Error::new(ErrorKind::DuplicateKey, "a record with this key already exists");
                    let model = items[i].model.unwrap_or(m);
                    return Err(with_key(e.with_model(model.name).with_item(i), &items[i].kb));
                }
                Written::Unique { item, entry, owner } => {
                    let it = &items[item];
                    let model = it.model.unwrap_or(m);
                    let e = &it.entries[entry];
                    let whose = if owner.is_empty() {
                        "another record of this batch".to_owned()
                    } else {
                        KeyValue::from_storage(&owner)
                            .map_or_else(|_| "another record".to_owned(), |k| format!("record {k}"))
                    };
                    let msg =
                        format!("value {} of unique field `{}` already belongs to {whose}", e.value, e.index.path);
                    let err =
                        Error::new(ErrorKind::UniqueViolation, msg).with_model(model.name).with_field(e.index.path);
                    return Err(with_key(err.with_item(item), &it.kb));
                }
                other => return Ok(other),
            }
        }
    }

    /// Reads candidate records of `source` in batches of `batch` members (0: all at once),
    /// giving each to `each` until it returns `false`; returns the collection's write count as
    /// the first script read it (a write between two batches changes it, so a transaction
    /// checking it at commit sees the batches as one read).
    async fn read(
        &self,
        base: &str,
        source: &Source,
        batch: usize,
        each: impl FnMut(Vec<u8>, Option<Vec<u8>>) -> Result<bool>,
    ) -> Result<Vec<u8>> {
        let how = Reading { batch, backward: false, numeric_check: false, complete_check: false, version: true };
        Ok(self.read_with(base, source, how, each).await?.unwrap_or_default())
    }

    /// [`read`](Self::read) with every option: batches (each twice the last, up to 1,000
    /// members), backward (each range from its top, the ranges given top first), and a check
    /// that the index does not mix the two numeric classes (`None` then: nothing was read).
    async fn read_with(
        &self,
        base: &str,
        source: &Source,
        how: Reading,
        mut each: impl FnMut(Vec<u8>, Option<Vec<u8>>) -> Result<bool>,
    ) -> Result<Option<Vec<u8>>> {
        let all = [(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)];
        let (name, ranges) = match source {
            Source::Scan => ("", &all[..]),
            Source::Index { index, ranges } => (index.path, &ranges[..]),
            Source::Keys(range) => ("", std::slice::from_ref(range)),
        };
        let (mut at, mut after) = (1usize, Vec::new());
        let mut batch = how.batch;
        let mut check = match (how.numeric_check, how.complete_check) {
            (_, true) => "2",
            (true, false) => "1",
            (false, false) => "0",
        };
        let s = &self.inner.scripts.read;
        let mut first: Option<Vec<u8>> = None;
        let bounds: usize = ranges.iter().map(|r| bound_len(&r.0) + bound_len(&r.1)).sum();
        loop {
            let size = 64 + base.len() + name.len() + after.len() + bounds;
            let mut cmd = redis::Cmd::with_capacity(11 + 2 * ranges.len(), size);
            cmd.arg("EVALSHA").arg(&s.sha).arg(1).arg(base).arg(name).arg(batch);
            cmd.arg(if how.backward { "1" } else { "0" });
            let head = how.version || batch > 0;
            cmd.arg(at).arg(&after).arg(check).arg(if head { "1" } else { "0" });
            for r in ranges {
                cmd.arg(lex(&r.0, true)).arg(lex(&r.1, false));
            }
            let parts = array(self.eval(s, &cmd).await?)?;
            let mut parts = parts.into_iter();
            if let Some(Reply::Int(_)) = parts.as_slice().first() {
                return Ok(None); // a failed check: `{-1}`
            }
            let head = if head { parts.next().and_then(owned).unwrap_or_default() } else { Vec::new() };
            // `<next range> <version> <last member>`: the member may hold spaces, the others not.
            let mut split = head.splitn(3, |&b| b == b' ');
            let mut field = || split.next().unwrap_or_default();
            let (next, seen, last) = (field(), field().to_vec(), field().to_vec());
            let next = std::str::from_utf8(next).ok().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
            // The first batch's write count: a write between batches changes it, so a
            // transaction that checks it sees every batch as one read.
            let version = first.get_or_insert(seen).clone();
            while let (Some(kb), Some(doc)) = (parts.next(), parts.next()) {
                self.inner.counters.entries.fetch_add(1, Ordering::Relaxed);
                if !each(owned(kb).unwrap_or_default(), owned(doc))? {
                    return Ok(Some(version));
                }
            }
            if batch == 0 || next > ranges.len() {
                return Ok(Some(version));
            }
            (at, after) = (next, last);
            batch = (batch * 2).clamp(batch, 1000);
            check = "0";
        }
    }

    /// The members of an index in the given ranges: one `ZLEXCOUNT`, or one script adding
    /// up several ranges.
    async fn count_members(&self, m: &'static ModelDesc, index: &IndexDesc, ranges: &[index::Range]) -> Result<u64> {
        let base = self.base(m);
        let reply = match ranges {
            [] => return Ok(0),
            [(lo, hi)] => {
                let mut cmd = redis::cmd("ZLEXCOUNT");
                cmd.arg(format!("{base}:i:{}", index.path)).arg(lex(lo, true)).arg(lex(hi, false));
                self.call(&cmd).await?
            }
            _ => {
                let s = &self.inner.scripts.count;
                let mut cmd = redis::cmd("EVALSHA");
                cmd.arg(&s.sha).arg(1).arg(&base).arg(index.path);
                for (lo, hi) in ranges {
                    cmd.arg(lex(lo, true)).arg(lex(hi, false));
                }
                self.eval(s, &cmd).await?
            }
        };
        Ok(integer(&reply).unwrap_or(0).max(0) as u64)
    }

    /// The count of `plan` from a declared counter, when one answers it (one equality per
    /// field of a grouping, nothing else) and covers every record: one `HMGET` of the
    /// counter's generations and the groups. `None`: count records instead.
    async fn read_counter(&self, m: &'static ModelDesc, plan: &Plan) -> Result<Option<u64>> {
        let Some((c, groups)) = counter::answering(m, plan) else { return Ok(None) };
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(format!("{}:n:{}", self.base(m), c.name)).arg(counter::GENERATION).arg(counter::BUILT);
        for g in &groups {
            cmd.arg(g);
        }
        let parts = array(self.call(&cmd).await?)?;
        let generation = parts.first().and_then(optional);
        if generation.is_none() || generation != parts.get(1).and_then(optional) {
            return Ok(None);
        }
        let total: i64 = parts[2..].iter().map(|p| integer(p).unwrap_or(0)).sum();
        let total = u64::try_from(total).map_err(|_| {
            let msg = format!("counter count_by({}) holds {total}: run rebuild_indexes()", c.name);
            Error::new(ErrorKind::Corrupt, msg).with_model(m.name)
        })?;
        Ok(Some(total))
    }

    /// A query's rows, read as [`Backend::query`] reads them (ordered index reads and key
    /// order with a limit stop early), with the collection's write count the read saw
    /// (`None`: nothing was read, and no write could change the answer; without `version`,
    /// the count may be empty).
    pub(crate) async fn query_read(
        &self,
        m: &'static ModelDesc,
        plan: &Plan,
        version: bool,
    ) -> Result<(Vec<Row>, Option<Vec<u8>>)> {
        let stop = match (plan.order.is_empty(), plan.limit) {
            (true, Some(limit)) => Some(plan.offset + limit),
            _ => None,
        };
        if stop == Some(0) || plan.limit == Some(0) {
            return Ok((Vec::new(), None));
        }
        if plan.limit.is_some() && !plan.order.is_empty() {
            if let Some(read) = self.ordered_read(m, plan, None).await? {
                return Ok(read);
            }
        }
        let (found, version) = self.matching(m, &self.base(m), plan, stop, version).await?;
        Ok((page(found, plan)?, Some(version)))
    }

    /// The rows of a plan read in the order of its first ordering term, from the index on
    /// that field, from the seek's position when given: the read stops once the answer is
    /// known (enough rows, and the whole tie on the last value read, since later terms and
    /// then the key order a tie). `None` when no index gives the order (a list field, a
    /// unique index without a filter on it, another index chosen for a filter, an index
    /// holding decimals beside other numbers, or, read whole, one missing some records'
    /// entries).
    async fn ordered(&self, m: &'static ModelDesc, plan: &Plan, seek: Option<&Seek>) -> Result<Option<Vec<Row>>> {
        Ok(self.ordered_read(m, plan, seek).await?.map(|(rows, _)| rows))
    }

    /// [`ordered`](Self::ordered), with the collection's write count the read saw (what a
    /// transaction's commit checks).
    async fn ordered_read(
        &self,
        m: &'static ModelDesc,
        plan: &Plan,
        seek: Option<&Seek>,
    ) -> Result<Option<(Vec<Row>, Option<Vec<u8>>)>> {
        let Some((index, ranges, whole)) = index::ordered(m, plan) else { return Ok(None) };
        let first = &plan.order[..1];
        let backward = seek.is_some_and(|s| s.backward);
        let upwards = (first[0].direction == Direction::Desc) == backward;
        let mut ranges: Vec<_> = match seek {
            Some(s) => {
                let Some(value) = s.values.first() else { return Ok(None) };
                // With one ordering term the key orders each tie, as it orders the tie's
                // members, so the read starts right at the cursor's member; string keys may
                // be prefixes of one another, which members do not order as keys, and
                // their ties are read whole.
                let kb = s.key.to_storage();
                let exact = plan.order.len() == 1 && !matches!(s.key, KeyValue::Str(_));
                let asc = first[0].direction == Direction::Asc;
                let parts = index::after_cursor(value, exact.then_some(&kb[..]), asc, backward);
                let mut cut: Vec<_> =
                    ranges.iter().flat_map(|r| parts.iter().filter_map(|p| index::intersect(r, p))).collect();
                index::sort_ranges(&mut cut);
                cut
            }
            None => ranges,
        };
        if !upwards {
            ranges.reverse();
        }
        let limit = plan.limit.unwrap_or(usize::MAX);
        let need = if seek.is_some() { limit } else { limit.saturating_add(plan.offset) };
        if ranges.is_empty() || need == 0 {
            // No record can match (or none is asked for), whatever is written: no write
            // count to check.
            return Ok(Some((Vec::new(), None)));
        }
        let source = Source::Index { index, ranges };
        let batch = need.saturating_add(1).min(1000);
        let how = Reading { batch, backward: !upwards, numeric_check: true, complete_check: whole, version: true };
        let mut rows: Vec<(Vec<Value>, Vec<u8>, Vec<u8>)> = Vec::new();
        // An index on a declared single-valued field holds one entry a record: no record
        // comes twice.
        let dedupe = !index::one_entry(m, index.path);
        let mut seen = HashSet::new();
        let read = self
            .read_with(&self.base(m), &source, how, |kb, doc| {
                let Some(doc) = doc else { return Ok(true) };
                if dedupe && !seen.insert(kb.clone()) {
                    return Ok(true);
                }
                if !eval::matches_all(&plan.filters, &doc).map_err(|e| with_key(e, &kb))? {
                    return Ok(true);
                }
                let values = eval::sort_key(&doc, &plan.order).map_err(|e| with_key(e, &kb))?;
                if let Some(s) = seek {
                    if !s.wants(plan, &values, Some(&KeyValue::from_storage(&kb)?)) {
                        return Ok(true);
                    }
                }
                let past = |last: &Vec<Value>| eval::compare_keys(&last[..1], &values[..1], first).is_ne();
                if rows.len() >= need && rows.last().is_some_and(|(last, ..)| past(last)) {
                    return Ok(false);
                }
                rows.push((values, kb, doc));
                Ok(true)
            })
            .await?;
        let Some(version) = read else { return Ok(None) };
        rows.sort_by(|a, b| eval::compare_keys(&a.0, &b.0, &plan.order).then_with(|| a.1.cmp(&b.1)));
        let skip = match seek {
            Some(_) if backward => rows.len().saturating_sub(limit),
            Some(_) => 0,
            None => plan.offset,
        };
        let rows =
            rows.into_iter().skip(skip).take(limit).map(|(_, kb, doc)| row(kb, doc, plan)).collect::<Result<_>>()?;
        Ok(Some((rows, Some(version))))
    }

    /// A page after (or before) a cursor in key order, from the collection's key set: for a
    /// plan without ordering terms whose filters no index serves. `None` otherwise.
    async fn seek_keys(&self, m: &'static ModelDesc, plan: &Plan, seek: &Seek) -> Result<Option<Vec<Row>>> {
        if !plan.order.is_empty() || !matches!(index::choose(m, plan), Source::Scan) {
            return Ok(None);
        }
        let limit = plan.limit.unwrap_or(usize::MAX);
        if limit == 0 {
            return Ok(Some(Vec::new()));
        }
        let at = seek.key.to_storage();
        let range = if seek.backward {
            (std::ops::Bound::Unbounded, std::ops::Bound::Excluded(at))
        } else {
            (std::ops::Bound::Excluded(at), std::ops::Bound::Unbounded)
        };
        let source = Source::Keys(range);
        let how = Reading {
            batch: limit.min(1000),
            backward: seek.backward,
            numeric_check: false,
            complete_check: false,
            version: true,
        };
        let mut rows = Vec::new();
        self.read_with(&self.base(m), &source, how, |kb, doc| {
            let Some(doc) = doc else { return Ok(true) };
            if eval::matches_all(&plan.filters, &doc).map_err(|e| with_key(e, &kb))? {
                rows.push((kb, doc));
            }
            Ok(rows.len() < limit)
        })
        .await?;
        if seek.backward {
            rows.reverse();
        }
        rows.into_iter().map(|(kb, doc)| row(kb, doc, plan)).collect::<Result<_>>().map(Some)
    }

    /// The records (of the collection whose keys start with `base`) matching every filter of
    /// the plan, in key order, each once; with `stop`,
    /// reading ends once that many matched (only where candidates come in key order). Also
    /// returns the collection's write count the read saw (with `version`; else it may be
    /// empty).
    async fn matching(
        &self,
        m: &'static ModelDesc,
        base: &str,
        plan: &Plan,
        stop: Option<usize>,
        version: bool,
    ) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Vec<u8>)> {
        let source = index::choose(m, plan);
        let in_key_order = matches!(source, Source::Scan);
        // The index ranges hold exactly the matches: nothing to check again.
        let exact = index::exact(m, plan);
        // A record comes twice only from an index on a field holding several values (not
        // the one-entry index an exact read uses).
        let dedupe = match &source {
            Source::Index { index, .. } if !exact => !index::one_entry(m, index.path),
            _ => false,
        };
        let stop = stop.filter(|_| in_key_order);
        let batch = stop.map_or(0, |n| n.clamp(1, 1000));
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        let how = Reading { batch, backward: false, numeric_check: false, complete_check: false, version };
        let version = self
            .read_with(base, &source, how, |kb, doc| {
                let Some(doc) = doc else { return Ok(true) };
                if dedupe && !seen.insert(kb.clone()) {
                    return Ok(true);
                }
                if exact || eval::matches_all(&plan.filters, &doc).map_err(|e| with_key(e, &kb))? {
                    found.push((kb, doc));
                }
                Ok(stop.is_none_or(|n| found.len() < n))
            })
            .await?
            .unwrap_or_default();
        if !in_key_order {
            found.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok((found, version))
    }
}

/// Sorts matching records (given in key order) by the plan's order, then skips, limits and
/// projects.
fn page(found: Vec<(Vec<u8>, Vec<u8>)>, plan: &Plan) -> Result<Vec<Row>> {
    if plan.order.is_empty() {
        let rows = found.into_iter().skip(plan.offset).take(plan.limit.unwrap_or(usize::MAX));
        return rows.map(|(kb, doc)| row(kb, doc, plan)).collect();
    }
    let mut keyed = Vec::with_capacity(found.len());
    for (kb, doc) in found {
        let sort = eval::sort_key(&doc, &plan.order)?;
        keyed.push((sort, kb, doc));
    }
    if !plan.order.is_empty() {
        keyed.sort_by(|a, b| eval::compare_keys(&a.0, &b.0, &plan.order));
    }
    keyed
        .into_iter()
        .skip(plan.offset)
        .take(plan.limit.unwrap_or(usize::MAX))
        .map(|(_, kb, doc)| row(kb, doc, plan))
        .collect()
}

/// A result row: the key and the document, projected as the plan asks.
fn row(kb: Vec<u8>, doc: Vec<u8>, plan: &Plan) -> Result<Row> {
    let doc = match &plan.projection {
        Some(p) => eval::project(&doc, p)?,
        None => doc,
    };
    Ok(Row { key: Some(KeyValue::from_storage(&kb)?), doc, ..Row::default() })
}

/// An item's head for the write script, one argument: mode, op, expect, then the base's
/// position (from 1) in digits; the bytes and how many of them are used.
fn item_head(it: &Item) -> ([u8; 24], usize) {
    let mut head = [0u8; 24];
    head[0] = match it.mode {
        WriteMode::Insert => b'I',
        WriteMode::Upsert => b'U',
        WriteMode::Replace => b'R',
    };
    head[1] = if it.doc.is_some() { b'P' } else { b'D' };
    head[2] = match it.expect {
        Expect::Any => b'*',
        Expect::Absent => b'-',
        Expect::Exactly(_) => b'=',
    };
    let mut digits = [0u8; 20];
    let (mut n, mut d) = (it.base + 1, 0);
    loop {
        digits[d] = b'0' + (n % 10) as u8;
        d += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for k in 0..d {
        head[3 + k] = digits[d - 1 - k];
    }
    (head, 3 + d)
}

/// The length of a bound in `ZRANGEBYLEX` syntax (see [`lex`]).
fn bound_len(bound: &std::ops::Bound<Vec<u8>>) -> usize {
    match bound {
        std::ops::Bound::Included(b) | std::ops::Bound::Excluded(b) => b.len() + 1,
        std::ops::Bound::Unbounded => 1,
    }
}

/// How [`Redis::read_with`] reads.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// Members in the first batch (0: all at once); each later batch reads twice as many,
    /// up to 1,000.
    batch: usize,
    /// From the top of each range down (the ranges listed top first).
    backward: bool,
    /// Check first that the index does not hold numbers of both numeric classes.
    numeric_check: bool,
    /// Check first that the index holds an entry for every record (the whole index is read
    /// in place of the key set).
    complete_check: bool,
    /// The caller needs the collection's write count (a read in batches gets it anyway);
    /// without it, a read of everything at once returns an empty one.
    version: bool,
}

/// Adds the record's key to an error, when the bytes name one.
fn with_key(e: Error, kb: &[u8]) -> Error {
    match KeyValue::from_storage(kb) {
        Ok(k) if !kb.is_empty() => e.with_key(&k),
        _ => e,
    }
}

/// What the write script must find before it writes an item.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// Anything: write as given.
    Any,
    /// No record; an existing one is sent back to merge its unknown fields.
    Absent,
    /// Exactly these bytes (the record the merge read).
    Exactly(Vec<u8>),
}

/// One record to write or delete.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// The model (when items of several models are written together).
    model: Option<&'static ModelDesc>,
    /// Index into the script's bases.
    base: usize,
    mode: WriteMode,
    /// The key's storage bytes; empty for an automatic key.
    kb: Vec<u8>,
    expect: Expect,
    /// The document as the caller gave it, once a merge has replaced it in `doc` (merged
    /// again whenever the stored record changes); `None` while `doc` is the caller's.
    original: Option<Vec<u8>>,
    /// The document to store, `None` to delete.
    doc: Option<Vec<u8>>,
    entries: Vec<Entry>,
    /// The document's groups under each counter the collection keeps: its name and groups.
    groups: Vec<counter::Groups>,
}

impl Item {
    /// A put of `doc`, with its index entries.
    fn put(
        model: &'static ModelDesc,
        base: usize,
        key: Option<&KeyValue>,
        doc: Vec<u8>,
        mode: WriteMode,
        kept: &Kept,
    ) -> Result<Item> {
        let expect = if mode == WriteMode::Upsert { Expect::Absent } else { Expect::Any };
        let kb = key.map(KeyValue::to_storage).unwrap_or_default();
        let mut item = Item {
            model: Some(model),
            base,
            mode,
            kb,
            expect,
            original: None,
            doc: None,
            entries: Vec::new(),
            groups: Vec::new(),
        };
        item.set_doc(model, doc, kept)?;
        Ok(item)
    }

    /// A replacing put of `doc` under the stored key bytes `kb`, with its index entries.
    fn put_stored(model: &'static ModelDesc, kb: Vec<u8>, doc: Vec<u8>, kept: &Kept) -> Result<Item> {
        // A delete's item, unconditional and replacing, given the document.
        let mut item = Item::delete(model, 0, kb);
        item.set_doc(model, doc, kept)?;
        Ok(item)
    }

    /// A delete: an unconditional, replacing item with no document.
    fn delete(model: &'static ModelDesc, base: usize, kb: Vec<u8>) -> Item {
        let mode = WriteMode::Replace;
        Item {
            model: Some(model),
            base,
            mode,
            kb,
            expect: Expect::Any,
            original: None,
            doc: None,
            entries: Vec::new(),
            groups: Vec::new(),
        }
    }

    fn set_doc(&mut self, model: &ModelDesc, doc: Vec<u8>, kept: &Kept) -> Result<()> {
        let at = |e: Error| with_key(e.with_model(model.name), &self.kb);
        self.entries = entries(&kept.indexes, &doc).map_err(at)?;
        self.groups = counter::groups(&kept.counters, &doc).map_err(at)?;
        self.doc = Some(doc);
        Ok(())
    }
}

/// A read a transaction's commit checks again.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    /// The record is still as seen (`None`: absent).
    Record { base: usize, kb: Vec<u8>, seen: Option<Vec<u8>> },
    /// Nothing in the collection was written since (its write count).
    Version { base: usize, seen: Vec<u8> },
}

/// The write script's answer.
#[derive(Debug)]
pub(crate) enum Written {
    /// Every item written as given: no automatic key assigned, no compare-and-set refused.
    Done,
    Keys(Vec<Vec<u8>>),
    Swapped(Vec<(String, Vec<u8>)>),
    Duplicate(usize),
    Unique {
        item: usize,
        entry: usize,
        owner: Vec<u8>,
    },
    Merge(Vec<(usize, Option<Vec<u8>>)>),
    /// A transaction's read that changed (the check's position).
    #[allow(dead_code)]
    Conflict(usize),
}

fn array(reply: Reply) -> Result<Vec<Reply>> {
    match reply {
        Reply::Array(parts) | Reply::Set(parts) => Ok(parts),
        other => Err(Error::new(ErrorKind::Storage, format!("unexpected answer from Redis: {other:?}"))),
    }
}

/// A reply's bytes, moved out of it.
fn owned(reply: Reply) -> Option<Vec<u8>> {
    match reply {
        Reply::BulkString(b) => Some(b),
        other => optional(&other),
    }
}

fn bytes(reply: &Reply) -> Vec<u8> {
    optional(reply).unwrap_or_default()
}

fn optional(reply: &Reply) -> Option<Vec<u8>> {
    match reply {
        Reply::BulkString(b) => Some(b.clone()),
        Reply::SimpleString(s) => Some(s.clone().into_bytes()),
        Reply::Int(n) => Some(n.to_string().into_bytes()),
        Reply::Okay => Some(b"OK".to_vec()),
        _ => None,
    }
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&bytes(reply)).into_owned()
}

fn integer(reply: &Reply) -> Option<i64> {
    match reply {
        Reply::Int(n) => Some(*n),
        other => text(other).parse().ok(),
    }
}

impl Backend for Redis {
    const NAME: &'static str = "redis";

    // The store filters nothing itself: emulated lookups run through declared index fields,
    // lookups across a `Ref` through declared copies or two-step joins.
    type Joins = No;
    type CaseInsensitive = No;
    type Regex = No;
    type DateParts = No;
    type FullText = No;

    /// Automatic keys are integers from a per-collection counter (`INCR`).
    const AUTO_KEY: KeyKind = KeyKind::Int;

    /// One script for the whole batch: checks every item (existing keys for `Insert`, unique
    /// values against the store and the batch), then writes every record with its index
    /// entries. An upsert over an existing record takes a second script call, after merging
    /// the stored record's unknown fields (compare-and-set on the record read).
    async fn put(&self, m: &'static ModelDesc, items: Vec<PutItem>, mode: WriteMode) -> Result<Vec<KeyValue>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let kept = self.kept(m);
        let mut prepared = Vec::with_capacity(items.len());
        let mut given = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let it = Item::put(m, 0, item.key.as_ref(), item.doc, mode, &kept).map_err(|e| e.with_item(i))?;
            prepared.push(it);
            given.push(item.key);
        }
        match self.write_items(m, std::slice::from_ref(&kept.base), &[], &mut prepared, false).await? {
            // No key was assigned: the keys are those given.
            Written::Done => Ok(given.into_iter().flatten().collect()),
            Written::Keys(keys) => keys.iter().map(|kb| KeyValue::from_storage(kb)).collect(),
            other => Err(Error::new(ErrorKind::Storage, format!("unexpected answer {other:?}"))),
        }
    }

    /// One `MGET`: every record of a collection shares one hash slot.
    async fn get_many(&self, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let base = self.base(m);
        let mut cmd = redis::cmd("MGET");
        let mut name = Vec::with_capacity(base.len() + 16);
        for key in &keys {
            name.clear();
            name.extend_from_slice(base.as_bytes());
            name.extend_from_slice(b":r:");
            name.extend_from_slice(&key.to_storage());
            cmd.arg(&name);
        }
        let parts = match self.call(&cmd).await? {
            Reply::Nil if keys.len() == 1 => vec![Reply::Nil],
            other => array(other)?,
        };
        Ok(parts.iter().map(optional).collect())
    }

    /// One script: each record, its entries and its key-set member removed.
    async fn delete(&self, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let s = &self.inner.scripts.delete;
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&s.sha).arg(1).arg(self.base(m));
        for key in &keys {
            cmd.arg(key.to_storage());
        }
        Ok(integer(&self.eval(s, &cmd).await?).unwrap_or(0) as u64)
    }

    /// Reads the ranges of the most selective declared index a filter can use (else the
    /// collection's key set), records included, in one script per batch; checks every filter
    /// on each candidate, sorts by the plan's order, then skips and limits.
    async fn query(&self, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        Ok(self.query_read(m, &plan, false).await?.0)
    }

    /// A page from a cursor starts reading at the cursor: in the index on the first ordering
    /// term from the cursor's value (its whole tie read again, later terms and the key order
    /// it), or in the key set after the cursor's key for a query in key order; elsewhere the
    /// runtime filters the whole result.
    async fn query_seek(&self, m: &'static ModelDesc, plan: Plan, seek: Seek) -> Result<Option<Vec<Row>>> {
        if plan.order.is_empty() {
            return self.seek_keys(m, &plan, &seek).await;
        }
        self.ordered(m, &plan, Some(&seek)).await
    }

    /// A count without a filter is one `ZCARD`; one equality per field of a declared grouping
    /// reads the grouping's counter (one `HMGET`) once it covers every record; one exact
    /// index range is one `ZLEXCOUNT`; otherwise matches are read in batches, stopping at
    /// `upto`.
    async fn count(&self, m: &'static ModelDesc, plan: Plan, upto: Option<u64>) -> Result<u64> {
        let upto = upto.unwrap_or(u64::MAX);
        if upto == 0 {
            return Ok(0);
        }
        if plan.filters.is_empty() {
            // Every record is a member of the collection's key set.
            let mut cmd = redis::cmd("ZCARD");
            cmd.arg(format!("{}:k", self.base(m)));
            return Ok((integer(&self.call(&cmd).await?).unwrap_or(0) as u64).min(upto));
        }
        if let Some(n) = self.read_counter(m, &plan).await? {
            return Ok(n.min(upto));
        }
        if let Some((index, ranges)) = index::counted(m, &plan) {
            return Ok(self.count_members(m, index, &ranges).await?.min(upto));
        }
        let source = index::choose(m, &plan);
        let batch = usize::try_from(upto).unwrap_or(usize::MAX).clamp(1, 1000);
        let batch = if upto == u64::MAX { 0 } else { batch };
        let mut seen = HashSet::new();
        let mut n = 0u64;
        let dedupe = !matches!(source, Source::Scan);
        self.read(&self.base(m), &source, batch, |kb, doc| {
            let Some(doc) = doc else { return Ok(true) };
            if dedupe && !seen.insert(kb.clone()) {
                return Ok(true);
            }
            n += u64::from(eval::matches_all(&plan.filters, &doc).map_err(|e| with_key(e, &kb))?);
            Ok(n < upto)
        })
        .await?;
        Ok(n)
    }

    /// Reads the matching records, applies the operations to each, and writes the changed
    /// ones in one compare-and-set script: a record another writer changed meanwhile is read
    /// again, checked against the filters and updated again, so no update is lost.
    async fn update(&self, m: &'static ModelDesc, plan: Plan, ops: Vec<UpdateOp>) -> Result<UpdateCounts> {
        let plan = Plan { filters: plan.filters, ..Plan::default() };
        let kept = self.kept(m);
        let (found, _) = self.matching(m, &kept.base, &plan, None, false).await?;
        let base = std::slice::from_ref(&kept.base);
        let mut counts = UpdateCounts { matched: found.len() as u64, modified: 0 };
        let mut pending = found;
        while !pending.is_empty() {
            let mut items = Vec::new();
            for (kb, doc) in pending.drain(..) {
                let at = |e: Error| with_key(e.with_model(m.name), &kb);
                let new = eval::apply_update(&doc, &ops).map_err(at)?;
                if new == doc {
                    continue;
                }
                let mut item = Item::put_stored(m, kb, new, &kept)?;
                item.expect = Expect::Exactly(doc);
                items.push(item);
            }
            if items.is_empty() {
                break;
            }
            let swapped = match self.write_items(m, base, &[], &mut items, true).await? {
                Written::Done => {
                    counts.modified += items.len() as u64;
                    break;
                }
                Written::Swapped(s) => s,
                other => return Err(Error::new(ErrorKind::Storage, format!("unexpected answer {other:?}"))),
            };
            for (item, (status, current)) in items.into_iter().zip(swapped) {
                match status.as_str() {
                    "W" => counts.modified += 1,
                    "M" => counts.matched -= 1,
                    _ => {
                        if eval::matches_all(&plan.filters, &current)? {
                            pending.push((item.kb, current));
                        } else {
                            counts.matched -= 1;
                        }
                    }
                }
            }
        }
        Ok(counts)
    }

    /// One compare-and-set script for the batch: each record is written (with the unknown
    /// fields of the document it held) only if it still holds exactly the expected bytes.
    async fn swap(&self, m: &'static ModelDesc, items: Vec<SwapItem>) -> Result<Vec<Swapped>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let kept = self.kept(m);
        let mut prepared = Vec::with_capacity(items.len());
        for item in items {
            let it = match item.doc {
                Some(doc) => {
                    let doc = eval::keep_unknown(m, &item.expected, &doc)?;
                    let mut it = Item::put(m, 0, Some(&item.key), doc, WriteMode::Replace, &kept)?;
                    it.expect = Expect::Exactly(item.expected);
                    it
                }
                None => {
                    let mut it = Item::delete(m, 0, item.key.to_storage());
                    it.expect = Expect::Exactly(item.expected);
                    it
                }
            };
            prepared.push(it);
        }
        match self.write_items(m, &[self.base(m)], &[], &mut prepared, true).await? {
            Written::Done => Ok(prepared.iter().map(|_| Swapped::Written).collect()),
            Written::Swapped(s) => Ok(s
                .into_iter()
                .map(|(status, doc)| match status.as_str() {
                    "W" => Swapped::Written,
                    "M" => Swapped::Missing,
                    _ => Swapped::Changed(doc),
                })
                .collect()),
            other => Err(Error::new(ErrorKind::Storage, format!("unexpected answer {other:?}"))),
        }
    }

    /// Index entries are sorted-set members written with each record: nothing to create.
    async fn sync_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        Ok(models.iter().map(|m| m.indexes.len() as u64).sum())
    }

    /// Reads every record, every index and every counter of each collection and compares
    /// the entries and counts the records call for with those stored.
    async fn integrity_check(&self, models: Vec<&'static ModelDesc>) -> Result<IntegrityReport> {
        let mut report = IntegrityReport::default();
        let mut done = HashSet::new();
        for m in models {
            if !done.insert(m.collection) {
                continue;
            }
            let base = self.base(m);
            let kept = self.kept(m);
            let mut expected: BTreeMap<&'static str, HashSet<Vec<u8>>> = BTreeMap::new();
            let mut counted: Vec<BTreeMap<Vec<u8>, (i64, String)>> = vec![BTreeMap::new(); kept.counters.len()];
            let before = report.records;
            self.read(&base, &Source::Scan, 1000, |kb, doc| {
                let Some(doc) = doc else { return Ok(true) };
                report.records += 1;
                for e in entries(&kept.indexes, &doc)? {
                    expected.entry(e.index.path).or_default().insert(member(&e.enc, &kb));
                }
                for (c, groups) in kept.counters.iter().zip(&mut counted) {
                    for (group, text) in counter::described_groups(c, &doc).map_err(|e| with_key(e, &kb))? {
                        groups.entry(group).or_insert((0, text)).0 += 1;
                    }
                }
                Ok(true)
            })
            .await?;
            for index in kept.indexes.iter() {
                let mut cmd = redis::cmd("ZRANGEBYLEX");
                cmd.arg(format!("{base}:i:{}", index.path)).arg("-").arg("+");
                let stored: HashSet<Vec<u8>> = array(self.call(&cmd).await?)?.iter().map(bytes).collect();
                let want = expected.remove(index.path).unwrap_or_default();
                report.entries += stored.len() as u64;
                for missing in want.difference(&stored) {
                    report.problems.push(problem(m, index, missing, "a record's index entry is missing"));
                }
                for stray in stored.difference(&want) {
                    report.problems.push(problem(m, index, stray, "an index entry names no record holding its value"));
                }
            }
            for (c, want) in kept.counters.iter().zip(counted) {
                self.check_counter(m, &base, c, want, report.records > before, &mut report).await?;
            }
        }
        Ok(report)
    }

    /// Writes every record's entries again from the record (compare-and-set, so a concurrent
    /// write is never undone), then removes entries no record calls for.
    async fn rebuild_indexes(&self, models: Vec<&'static ModelDesc>) -> Result<u64> {
        let mut written = 0u64;
        let mut done = HashSet::new();
        for m in models {
            if !done.insert(m.collection) {
                continue;
            }
            let base = self.base(m);
            let kept = self.kept(m);
            // A new generation of each counter, empty, before any record is read: each record
            // is counted in it once, by the rewrite below or by a write meanwhile.
            let generations = self.restart_counters(&base, &kept.counters).await?;
            let mut records = Vec::new();
            self.read(&base, &Source::Scan, 1000, |kb, doc| {
                records.extend(doc.map(|d| (kb, d)));
                Ok(true)
            })
            .await?;
            for chunk in records.chunks(500) {
                let mut items = Vec::with_capacity(chunk.len());
                for (kb, doc) in chunk {
                    let key = KeyValue::from_storage(kb)?;
                    let mut it = Item::put(m, 0, Some(&key), doc.clone(), WriteMode::Replace, &kept)?;
                    it.expect = Expect::Exactly(doc.clone());
                    written += it.entries.len() as u64;
                    items.push(it);
                }
                self.write_items(m, std::slice::from_ref(&base), &[], &mut items, true).await?;
            }
            written += self.counters_built(&base, &generations).await?;
            // Entries no record calls for (left by a damaged store): removed by a script
            // that keeps each one the record it names still lists.
            for index in kept.indexes.iter() {
                let name = format!("{base}:i:{}", index.path);
                let mut cmd = redis::cmd("ZRANGEBYLEX");
                cmd.arg(&name).arg("-").arg("+");
                let stored: Vec<Vec<u8>> = array(self.call(&cmd).await?)?.iter().map(bytes).collect();
                let s = &self.inner.scripts.prune;
                for chunk in stored.chunks(1000) {
                    let mut cmd = redis::cmd("EVALSHA");
                    cmd.arg(&s.sha).arg(1).arg(&base).arg(index.path);
                    for m in chunk {
                        cmd.arg(m);
                    }
                    self.eval(s, &cmd).await?;
                }
            }
        }
        Ok(written)
    }
}

impl Redis {
    /// Compares one counter with the groups its collection's records call for (`want`),
    /// reporting each group whose count differs, or a counter not yet covering the records.
    async fn check_counter(
        &self,
        m: &'static ModelDesc,
        base: &str,
        c: &'static CounterDesc,
        want: BTreeMap<Vec<u8>, (i64, String)>,
        any_record: bool,
        report: &mut IntegrityReport,
    ) -> Result<()> {
        let model = counter::declaring(m, c);
        let problem = |message: String| IntegrityProblem { model, index: c.name, key: None, message };
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(format!("{base}:n:{}", c.name));
        let mut held: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        let mut generation = None;
        let mut built = None;
        let reply = self.call(&cmd).await?;
        let pairs: Vec<(Reply, Reply)> = match reply {
            Reply::Map(pairs) => pairs,
            other => {
                let flat = array(other)?;
                let mut it = flat.into_iter();
                std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
            }
        };
        for (field, value) in pairs {
            let field = bytes(&field);
            if field == counter::GENERATION {
                generation = optional(&value);
            } else if field == counter::BUILT {
                built = optional(&value);
            } else {
                held.insert(field, integer(&value).unwrap_or(0));
            }
        }
        if generation.is_none() || generation != built {
            if any_record {
                let msg = format!("counter count_by({}) not built yet: run rebuild_indexes()", c.name);
                report.problems.push(problem(msg));
            }
            return Ok(());
        }
        report.entries += held.len() as u64;
        for (group, (n, text)) in want {
            let have = held.remove(&group).unwrap_or(0);
            if have != n {
                report.problems.push(problem(format!(
                    "counter count_by({}) for {text} holds {have}, its records number {n}",
                    c.name
                )));
            }
        }
        for (group, have) in held {
            report.problems.push(problem(format!(
                "counter count_by({}) holds {have} for a group no record belongs to ({})",
                c.name,
                counter::hex(&group)
            )));
        }
        Ok(())
    }

    /// Starts a new, empty generation of each counter (one script); each with its
    /// generation.
    async fn restart_counters(
        &self,
        base: &str,
        counters: &[&'static CounterDesc],
    ) -> Result<Vec<(&'static str, i64)>> {
        if counters.is_empty() {
            return Ok(Vec::new());
        }
        let s = &self.inner.scripts.restart;
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&s.sha).arg(1).arg(base);
        for c in counters {
            cmd.arg(c.name);
        }
        let gens = array(self.eval(s, &cmd).await?)?;
        Ok(counters.iter().zip(gens).map(|(c, g)| (c.name, integer(&g).unwrap_or(0))).collect())
    }

    /// Marks counters whose generation every record was counted in as covering the
    /// records (unless a newer rebuild started meanwhile); how many groups they hold.
    async fn counters_built(&self, base: &str, generations: &[(&'static str, i64)]) -> Result<u64> {
        if generations.is_empty() {
            return Ok(0);
        }
        let s = &self.inner.scripts.built;
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&s.sha).arg(1).arg(base);
        for (name, g) in generations {
            cmd.arg(*name).arg(*g);
        }
        Ok(integer(&self.eval(s, &cmd).await?).unwrap_or(0).max(0) as u64)
    }
}

/// An index member: encoded value, key bytes, key length.
pub(crate) fn member(enc: &[u8], kb: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(enc.len() + kb.len() + 4);
    m.extend_from_slice(enc);
    m.extend_from_slice(kb);
    m.extend_from_slice(&(kb.len() as u32).to_be_bytes());
    m
}

/// The key bytes inside an index member.
fn member_key(member: &[u8]) -> Option<&[u8]> {
    let n = member.len().checked_sub(4)?;
    let len = u32::from_be_bytes(member[n..].try_into().ok()?) as usize;
    member.get(n.checked_sub(len)?..n)
}

fn problem(m: &'static ModelDesc, index: &IndexDesc, member: &[u8], what: &str) -> IntegrityProblem {
    IntegrityProblem {
        model: m.name,
        index: index.path,
        key: member_key(member).and_then(|kb| KeyValue::from_storage(kb).ok()),
        message: what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head names mode, op and expectation by their letters and the base by its position
    /// from 1, in as many digits as it takes.
    #[test]
    fn item_heads_spell_mode_op_expectation_and_base() {
        let head = |it: &Item| {
            let (h, n) = item_head(it);
            String::from_utf8(h[..n].to_vec()).unwrap()
        };
        let mut it = Item {
            model: None,
            base: 0,
            mode: WriteMode::Replace,
            kb: Vec::new(),
            expect: Expect::Any,
            original: None,
            doc: None,
            entries: Vec::new(),
            groups: Vec::new(),
        };
        assert_eq!(head(&it), "RD*1");
        it.base = 11;
        it.mode = WriteMode::Insert;
        it.expect = Expect::Absent;
        it.doc = Some(Vec::new());
        assert_eq!(head(&it), "IP-12");
        it.base = 98;
        it.mode = WriteMode::Upsert;
        it.expect = Expect::Exactly(b"x".to_vec());
        assert_eq!(head(&it), "UP=99");
    }
}
