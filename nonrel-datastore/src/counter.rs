//! Maintained counts (`#[model(count_by(author))]`) on Datastore: sharded counter entities
//! of nonrel's own kind, written in the commit of the records they count.
//!
//! Each group of a grouping (its counted fields' values) has up to [`SHARDS`] shard
//! entities; a commit that moves records between groups adds its change to one shard of each
//! group, picked at random, with an `increment` property transform (no read of the shard, so
//! writers of one group never conflict on it, and the change is in the same atomic commit as
//! the records). A count of one group reads every shard of the group in one `lookup`, with
//! the grouping's marker entity, which says that the shards cover every record: a grouping
//! declared after records were written has no marker until `rebuild_indexes()` fills it (or a
//! write finds the collection empty), and until then its counts read records.

use crate::client::Method;
use crate::native::collection_peers;
use crate::{Datastore, Read};
use base64::Engine as _;
use nonrel_runtime::backend::counter::groups as groups_of;
pub(crate) use nonrel_runtime::backend::counter::{answering, described_groups};
use nonrel_runtime::query::Plan;
use nonrel_runtime::{CounterDesc, Error, ErrorKind, IntegrityProblem, IntegrityReport, ModelDesc, Result};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, HashSet};

/// The kind of the counter entities (shards and markers), beside the models' kinds. A shard
/// is named `collection/grouping/g<group>/<shard>` (the group's encoded values in URL-safe
/// base64, or `h<hash>` when they are long), with properties `of` (`collection/grouping`,
/// indexed), `group` (the encoded values), `shard` and `n`; a filled grouping's marker is
/// named `collection/grouping/built`.
///
/// ```
/// assert_eq!(nonrel_datastore::counter::KIND, "nonrel_counter");
/// ```
pub const KIND: &str = "nonrel_counter";
/// The shards of each group: a write changes one, picked at random, so writers of one
/// group spread over them (Datastore sustains about one write a second to one entity); a
/// count reads them all in its one `lookup`.
///
/// ```
/// assert_eq!(nonrel_datastore::counter::SHARDS, 8);
/// ```
pub const SHARDS: usize = 8;
/// Groups whose encoded values are longer are named by a hash of them (a key name takes at
/// most 1,500 bytes).
const LONGEST_NAMED_GROUP: usize = 900;

/// The counters a write through `m` keeps: its own, then those other models of the same
/// collection declare (a subclass's write keeps its base's counts).
pub(crate) fn collection_counters(m: &'static ModelDesc) -> Vec<&'static CounterDesc> {
    let mut out: Vec<&'static CounterDesc> = m.counters.iter().collect();
    for other in collection_peers(m) {
        for c in other.counters {
            if !out.iter().any(|o| o.name == c.name) {
                out.push(c);
            }
        }
    }
    out
}

/// The identity of one grouping: collection and grouping name.
fn grouping(collection: &str, c: &CounterDesc) -> String {
    format!("{collection}/{}", c.name)
}

/// The key of the marker saying the grouping's shards cover every record.
fn marker_key(collection: &str, c: &CounterDesc) -> Json {
    key(&format!("{}/built", grouping(collection, c)))
}

/// The key name of a group's shard.
fn shard_name(collection: &str, c: &CounterDesc, group: &[u8], shard: usize) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let named = if group.len() <= LONGEST_NAMED_GROUP {
        format!("g{}", b64.encode(group))
    } else {
        let mut h = [0u8; 16];
        h[..8].copy_from_slice(&fnv(group, 0xcbf2_9ce4_8422_2325).to_be_bytes());
        h[8..].copy_from_slice(&fnv(group, 0x6c62_272e_07bb_0142).to_be_bytes());
        format!("h{}", b64.encode(h))
    };
    format!("{}/{named}/{shard}", grouping(collection, c))
}

