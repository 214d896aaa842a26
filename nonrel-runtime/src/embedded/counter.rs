//! Maintained counts on the embedded backend: one table per collection, from a counter's
//! name and a group's encoded values to the number of records in the group, written in the
//! write transaction of the records; a count that is one equality per field of a declared
//! grouping reads its group instead of any record or index entry.

use super::tables::{open_read, storage, RecordsTable};
use crate::backend::counter as counters;
use crate::backend::{IntegrityProblem, IntegrityReport};
use crate::error::{Error, ErrorKind, Result};
use crate::schema::counter::{collection_counters, CounterDesc};
use crate::schema::model::ModelDesc;
use redb::{ReadableTable, ReadableTableMetadata, Table, TableDefinition};
use std::collections::BTreeMap;

type Def<'a> = TableDefinition<'a, &'static [u8], i64>;

/// The counters table of a collection.
fn table_name(m: &ModelDesc) -> String {
    format!("counters:{}", m.collection)
}

/// The marker, in the table of built indexes, that a counter covers every record.
fn built_name(m: &ModelDesc, c: &CounterDesc) -> String {
    format!("counters:{}:{}", m.collection, c.name)
}

/// A group's key in the counters table: the counter's name, a zero byte, the group.
fn entry(c: &CounterDesc, group: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(c.name.len() + 1 + group.len());
    k.extend_from_slice(c.name.as_bytes());
    k.push(0);
    k.extend_from_slice(group);
    k
}

/// The range of a counter's groups.
fn groups_of(c: &CounterDesc) -> (Vec<u8>, Vec<u8>) {
    let mut lo = c.name.as_bytes().to_vec();
    let mut hi = lo.clone();
    lo.push(0);
    hi.push(1);
    (lo, hi)
}

/// The counters a write keeps, open in its write transaction.
pub(super) struct Counters<'tx> {
    table: Table<'tx, &'static [u8], i64>,
    list: Vec<&'static CounterDesc>,
}

/// Opens the counters a write through `m` keeps (`None`: it keeps none), filling any
/// declared after records were written.
pub(super) fn open<'tx>(
    tx: &'tx redb::WriteTransaction,
    m: &'static ModelDesc,
    records: &RecordsTable<'tx>,
    built: &mut Table<'_, &'static str, u8>,
) -> Result<Option<Counters<'tx>>> {
    let list = collection_counters(m);
    if list.is_empty() {
        return Ok(None);
    }
    let name = table_name(m);
    let mut table = tx.open_table(Def::new(&name)).map_err(storage)?;
    for c in &list {
        let marker = built_name(m, c);
        if built.get(marker.as_str()).map_err(storage)?.is_none() {
            fill(c, records, &mut table)?;
            built.insert(marker.as_str(), 1).map_err(storage)?;
        }
    }
    Ok(Some(Counters { table, list }))
}

/// Moves a record between groups: `old` is its stored document (none for a new record),
/// `new` the one written (none for a deletion).
pub(super) fn apply(c: &mut Counters<'_>, old: Option<&[u8]>, new: Option<&[u8]>) -> Result<()> {
    for counter in &c.list {
        for (group, delta) in counters::moves(counter, old, new)? {
            let key = entry(counter, &group);
            let now = c.table.get(key.as_slice()).map_err(storage)?.map_or(0, |g| g.value());
            let next = now + delta;
            if next == 0 {
                c.table.remove(key.as_slice()).map_err(storage)?;
            } else {
                c.table.insert(key.as_slice(), next).map_err(storage)?;
            }
        }
    }
    Ok(())
}

/// Counts every record of `records` into `counter`'s groups (its old groups removed first).
fn fill(counter: &CounterDesc, records: &RecordsTable<'_>, table: &mut Table<'_, &'static [u8], i64>) -> Result<u64> {
    let (lo, hi) = groups_of(counter);
    table.retain_in::<&[u8], _>(lo.as_slice()..hi.as_slice(), |_, _| false).map_err(storage)?;
    let expected = expected(counter, records)?;
    for (group, (n, _)) in &expected {
        table.insert(entry(counter, group).as_slice(), *n).map_err(storage)?;
    }
    Ok(expected.len() as u64)
}

/// Every group of `counter` in `records`, with its number of records and its description.
fn expected(
    counter: &CounterDesc,
    records: &impl ReadableTable<super::tables::StoredKey, &'static [u8]>,
) -> Result<BTreeMap<Vec<u8>, (i64, String)>> {
    let mut out: BTreeMap<Vec<u8>, (i64, String)> = BTreeMap::new();
    for item in records.iter().map_err(storage)? {
        let (_, v) = item.map_err(storage)?;
        for (group, text) in counters::described_groups(counter, v.value())? {
            out.entry(group).or_insert((0, text)).0 += 1;
        }
    }
    Ok(out)
}

