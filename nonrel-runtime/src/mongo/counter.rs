//! Maintained counts on MongoDB: counter documents in a collection of nonrel's own
//! ([`COLLECTION`]), changed in the session transaction that writes the records they count.
//!
//! A group's document has `_id: {c: <collection>, k: <grouping>, g: <the group's encoded
//! values, binary>}` and `n`, its number of records; a grouping's marker, `_id: {c, k}` with
//! `built: true`, says that its groups cover every record. A write through a collection with
//! counters (see `counted`) reads the documents it replaces or deletes, writes the records and
//! `$inc`s (upserting) every group a record moved into or out of, all in one transaction,
//! retried on a conflict; a write to a group keeps counting whether or not the grouping is
//! marked. A count that is one equality per field of a declared grouping is one `find` of its
//! groups' documents and the marker: their sum when the marker is there, else the records are
//! counted, as before the grouping was declared. A group whose records all left keeps its
//! document at `n: 0` (removing it would cost the write another command); a rebuild drops it.
//!
//! Each declared grouping also keeps an index on its fields ([`specs`]): it serves the count
//! of a grouping that is not marked yet (declared on a collection that already had records,
//! until `rebuild_indexes()`), which would otherwise scan the collection, and queries filtering
//! on those fields.
//!
//! `sync_indexes()` marks a grouping whose collection is empty at once (every write after that
//! counts into it). `rebuild_indexes()` recomputes a grouping from the records in one
//! transaction that reads the records and the groups' documents, and writes only the groups
//! that differ, the groups no record belongs to (dropped) and the marker: a live write commits
//! before the transaction's snapshot (and is in what it reads), or after it, and then either
//! touches a group the rebuild writes (one of the two transactions meets a write conflict and
//! starts again) or one it leaves alone (whose count was right at the snapshot and moves by the
//! write's own change). The transaction holds the whole collection's read, so it is bound by
//! the server's transaction lifetime (60 seconds by default).

use super::session::{finish, reply_conflict, tx_error, MongoSession, ATTEMPTS, PAUSE_CEILING};
use super::{convert, driver, Mongo};
use crate::backend::capability::Transactions;
use crate::backend::counter as counters;
use crate::backend::retry::backoff;
use crate::backend::{IntegrityProblem, IntegrityReport};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::Plan;
use crate::schema::counter::CounterDesc;
use crate::schema::model::ModelDesc;
use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, Document};
use mongodb::ClientSession;
use std::collections::BTreeMap;

/// The collection of the counter documents, beside the models' collections.
pub(super) const COLLECTION: &str = "nonrel_counters";

/// Most statements in one command.
const BATCH: usize = 1000;

/// The name of the index serving a grouping.
pub(super) fn index_name(c: &CounterDesc) -> String {
    format!("count_by({})", c.name)
}

/// The groupings that need an index of their own: not the total, and not one field that a
/// declared index already leads with (MongoDB refuses a second index of the same keys).
fn indexed(m: &ModelDesc) -> impl Iterator<Item = &'static CounterDesc> + '_ {
    let counters: &'static [CounterDesc] = m.counters;
    counters.iter().filter(move |c| match c.fields {
        [] => false,
        [one] => m.index_on(one).is_none(),
        _ => true,
    })
}

/// The `createIndexes` specifications of a model's groupings.
pub(super) fn specs(m: &ModelDesc) -> Vec<Value> {
    indexed(m)
        .map(|c| {
            let key: Vec<(String, Value)> = c.fields.iter().map(|f| ((*f).to_owned(), Value::Int32(1))).collect();
            Value::Document(vec![("key".into(), Value::Document(key)), ("name".into(), Value::String(index_name(c)))])
        })
        .collect()
}

/// The groupings whose index is missing from `names`.
pub(super) fn missing<'a>(m: &'a ModelDesc, names: &'a [String]) -> impl Iterator<Item = &'static CounterDesc> + 'a {
    indexed(m).filter(move |c| !names.contains(&index_name(c)))
}

/// The `_id` of a group's document.
fn group_id(collection: &str, counter: &str, group: &[u8]) -> Document {
    let g = Binary { subtype: BinarySubtype::Generic, bytes: group.to_vec() };
    doc! { "c": collection, "k": counter, "g": g }
}

/// The `_id` of a grouping's marker.
fn marker_id(collection: &str, counter: &str) -> Document {
    doc! { "c": collection, "k": counter }
}

/// A document's `n`, whichever integer type the server stored.
fn n_of(d: &Document) -> i64 {
    match d.get("n") {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(f)) => *f as i64,
        _ => 0,
    }
}

