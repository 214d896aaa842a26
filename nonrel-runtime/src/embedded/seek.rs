//! Pages from a cursor on the embedded backend: when an index serves the query's first
//! ordering term, the index scan starts at the cursor's value, so a page costs the same
//! however deep it is.

use super::index::{self, Source};
use super::store::{count_opening, doc_of, index_table, project, records_table, storage, Store};
use crate::backend::Row;
use crate::core::value::Value;
use crate::error::Result;
use crate::plan::eval::{compare_keys, matches_all_keyed, sort_key_keyed};
use crate::plan::seek::Seek;
use crate::plan::Plan;
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;
use std::collections::HashSet;

/// The rows a seek wants, read from the cursor's place in the index of the first ordering
/// term; `None` when no index gives that order (the caller filters the whole result).
pub(super) fn from_index(store: &Store, m: &'static ModelDesc, plan: &Plan, seek: &Seek) -> Result<Option<Vec<Row>>> {
    let read = store.read()?;
    let tx = read.tx();
    let name = records_table(m);
    let Some(records) = read.table(name)? else { return Ok(Some(Vec::new())) };
    // Which indexes are built, as the main query path learns it: once per commit epoch.
    let built = store.built(&read, m)?;
    let Source::Index { index, ranges, ordered: true, reverse, served, distinct, .. } = index::choose(
        m,
        plan,
        |i| built.contains(&i.path),
        |i, tag| store.holds_opening(&read, m, i, tag),
        |i, ranges, cap| count_opening(tx, m, i, ranges, cap),
    )?
    else {
        return Ok(None);
    };
    let (Some(first), [range]) = (plan.order.first(), ranges.as_slice()) else { return Ok(None) };
    if first.path != index.path {
        return Ok(None);
    }
    // Forward on an ascending index, or backward on a descending one, reads upwards.
    let upwards = reverse == seek.backward;
    let Some(narrow) = narrowed(range.clone(), &seek.values[0], upwards) else { return Ok(Some(Vec::new())) };
    let iname = index_table(m, index);
    let Some(table) = read.table(iname)? else { return Ok(Some(Vec::new())) };
    let range = table.range::<&[u8]>(index::bounds(&narrow)).map_err(storage)?;
    let entries: Box<dyn Iterator<Item = _>> = if upwards { Box::new(range) } else { Box::new(range.rev()) };
    let residual = index::residual(plan, &served);
    let limit = plan.limit.unwrap_or(usize::MAX);
    let mut rows: Vec<(Vec<Value>, Row)> = Vec::new();
    let mut seen = HashSet::new();
    for entry in entries {
        let (key, value) = entry.map_err(storage)?;
        let (pk, inline) = index::read_entry(index, key.value(), value.value())?;
        // A record with several entries (a list) is read once; an index with one entry per
        // record needs no set.
        if !distinct && !seen.insert(pk.to_vec()) {
            continue;
        }
        let Some(doc) = doc_of(inline, pk, &*records)? else { continue };
        let doc = doc.bytes();
        let key = KeyValue::from_storage(pk)?;
        if !matches_all_keyed(residual.iter().copied(), doc, &key).map_err(|e| e.with_key(&key))? {
            continue;
        }
        let values = sort_key_keyed(doc, Some(&key), &plan.order)?;
        if !seek.wants(plan, &values, Some(&key)) {
            continue;
        }
        // Rows tied on the indexed value may come in any order: read the whole tie.
        if rows.len() >= limit && rows.last().is_some_and(|(last, _)| last[0] != values[0]) {
            break;
        }
        let doc = match &plan.projection {
            Some(p) => project(doc, p)?,
            None => doc.to_vec(),
        };
        rows.push((values, Row { key: Some(key), doc, ..Row::default() }));
    }
    rows.sort_by(|(a, ra), (b, rb)| compare_keys(a, b, &plan.order).then_with(|| ra.key.cmp(&rb.key)));
    let skip = if seek.backward { rows.len().saturating_sub(limit) } else { 0 };
    Ok(Some(rows.into_iter().skip(skip).take(limit).map(|(_, r)| r).collect()))
}

/// The index range cut to start at the cursor's value (`None`: nothing is left).
fn narrowed((lo, hi): index::KeyRange, value: &Value, upwards: bool) -> Option<index::KeyRange> {
    let range = if upwards {
        (index::tighter(lo, index::at_least(value, true), true), hi)
    } else {
        (lo, index::tighter(hi, index::at_most(value, true), false))
    };
    index::non_empty(&range).then_some(range)
}