/// The count of `plan` from a counter, if a declared grouping answers it and its counter
/// covers every record: the counter's name, the count, and the groups read.
pub(super) fn answer(
    tx: &redb::ReadTransaction,
    m: &'static ModelDesc,
    plan: &crate::plan::Plan,
) -> Result<Option<(&'static str, u64, u64)>> {
    let Some((counter, groups)) = counters::answering(m, plan) else { return Ok(None) };
    let name = table_name(m);
    let Some(table) = open_read(tx, Def::new(&name))? else {
        // No counter written yet: answered only when there is no record either.
        let records = open_read(tx, super::tables::Bytes::new(super::tables::records_table(m)))?;
        let empty = match records {
            Some(r) => r.is_empty().map_err(storage)?,
            None => true,
        };
        return Ok(empty.then_some((counter.name, 0, 0)));
    };
    let built = open_read(tx, super::tables::BUILT)?;
    let is_built = match &built {
        Some(b) => b.get(built_name(m, counter).as_str()).map_err(storage)?.is_some(),
        None => false,
    };
    if !is_built {
        return Ok(None);
    }
    let mut total: i64 = 0;
    for group in &groups {
        total += table.get(entry(counter, group).as_slice()).map_err(storage)?.map_or(0, |g| g.value());
    }
    let total = u64::try_from(total).map_err(|_| damaged(m, counter, total))?;
    Ok(Some((counter.name, total, groups.len() as u64)))
}

fn damaged(m: &ModelDesc, c: &CounterDesc, n: i64) -> Error {
    let msg = format!("counter count_by({}) holds {n}: run rebuild_indexes()", c.name);
    Error::new(ErrorKind::Corrupt, msg).with_model(m.name)
}

/// Compares each counter of `m` with its records, reporting each group whose count differs.
pub(super) fn check(
    tx: &redb::ReadTransaction,
    m: &'static ModelDesc,
    records: &impl ReadableTable<super::tables::StoredKey, &'static [u8]>,
    built: Option<&impl ReadableTable<&'static str, u8>>,
    report: &mut IntegrityReport,
) -> Result<()> {
    if m.counters.is_empty() {
        return Ok(());
    }
    let name = table_name(m);
    let table = open_read(tx, Def::new(&name))?;
    for counter in m.counters {
        let problem = |message: String| IntegrityProblem { model: m.name, index: counter.name, key: None, message };
        let is_built = match built {
            Some(b) => b.get(built_name(m, counter).as_str()).map_err(storage)?.is_some(),
            None => false,
        };
        if !is_built {
            if !records.is_empty().map_err(storage)? {
                report
                    .problems
                    .push(problem(format!("counter count_by({}) not built yet: run rebuild_indexes()", counter.name)));
            }
            continue;
        }
        let mut held: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        if let Some(t) = &table {
            let (lo, hi) = groups_of(counter);
            for item in t.range::<&[u8]>(lo.as_slice()..hi.as_slice()).map_err(storage)? {
                let (k, v) = item.map_err(storage)?;
                held.insert(k.value()[lo.len()..].to_vec(), v.value());
            }
        }
        report.entries += held.len() as u64;
        for (group, (n, text)) in expected(counter, records)? {
            let have = held.remove(&group).unwrap_or(0);
            if have != n {
                report.problems.push(problem(format!(
                    "counter count_by({}) for {text} holds {have}, its records number {n}",
                    counter.name
                )));
            }
        }
        for (group, have) in held {
            report.problems.push(problem(format!(
                "counter count_by({}) holds {have} for a group no record belongs to ({})",
                counter.name,
                counters::hex(&group)
            )));
        }
    }
    Ok(())
}

/// Recomputes the counters of `m` from its records; how many groups were written.
pub(super) fn rebuild(
    tx: &redb::WriteTransaction,
    m: &'static ModelDesc,
    records: &RecordsTable<'_>,
    built: &mut Table<'_, &'static str, u8>,
) -> Result<u64> {
    if m.counters.is_empty() {
        return Ok(0);
    }
    let name = table_name(m);
    let mut table = tx.open_table(Def::new(&name)).map_err(storage)?;
    let mut written = 0;
    for counter in m.counters {
        written += fill(counter, records, &mut table)?;
        built.insert(built_name(m, counter).as_str(), 1).map_err(storage)?;
    }
    Ok(written)
}