/// FNV-1a over `bytes` from `basis`.
fn fnv(bytes: &[u8], basis: u64) -> u64 {
    bytes.iter().fold(basis, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn key(name: &str) -> Json {
    json!({"path": [{"kind": KIND, "name": name}]})
}

/// A shard picked at random.
fn random_shard() -> usize {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    (h.finish() % SHARDS as u64) as usize
}

/// The groups of `doc` under `counter` (none without a document): the runtime's rule, the
/// same groups on every backend.
fn groups(counter: &CounterDesc, doc: Option<&[u8]>) -> Result<Vec<Vec<u8>>> {
    match doc {
        Some(d) => groups_of(counter, d),
        None => Ok(Vec::new()),
    }
}

/// The changes one commit makes to the groups: per collection, grouping and group, the
/// records gained (negative: lost).
#[derive(Default)]
pub(crate) struct Tally {
    moves: BTreeMap<(&'static str, &'static str, Vec<u8>), i64>,
    counters: Vec<(&'static str, &'static CounterDesc)>,
    /// The groupings whose markers the commit writes (`collection/name`).
    filled: Vec<String>,
}

impl Tally {
    /// A record of `m` going from `old` (none: new) to `new` (none: deleted).
    pub(crate) fn record(&mut self, m: &'static ModelDesc, old: Option<&[u8]>, new: Option<&[u8]>) -> Result<()> {
        for c in collection_counters(m) {
            if !self.counters.iter().any(|(col, x)| *col == m.collection && x.name == c.name) {
                self.counters.push((m.collection, c));
            }
            let (old, new) = (groups(c, old)?, groups(c, new)?);
            for g in &old {
                if !new.contains(g) {
                    *self.moves.entry((m.collection, c.name, g.clone())).or_default() -= 1;
                }
            }
            for g in new {
                if !old.contains(&g) {
                    *self.moves.entry((m.collection, c.name, g)).or_default() += 1;
                }
            }
        }
        Ok(())
    }
}

/// A shard entity as stored.
struct Shard {
    name: String,
    group: Vec<u8>,
    n: i64,
}

/// What a commit does to one shard.
enum Change {
    /// Adds to its count (an `increment` transform: no read needed).
    Add(i64),
    /// Sets its count, from a read in the same transaction.
    Set(i64),
}

fn shard_mutation(name: &str, of: &str, group: &[u8], change: &Change) -> Option<Json> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let shard: usize = name.rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut props = json!({
        "of": {"stringValue": of},
        "group": {"blobValue": b64.encode(group), "excludeFromIndexes": true},
        "shard": {"integerValue": shard.to_string(), "excludeFromIndexes": true},
    });
    match change {
        Change::Add(0) => None,
        Change::Add(d) => Some(json!({
            "upsert": {"key": key(name), "properties": props},
            "propertyMask": {"paths": ["of", "group", "shard"]},
            "propertyTransforms": [{"property": "n", "increment": {"integerValue": d.to_string()}}],
        })),
        Change::Set(0) => Some(json!({"delete": key(name)})),
        Change::Set(n) => {
            props["n"] = json!({"integerValue": n.to_string(), "excludeFromIndexes": true});
            Some(json!({"upsert": {"key": key(name), "properties": props}}))
        }
    }
}

fn marker_mutation(collection: &str, c: &CounterDesc) -> Json {
    json!({"upsert": {"key": marker_key(collection, c), "properties": {"built": {"booleanValue": true}}}})
}

fn corrupt(m: &ModelDesc, c: &CounterDesc, n: i64) -> Error {
    let msg = format!("counter count_by({}) holds {n}: run rebuild_indexes()", c.name);
    Error::new(ErrorKind::Corrupt, msg).with_model(m.name)
}

impl Datastore {
    /// Entities by key, in the transaction `tx` when given: the found ones, by key name.
    async fn lookup_counters(&self, keys: Vec<Json>, tx: Option<&str>) -> Result<BTreeMap<String, Json>> {
        let options = tx.map(|t| json!({"transaction": t}));
        let mut found = BTreeMap::new();
        for mut f in self.lookup_found(keys.iter().map(Json::to_string).collect(), options).await? {
            let name = f["entity"]["key"]["path"][0]["name"].as_str().unwrap_or_default().to_string();
            found.insert(name, f["entity"]["properties"].take());
        }
        Ok(found)
    }

    /// Every shard of a grouping (one `runQuery` per batch).
    async fn shards(&self, collection: &str, c: &CounterDesc, tx: Option<&str>) -> Result<Vec<Shard>> {
        let of = grouping(collection, c);
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = json!({
                "kind": [{"name": KIND}],
                "filter": {"propertyFilter": {"property": {"name": "of"}, "op": "EQUAL", "value": {"stringValue": of}}},
            });
            if let Some(c) = &cursor {
                query["startCursor"] = Json::from(c.as_str());
            }
            let mut body = json!({ "query": query });
            if let Some(t) = tx {
                body["readOptions"] = json!({"transaction": t});
            }
            let r = self.client().call(Method::RunQuery, &body).await?;
            let batch = &r["batch"];
            for e in batch["entityResults"].as_array().into_iter().flatten() {
                let name = e["entity"]["key"]["path"][0]["name"].as_str().unwrap_or_default().to_string();
                let props = &e["entity"]["properties"];
                let group = props["group"]["blobValue"].as_str().unwrap_or_default();
                let group = base64::engine::general_purpose::STANDARD.decode(group).map_err(|e| {
                    Error::new(ErrorKind::Decode, format!("counter entity {name} holds a bad group: {e}"))
                })?;
                out.push(Shard { name, group, n: integer(&props["n"]) });
            }
            match (batch["moreResults"].as_str(), batch["endCursor"].as_str()) {
                (Some("NOT_FINISHED"), Some(c)) => cursor = Some(c.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The mutations that keep the counters of `tally`, read and written in transaction `tx`:
    /// one shard of each changed group gains the change. A grouping without its marker
    /// whose collection is empty is filled here (its stale shards reset and its marker
    /// written); otherwise an unfilled grouping still gains the change, and stays untrusted
    /// until `rebuild_indexes()`.
    pub(crate) async fn counter_mutations(&self, tally: &mut Tally, tx: &str) -> Result<Vec<Json>> {
        if tally.counters.is_empty() {
            return Ok(Vec::new());
        }
        let mut changes: BTreeMap<String, (String, Vec<u8>, Change)> = BTreeMap::new();
        let mut mutations = Vec::new();
        let unknown: Vec<(&'static str, &'static CounterDesc)> =
            tally.counters.iter().filter(|(col, c)| !self.is_built(col, c)).copied().collect();
        if !unknown.is_empty() {
            let keys = unknown.iter().map(|(col, c)| marker_key(col, c)).collect();
            let found = self.lookup_counters(keys, Some(tx)).await?;
            let mut empty: Option<bool> = None;
            for (col, c) in unknown {
                if found.contains_key(&format!("{}/built", grouping(col, c))) {
                    self.set_built(col, c);
                    continue;
                }
                if empty.is_none() {
                    empty = Some(self.collection_empty(col, tx).await?);
                }
                if empty == Some(true) {
                    for s in self.shards(col, c, Some(tx)).await? {
                        changes.insert(s.name, (grouping(col, c), s.group, Change::Set(0)));
                    }
                    mutations.push(marker_mutation(col, c));
                    tally.filled.push(grouping(col, c));
                }
            }
        }
        for ((col, name, group), delta) in &tally.moves {
            if *delta == 0 {
                continue;
            }
            let c = tally.counters.iter().find(|(x, c)| x == col && c.name == *name).expect("a counter of the tally").1;
            let of = grouping(col, c);
            let reset = (0..SHARDS).map(|s| shard_name(col, c, group, s)).find(|n| changes.contains_key(n));
            match reset {
                Some(n) => {
                    if let Some((_, _, Change::Set(v))) = changes.get_mut(&n) {
                        *v += delta;
                    }
                }
                None => {
                    changes.insert(shard_name(col, c, group, random_shard()), (of, group.clone(), Change::Add(*delta)));
                }
            }
        }
        for (name, (of, group, change)) in &changes {
            mutations.extend(shard_mutation(name, of, group, change));
        }
        Ok(mutations)
    }

    /// Remembers the groupings a committed write filled.
    pub(crate) fn committed(&self, tally: &Tally) {
        if !tally.filled.is_empty() {
            self.inner.built.lock().unwrap_or_else(|p| p.into_inner()).extend(tally.filled.iter().cloned());
        }
    }

    /// Whether every grouping a write through `m` keeps is known to be filled.
    pub(crate) fn groupings_built(&self, m: &'static ModelDesc) -> bool {
        collection_counters(m).iter().all(|c| self.is_built(m.collection, c))
    }

    /// The increments of `tally`, for groupings known to be filled (see
    /// [`Datastore::groupings_built`]): one random shard of each changed group.
    pub(crate) fn increments(&self, tally: &Tally) -> Vec<Json> {
        let mut out = Vec::new();
        for ((col, name, group), delta) in &tally.moves {
            let Some((_, c)) = tally.counters.iter().find(|(x, c)| x == col && c.name == *name) else { continue };
            let change = Change::Add(*delta);
            out.extend(shard_mutation(&shard_name(col, c, group, random_shard()), &grouping(col, c), group, &change));
        }
        out
    }

    fn is_built(&self, collection: &str, c: &CounterDesc) -> bool {
        self.inner.built.lock().unwrap_or_else(|p| p.into_inner()).contains(&grouping(collection, c))
    }

    fn set_built(&self, collection: &str, c: &CounterDesc) {
        self.inner.built.lock().unwrap_or_else(|p| p.into_inner()).insert(grouping(collection, c));
    }

    /// Whether the collection holds no record (one keys-only `runQuery` of one entity).
    async fn collection_empty(&self, collection: &str, tx: &str) -> Result<bool> {
        let body = json!({
            "query": {"kind": [{"name": collection}], "projection": [{"property": {"name": "__key__"}}], "limit": 1},
            "readOptions": {"transaction": tx},
        });
        let r = self.client().call(Method::RunQuery, &body).await?;
        Ok(r["batch"]["entityResults"].as_array().is_none_or(Vec::is_empty))
    }

    /// The count of `plan` from a grouping's shards, when one answers it and is filled: one
    /// `lookup` of the marker and every shard of the groups.
    pub(crate) async fn counted(&self, m: &'static ModelDesc, plan: &Plan) -> Result<Option<u64>> {
        let Some((c, groups)) = answering(m, plan) else { return Ok(None) };
        let mut keys = vec![marker_key(m.collection, c)];
        for g in &groups {
            keys.extend((0..SHARDS).map(|s| key(&shard_name(m.collection, c, g, s))));
        }
        let found = self.lookup_counters(keys, None).await.map_err(|e| e.with_model(m.name))?;
        if !found.contains_key(&format!("{}/built", grouping(m.collection, c))) {
            return Ok(None);
        }
        self.set_built(m.collection, c);
        let total: i64 = found.iter().filter(|(n, _)| !n.ends_with("/built")).map(|(_, p)| integer(&p["n"])).sum();
        u64::try_from(total).map(Some).map_err(|_| corrupt(m, c, total))
    }

    /// Recomputes the groupings of `m` from its records, beside live writes: each round one
    /// transaction reads every record and every shard of the grouping and corrects the
    /// groups whose shards disagree (at most a commit's worth), writing the marker; rounds
    /// run until nothing disagrees. Returns the groups corrected.
    pub(crate) async fn rebuild_counters(&self, m: &'static ModelDesc) -> Result<u64> {
        let mut written = 0;
        for c in m.counters {
            loop {
                let (n, done) = crate::retrying(|| self.rebuild_round(m, c)).await.map_err(|e| e.with_model(m.name))?;
                written += n;
                if done {
                    break;
                }
            }
            self.set_built(m.collection, c);
        }
        Ok(written)
    }

    /// One round of [`Datastore::rebuild_counters`]: the groups corrected, and whether every
    /// group now agrees.
    async fn rebuild_round(&self, m: &'static ModelDesc, c: &'static CounterDesc) -> Result<(u64, bool)> {
        let _serial = self.inner.writes.lock().await;
        let tx = self.begin().await?;
        let result = async {
            let records = self.run(m, &crate::native::everything(), false, None, Some(&tx)).await?;
            let expected = expected(c, records)?;
            let shards = self.shards(m.collection, c, Some(&tx)).await?;
            let mut held: BTreeMap<Vec<u8>, Vec<Shard>> = BTreeMap::new();
            for s in shards {
                held.entry(s.group.clone()).or_default().push(s);
            }
            let mut all: BTreeMap<&Vec<u8>, i64> = expected.iter().map(|(g, (n, _))| (g, *n)).collect();
            for g in held.keys() {
                all.entry(g).or_insert(0);
            }
            let of = grouping(m.collection, c);
            let mut mutations = vec![marker_mutation(m.collection, c)];
            let mut wrong = 0;
            for (group, want) in all {
                let shards = held.get(group).map_or(&[][..], Vec::as_slice);
                let have: i64 = shards.iter().map(|s| s.n).sum();
                if have == want {
                    continue;
                }
                wrong += 1;
                if mutations.len() < crate::COMMIT_BATCH {
                    // Shard 0 takes the difference; the others keep theirs.
                    let name = shard_name(m.collection, c, group, 0);
                    let now = shards.iter().find(|s| s.name == name).map_or(0, |s| s.n);
                    mutations.extend(shard_mutation(&name, &of, group, &Change::Set(now + want - have)));
                }
            }
            let fixed = (mutations.len() - 1) as u64;
            self.commit_json(mutations, Some(&tx)).await?;
            Ok((fixed, fixed == wrong))
        }
        .await;
        if result.is_err() {
            self.rollback(&tx).await;
        }
        result
    }

    /// Compares each grouping of `m` with its records, reporting each group whose shards
    /// sum to another number than its records (naming model, grouping and values), and a
    /// grouping not filled yet while records exist.
    pub(crate) async fn check_counters(&self, m: &'static ModelDesc, report: &mut IntegrityReport) -> Result<()> {
        if m.counters.is_empty() {
            return Ok(());
        }
        let records = self.run(m, &crate::native::everything(), false, None, None).await?;
        let markers = m.counters.iter().map(|c| marker_key(m.collection, c)).collect();
        let found = self.lookup_counters(markers, None).await?;
        for c in m.counters {
            let problem = |message: String| IntegrityProblem { model: m.name, index: c.name, key: None, message };
            if !found.contains_key(&format!("{}/built", grouping(m.collection, c))) {
                if !records.is_empty() {
                    report
                        .problems
                        .push(problem(format!("counter count_by({}) not built yet: run rebuild_indexes()", c.name)));
                }
                continue;
            }
            let mut held: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
            for s in self.shards(m.collection, c, None).await? {
                *held.entry(s.group).or_default() += s.n;
            }
            report.entries += held.len() as u64;
            for (group, (n, text)) in expected(c, records.clone())? {
                let have = held.remove(&group).unwrap_or(0);
                if have != n {
                    report.problems.push(problem(format!(
                        "counter count_by({}) for {text} holds {have}, its records number {n}",
                        c.name
                    )));
                }
            }
            for (group, have) in held.into_iter().filter(|(_, n)| *n != 0) {
                let hex: String = group.iter().map(|b| format!("{b:02x}")).collect();
                report.problems.push(problem(format!(
                    "counter count_by({}) holds {have} for a group no record belongs to ({hex})",
                    c.name
                )));
            }
        }
        Ok(())
    }
}

/// Every group of `counter` in `records`, with its number of records and its description.
fn expected(
    counter: &CounterDesc,
    records: Vec<(nonrel_runtime::KeyValue, Option<Read>)>,
) -> Result<BTreeMap<Vec<u8>, (i64, String)>> {
    let mut out: BTreeMap<Vec<u8>, (i64, String)> = BTreeMap::new();
    for (key, read) in records {
        let doc = read.map(|r| r.doc).unwrap_or_default();
        for (group, text) in described_groups(counter, &doc).map_err(|e| e.with_key(&key))? {
            out.entry(group).or_insert((0, text)).0 += 1;
        }
    }
    Ok(out)
}

/// An `integerValue` (a string in JSON); 0 when absent.
fn integer(v: &Json) -> i64 {
    v["integerValue"].as_str().and_then(|s| s.parse().ok()).or_else(|| v["integerValue"].as_i64()).unwrap_or(0)
}

/// The groupings, as `collection/name`, whose markers a handle has seen.
pub(crate) type Built = std::sync::Mutex<HashSet<String>>;