/// The group bytes of a group document's `_id` (`None` for a marker).
fn group_of(d: &Document) -> Option<Vec<u8>> {
    match d.get_document("_id").ok()?.get("g")? {
        Bson::Binary(b) => Some(b.bytes.clone()),
        _ => None,
    }
}

/// The changes a write makes to the counters of one collection: per grouping and group, the
/// records that moved in minus those that moved out.
pub(super) struct Tally {
    collection: &'static str,
    counters: Vec<&'static CounterDesc>,
    changes: BTreeMap<(&'static str, Vec<u8>), i64>,
}

impl Tally {
    /// An empty tally of `counters` (the collection's, see `collection_counters`).
    pub(super) fn new(m: &'static ModelDesc, counters: Vec<&'static CounterDesc>) -> Tally {
        Tally { collection: m.collection, counters, changes: BTreeMap::new() }
    }

    /// Moves a record from the groups of `old` (its stored document, none for a new record)
    /// to those of `new` (the document stored after the write, none for a deletion).
    pub(super) fn add(&mut self, old: Option<&[u8]>, new: Option<&[u8]>) -> Result<()> {
        for c in &self.counters {
            for (group, delta) in counters::moves(c, old, new)? {
                *self.changes.entry((c.name, group)).or_insert(0) += delta;
            }
        }
        Ok(())
    }

    /// The top-level fields the groupings read, for projecting the documents a write reads.
    pub(super) fn projection(&self) -> Document {
        projection(&self.counters)
    }

