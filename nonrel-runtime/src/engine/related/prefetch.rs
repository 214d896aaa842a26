//! Prefetches: lists of references and reverse sets, loaded for a whole result set.
//!
//! - [`prefetch_related`](crate::Query::prefetch_related) follows a `Vec<Ref<T>>` field: one
//!   batched key read of the union of every row's keys (split at the backend's `in` limit);
//!   each row gets its list's records, in the list's order, duplicates kept.
//! - [`prefetch_reverse`](crate::Query::prefetch_reverse) loads, for each row, the records of
//!   another model whose reference field points at it (Django's `user.post_set`): one `in`
//!   query on that field with every row's key (split at the `in` limit as every `in` is),
//!   grouped by row.
//!
//! Either costs one round trip after the query, whatever the number of rows: two in all.
//!
//! On a row ([`Record::related`](crate::api::database::Record::related)), a list's records are kept under
//! the field's path, one row per key in the list's order; a key whose record does not exist
//! keeps its slot with an empty document (no stored document is empty). A reverse set is
//! kept under `<-` then the referring collection and path (`<-posts.author`).

use crate::backend::{Backend, Row};
use crate::core::value::Value;
use crate::error::Result;
use crate::plan::join::{Kind, Selection};
use crate::plan::{to_value, Filter, Op, Plan, Projection};
use crate::schema::key::KeyValue;
use std::collections::{HashMap, HashSet};

/// Splits a query's selections into those of one `Ref` (which a backend may run with the
/// query, by `$lookup`) and the prefetches, which [`load`] runs after it.
pub(crate) fn partition(selections: &[Selection]) -> (Vec<Selection>, Vec<Selection>) {
    selections.iter().cloned().partition(|s| matches!(s.kind, Kind::One))
}

/// Fills each row's prefetches: one batched read (lists) or one query (reverse sets) each,
/// split at `max_in` keys.
pub(crate) async fn load<B: Backend>(
    backend: &B,
    selections: &[Selection],
    rows: &mut [Row],
    max_in: usize,
) -> Result<()> {
    for s in selections {
        let sets = match &s.kind {
            Kind::One => continue,
            Kind::Many => lists(backend, s, rows, max_in).await,
            Kind::Reverse(plan) => reverse_sets(backend, s, (**plan).clone()?, rows, max_in).await,
        }
        .map_err(|e| e.with_model(s.related.name))?;
        let name = s.name();
        for (row, set) in rows.iter_mut().zip(sets) {
            row.related.push((name.clone(), set));
        }
    }
    Ok(())
}

/// The keys a stored reference holds at `path`: one for a `Ref`, none for null or missing,
/// each element's for a list.
pub(crate) fn keys_at(doc: &[u8], path: &str) -> Result<Vec<KeyValue>> {
    let mut out = Vec::new();
    for v in crate::plan::eval::values_at(doc, path)? {
        match v {
            Value::Array(items) => out.extend(items.into_iter().filter_map(key_of)),
            v => out.extend(key_of(v)),
        }
    }
    Ok(out)
}

fn key_of(v: Value) -> Option<KeyValue> {
    match v {
        Value::Int32(n) => Some(KeyValue::Int(n.into())),
        Value::Int64(n) => Some(KeyValue::Int(n)),
        Value::String(s) => Some(KeyValue::Str(s)),
        Value::ObjectId(o) => Some(KeyValue::ObjectId(o)),
        _ => None,
    }
}

/// Each row's list of related records, in its list's order: one slot per key, a missing
/// record's slot holding its key and no document.
async fn lists<B: Backend>(backend: &B, s: &Selection, rows: &[Row], max_in: usize) -> Result<Vec<Vec<Row>>> {
    let lists: Vec<Vec<KeyValue>> = rows.iter().map(|r| keys_at(&r.doc, &s.reference)).collect::<Result<_>>()?;
    let mut seen = HashSet::new();
    let distinct: Vec<KeyValue> = lists.iter().flatten().filter(|k| seen.insert(*k)).cloned().collect();
    let mut found: HashMap<KeyValue, Vec<u8>> = HashMap::with_capacity(distinct.len());
    for chunk in distinct.chunks(max_in.max(1)) {
        let docs = match &s.projection {
            Some(p) => backend.get_many_projected(s.related, chunk.to_vec(), p.clone()).await?,
            None => backend.get_many(s.related, chunk.to_vec()).await?,
        };
        found.extend(chunk.iter().cloned().zip(docs).filter_map(|(k, d)| d.map(|d| (k, d))));
    }
    Ok(lists
        .into_iter()
        .map(|keys| {
            keys.into_iter()
                .map(|k| Row { doc: found.get(&k).cloned().unwrap_or_default(), key: Some(k), ..Row::default() })
                .collect()
        })
        .collect())
}

/// Each row's reverse set: one query on the referring model, `reference in [row keys]`,
/// grouped by the keys each record refers to.
async fn reverse_sets<B: Backend>(
    backend: &B,
    s: &Selection,
    mut plan: Plan,
    rows: &[Row],
    max_in: usize,
) -> Result<Vec<Vec<Row>>> {
    let mut sets: Vec<Vec<Row>> = vec![Vec::new(); rows.len()];
    let mut at: HashMap<&KeyValue, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(k) = &r.key {
            at.entry(k).or_default().push(i);
        }
    }
    if at.is_empty() || plan.limit == Some(0) {
        return Ok(sets);
    }
    let mut seen = HashSet::new();
    let keys: Vec<Value> =
        rows.iter().filter_map(|r| r.key.as_ref()).filter(|k| seen.insert(*k)).map(to_value).collect::<Result<_>>()?;
    // Offset and limit apply to each row's set: every match is read.
    let (offset, limit) = (std::mem::take(&mut plan.offset), plan.limit.take());
    // The reference must be read to group by it; left out again afterwards if not wanted.
    let top = s.reference.split('.').next().unwrap_or(&s.reference);
    let wanted = s.projection.clone().filter(|p| !p.loads(top.as_bytes()));
    plan.projection = s.projection.clone().map(|p| with_field(p, top));
    plan.filters.push(Filter { path: s.reference.clone(), op: Op::In(keys) });
    let by_key = plan.order.is_empty();
    let mut found = crate::engine::keyed::query(backend, s.related, plan, max_in).await?;
    if by_key {
        // Without an order a backend may answer in index order: the sets are in key order.
        found.sort_by(|a, b| a.key.cmp(&b.key));
    }
    for found in found {
        let targets = keys_at(&found.doc, &s.reference)?;
        let mut done = HashSet::new();
        let doc = match &wanted {
            Some(p) => super::project(&found.doc, p)?,
            None => found.doc,
        };
        for k in &targets {
            for &i in at.get(k).into_iter().flatten() {
                if done.insert(i) {
                    sets[i].push(Row { doc: doc.clone(), key: found.key.clone(), ..Row::default() });
                }
            }
        }
    }
    for set in &mut sets {
        let end = limit.map_or(set.len(), |l| offset.saturating_add(l).min(set.len()));
        set.truncate(end);
        set.drain(..offset.min(set.len()));
    }
    Ok(sets)
}

/// The projection with top-level field `name` loaded.
fn with_field(p: Projection, name: &str) -> Projection {
    match p {
        Projection::Only(mut names) => {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
            Projection::Only(names)
        }
        Projection::Defer(names) => Projection::Defer(names.into_iter().filter(|n| n != name).collect()),
    }
}