    /// Writes the changes in `session`: one `update` of upserting `$inc`s (per thousand
    /// groups); nothing when no record changed groups.
    pub(super) async fn apply(self, mongo: &Mongo, session: &mut ClientSession, m: &'static ModelDesc) -> Result<()> {
        let statements: Vec<Bson> = self
            .changes
            .iter()
            .filter(|(_, d)| **d != 0)
            .map(|((name, group), delta)| {
                let id = group_id(self.collection, name, group);
                Bson::Document(doc! { "q": { "_id": id }, "u": { "$inc": { "n": *delta } }, "upsert": true })
            })
            .collect();
        for chunk in statements.chunks(BATCH) {
            let command = doc! { "update": COLLECTION, "updates": chunk.to_vec(), "ordered": true };
            let reply = mongo
                .db
                .run_command(command)
                .session(&mut *session)
                .await
                .map_err(|e| tx_error(e, m, "changing counters"))?;
            check(&reply, m)?;
        }
        Ok(())
    }
}

/// `{_id: 1, <first name of each counted path>: 1}`.
fn projection(list: &[&'static CounterDesc]) -> Document {
    let mut out = doc! { "_id": 1 };
    for c in list {
        for f in c.fields {
            let top = f.split('.').next().unwrap_or(f);
            out.insert(top, 1);
        }
    }
    out
}

/// The count of `plan` from its grouping's documents, when a declared grouping answers it and
/// is marked built: one `find` of the groups and the marker. `None`: count the records.
pub(super) async fn answer(
    mongo: &Mongo,
    m: &'static ModelDesc,
    plan: &Plan,
    upto: Option<u64>,
) -> Result<Option<u64>> {
    let Some((counter, filter)) = reading(m, plan) else { return Ok(None) };
    let Some(total) = read(mongo, filter).await? else { return Ok(None) };
    let total = u64::try_from(total).map_err(|_| {
        let msg = format!("counter count_by({}) holds {total}: run rebuild_indexes()", counter.name);
        Error::new(ErrorKind::Corrupt, msg).with_model(m.name)
    })?;
    Ok(Some(upto.map_or(total, |n| total.min(n))))
}

/// The declared grouping that answers a count of `plan`, and the filter of the `find` on
/// [`COLLECTION`] that reads its groups and its marker.
pub(super) fn reading(m: &'static ModelDesc, plan: &Plan) -> Option<(&'static CounterDesc, Document)> {
    let (counter, groups) = counters::answering(m, plan)?;
    let mut ids: Vec<Bson> = groups.iter().map(|g| Bson::Document(group_id(m.collection, counter.name, g))).collect();
    ids.push(Bson::Document(marker_id(m.collection, counter.name)));
    Some((counter, doc! { "_id": { "$in": ids } }))
}

/// The sum of the groups a [`reading`] filter finds, or `None` when the grouping is not
/// marked built.
pub(super) async fn read(mongo: &Mongo, filter: Document) -> Result<Option<i64>> {
    let coll = mongo.db.collection::<Document>(COLLECTION);
    let reading = "reading counters";
    let mut cursor = coll.find(filter).await.map_err(|e| driver(e, reading))?;
    let (mut built, mut total) = (false, 0i64);
    while cursor.advance().await.map_err(|e| driver(e, reading))? {
        let d = cursor.deserialize_current().map_err(|e| driver(e, reading))?;
        match group_of(&d) {
            Some(_) => total += n_of(&d),
            None => built = d.get_bool("built").unwrap_or(false),
        }
    }
    Ok(built.then_some(total))
}

/// Marks the groupings of `m` built when its collection holds no record (every later write
/// counts into them); how many were marked.
pub(super) async fn mark_if_empty(mongo: &Mongo, m: &'static ModelDesc) -> Result<u64> {
    if m.counters.is_empty() {
        return Ok(0);
    }
    let records = mongo.raw_collection(m);
    let any =
        records.find_one(doc! {}).projection(doc! { "_id": 1 }).await.map_err(|e| driver(e, "reading records"))?;
    if any.is_some() {
        return Ok(0);
    }
    let coll = mongo.db.collection::<Document>(COLLECTION);
    let mut marked = 0;
    for c in m.counters {
        let id = marker_id(m.collection, c.name);
        let done = coll
            .update_one(doc! { "_id": id }, doc! { "$set": { "built": true } })
            .upsert(true)
            .await
            .map_err(|e| driver(e, "marking a counter built"))?;
        marked += u64::from(done.upserted_id.is_some());
    }
    Ok(marked)
}

/// What a grouping's documents hold: whether it is marked, and each group's count.
struct Held {
    built: bool,
    groups: BTreeMap<Vec<u8>, i64>,
}

/// Reads a grouping's documents in `session`.
async fn held(mongo: &Mongo, s: &mut ClientSession, m: &'static ModelDesc, c: &CounterDesc) -> Result<Held> {
    let coll = mongo.db.collection::<Document>(COLLECTION);
    let filter = doc! { "_id.c": m.collection, "_id.k": c.name };
    let mut cursor = coll.find(filter).session(&mut *s).await.map_err(|e| tx_error(e, m, "reading counters"))?;
    let mut out = Held { built: false, groups: BTreeMap::new() };
    while cursor.advance(&mut *s).await.map_err(|e| tx_error(e, m, "reading counters"))? {
        let d = cursor.deserialize_current().map_err(|e| driver(e, "reading counters"))?;
        match group_of(&d) {
            Some(g) => {
                out.groups.insert(g, n_of(&d));
            }
            None => out.built = d.get_bool("built").unwrap_or(false),
        }
    }
    Ok(out)
}

/// Every group of each of `list` in the records of `m`'s collection, with its number of
/// records and its description, read in `session` (only the counted fields travel).
async fn expected(
    mongo: &Mongo,
    s: &mut ClientSession,
    m: &'static ModelDesc,
    list: &[&'static CounterDesc],
) -> Result<Vec<BTreeMap<Vec<u8>, (i64, String)>>> {
    let coll = mongo.raw_collection(m);
    let reading = "reading records";
    let find = coll.find(doc! {}).projection(projection(list));
    let mut cursor = find.session(&mut *s).await.map_err(|e| tx_error(e, m, reading))?;
    let mut out: Vec<BTreeMap<Vec<u8>, (i64, String)>> = vec![BTreeMap::new(); list.len()];
    while cursor.advance(&mut *s).await.map_err(|e| tx_error(e, m, reading))? {
        let doc = convert::without_id(cursor.current().as_bytes())?;
        for (c, groups) in list.iter().zip(out.iter_mut()) {
            for (group, text) in counters::described_groups(c, &doc)? {
                groups.entry(group).or_insert((0, text)).0 += 1;
            }
        }
    }
    Ok(out)
}

/// Compares each counter of `m` with its records, in one snapshot (a transaction that writes
/// nothing), reporting each group whose count differs.
pub(super) async fn check_counters(mongo: &Mongo, m: &'static ModelDesc, report: &mut IntegrityReport) -> Result<()> {
    if m.counters.is_empty() {
        return Ok(());
    }
    let list: Vec<&'static CounterDesc> = m.counters.iter().collect();
    let mut s = mongo.begin().await?;
    let read = async {
        let expected = expected(mongo, &mut s.session, m, &list).await?;
        let mut held_all = Vec::with_capacity(list.len());
        for c in &list {
            held_all.push(held(mongo, &mut s.session, m, c).await?);
        }
        Ok::<_, Error>((expected, held_all))
    }
    .await;
    mongo.abort(s).await;
    let (expected, held_all) = read?;
    for ((counter, expected), held) in list.iter().zip(expected).zip(held_all) {
        let problem = |message: String| IntegrityProblem { model: m.name, index: counter.name, key: None, message };
        if !held.built {
            if !expected.is_empty() {
                let msg = format!("counter count_by({}) not built yet: run rebuild_indexes()", counter.name);
                report.problems.push(problem(msg));
            }
            continue;
        }
        let mut held = held.groups;
        report.entries += held.len() as u64;
        for (group, (n, text)) in expected {
            let have = held.remove(&group).unwrap_or(0);
            if have != n {
                report.problems.push(problem(format!(
                    "counter count_by({}) for {text} holds {have}, its records number {n}",
                    counter.name
                )));
            }
        }
        for (group, have) in held.into_iter().filter(|(_, n)| *n != 0) {
            report.problems.push(problem(format!(
                "counter count_by({}) holds {have} for a group no record belongs to ({})",
                counter.name,
                counters::hex(&group)
            )));
        }
    }
    Ok(())
}

/// Recomputes the counters of `m` from its records and marks them built, each grouping in a
/// transaction of its own, started again on a conflict with a live write (see the module
/// docs); how many group documents were written or dropped.
pub(super) async fn rebuild(mongo: &Mongo, m: &'static ModelDesc) -> Result<u64> {
    let mut written = 0;
    for c in m.counters {
        let mut attempt = 0;
        loop {
            let mut s = mongo.begin().await?;
            let outcome = rebuild_one(mongo, &mut s, m, c).await;
            match finish(mongo, s, outcome).await {
                Ok(n) => {
                    written += n;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Conflict && attempt < ATTEMPTS => {
                    attempt += 1;
                    backoff(attempt, PAUSE_CEILING, std::time::Duration::ZERO).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(written)
}

/// One attempt of rebuilding grouping `c` in `s`.
async fn rebuild_one(
    mongo: &Mongo,
    s: &mut MongoSession,
    m: &'static ModelDesc,
    c: &'static CounterDesc,
) -> Result<u64> {
    let expected = expected(mongo, &mut s.session, m, &[c]).await?.pop().unwrap_or_default();
    let held = held(mongo, &mut s.session, m, c).await?;
    let mut sets: Vec<Bson> = Vec::new();
    for (group, (n, _)) in &expected {
        if held.groups.get(group) != Some(n) {
            let id = group_id(m.collection, c.name, group);
            sets.push(Bson::Document(doc! { "q": { "_id": id }, "u": { "$set": { "n": *n } }, "upsert": true }));
        }
    }
    let marker = marker_id(m.collection, c.name);
    sets.push(Bson::Document(doc! { "q": { "_id": marker }, "u": { "$set": { "built": true } }, "upsert": true }));
    let drops: Vec<Bson> = held
        .groups
        .keys()
        .filter(|g| !expected.contains_key(*g))
        .map(|g| Bson::Document(group_id(m.collection, c.name, g)))
        .collect();
    let written = (sets.len() - 1 + drops.len()) as u64;
    let mut commands: Vec<Document> =
        sets.chunks(BATCH).map(|ch| doc! { "update": COLLECTION, "updates": ch.to_vec(), "ordered": true }).collect();
    for ch in drops.chunks(BATCH) {
        let q = doc! { "_id": { "$in": ch.to_vec() } };
        commands.push(doc! { "delete": COLLECTION, "deletes": [ { "q": q, "limit": 0 } ], "ordered": true });
    }
    for command in commands {
        let reply = mongo
            .db
            .run_command(command)
            .session(&mut s.session)
            .await
            .map_err(|e| tx_error(e, m, "rebuilding counters"))?;
        check(&reply, m)?;
    }
    Ok(written)
}

/// A reply of a command writing counter documents: a write conflict, or a duplicate `_id`
/// of two transactions upserting one new group, is a conflict (the attempt starts again).
fn check(reply: &Document, m: &'static ModelDesc) -> Result<()> {
    if let Some(conflict) = reply_conflict(reply, m) {
        return Err(conflict);
    }
    let duplicate = reply.get_array("writeErrors").is_ok_and(|errors| {
        errors.iter().filter_map(|e| e.as_document()).any(|e| matches!(e.get_i32("code"), Ok(11000 | 11001)))
    });
    if duplicate {
        let msg = "a concurrent transaction created the same counter";
        return Err(Error::new(ErrorKind::Conflict, msg).with_model(m.name));
    }
    super::write::check_reply(reply, m, &[], 0).map_err(Error::without_item)
}
