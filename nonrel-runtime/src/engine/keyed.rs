//! Conditions and ordering on the record's key (`Post::id()`, the plan path [`KEY`]) for
//! backends that do not run them ([`Backend::KEY_FILTERS`] false): the keys an `eq` or
//! `is_in` names are read with one `get_many`; otherwise the rest of the plan runs on the
//! backend and the key is checked on each row. Every query, count, page and update goes
//! through here, so a plan naming the key reaches only backends that declare they run it.

use crate::backend::{Backend, Row, Swapped, UpdateCounts, UpdateOp};
use crate::core::value::Value;
use crate::engine::trace::Command;
use crate::error::Result;
use crate::plan::eval::{apply_update, compare_keys, matches_all_keyed, project};
use crate::plan::{Direction, Filter, Op, Plan, KEY};
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;
use std::future::Future;
use std::pin::Pin;

/// The plan without ordering terms that change nothing: terms after the first on the key
/// (keys are unique, so nothing ties after it), and a last ascending term on the key (the
/// key ascending already breaks every tie).
pub(crate) fn normalized(mut plan: Plan) -> Plan {
    if let Some(at) = plan.order.iter().position(|o| o.path == KEY) {
        plan.order.truncate(at + 1);
        if plan.order[at].direction == Direction::Asc {
            plan.order.pop();
        }
    }
    plan
}

/// Whether the runtime answers this plan's key terms, or its ORs and NOTs, instead of the
/// backend.
pub(crate) fn emulated<B: Backend>(plan: &Plan) -> bool {
    emulated_by::<FromBackend<'_, B>>(plan)
}

/// Whether a filter goes to the backend with the rest of a plan the runtime answers: not
/// one on the key, nor an OR or a NOT the backend does not run (or that names the key).
fn sent<R: KeyReads>(f: &Filter) -> bool {
    let names_key = || crate::plan::any_filter(std::slice::from_ref(f), &|f| f.path == KEY);
    if f.is_boolean() {
        R::BOOLEAN && (R::KEY_FILTERS || !names_key())
    } else {
        R::KEY_FILTERS || f.path != KEY
    }
}

/// Whether the runtime answers a plan read through `reads` (see [`emulated`]).
fn emulated_by<R: KeyReads>(plan: &Plan) -> bool {
    (!R::KEY_FILTERS && plan.names_key()) || (!R::BOOLEAN && plan.has_boolean())
}

/// A row's values for ordering terms, the key's among them.
pub(crate) fn row_sort_key(row: &Row, order: &[crate::plan::OrderBy]) -> Result<Vec<Value>> {
    crate::plan::eval::sort_key_keyed(&row.doc, row.key.as_ref(), order)
}

/// The key a looked-up value names, if a key can hold it.
fn key_of(v: &Value) -> Option<KeyValue> {
    match v {
        Value::Int32(n) => Some(KeyValue::Int(i64::from(*n))),
        Value::Int64(n) => Some(KeyValue::Int(*n)),
        Value::String(s) => Some(KeyValue::Str(s.clone())),
        Value::ObjectId(o) => Some(KeyValue::ObjectId(*o)),
        _ => None,
    }
}

/// The keys the plan's `eq` and `is_in` terms on the key allow, when it has any (each
/// term narrows the set), in key order.
fn named_keys(plan: &Plan) -> Option<Vec<KeyValue>> {
    let mut keys: Option<Vec<KeyValue>> = None;
    for f in plan.filters.iter().filter(|f| f.path == KEY) {
        let named: Vec<KeyValue> = match &f.op {
            Op::Eq(v) => key_of(v).into_iter().collect(),
            Op::In(vs) => vs.iter().filter_map(key_of).collect(),
            _ => continue,
        };
        keys = Some(match keys {
            None => named,
            Some(before) => before.into_iter().filter(|k| named.contains(k)).collect(),
        });
    }
    keys.map(|mut k| {
        k.sort();
        k.dedup();
        k
    })
}

/// Where the answer to a plan's key terms reads: records by key, and the rows of a plan
/// without key terms (the backend, or a transaction's attempt).
pub(crate) trait KeyReads: Sync {
    /// Whether the plans read run ORs and NOTs ([`Backend::BOOLEAN`]).
    const BOOLEAN: bool;
    /// Whether the plans read run conditions on the key ([`Backend::KEY_FILTERS`]).
    const KEY_FILTERS: bool;
    /// The documents of `keys`, in their order.
    fn docs(
        &self,
        m: &'static ModelDesc,
        keys: Vec<KeyValue>,
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>>> + Send;
    /// The rows of a plan that names no key.
    fn plain(&self, m: &'static ModelDesc, plan: Plan) -> impl Future<Output = Result<Vec<Row>>> + Send;
}

/// The backend as a [`KeyReads`], splitting large `in` lookups.
pub(crate) struct FromBackend<'a, B> {
    pub(crate) backend: &'a B,
    pub(crate) max_in: usize,
}

impl<B: Backend> KeyReads for FromBackend<'_, B> {
    const BOOLEAN: bool = B::BOOLEAN;
    const KEY_FILTERS: bool = B::KEY_FILTERS;
    fn docs(
        &self,
        m: &'static ModelDesc,
        keys: Vec<KeyValue>,
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>>> + Send {
        crate::engine::trace::round_trips(1);
        self.backend.get_many(m, keys)
    }
    fn plain(&self, m: &'static ModelDesc, plan: Plan) -> impl Future<Output = Result<Vec<Row>>> + Send {
        crate::engine::split::query(self.backend, m, plan, self.max_in)
    }
}

/// The rows the plan matches (the key checked beside each document, never copied into it).
/// With an OR the backend does not run, each branch runs as its own plan (the rest of the
/// plan with the branch's conditions), at most `offset + limit` rows each, in the plan's
/// order: the first rows of the merge are among them.
async fn candidates<R: KeyReads>(reads: &R, m: &'static ModelDesc, plan: &Plan) -> Result<Vec<Row>> {
    let rows = match named_keys(plan) {
        Some(keys) => {
            let docs = if keys.is_empty() { Vec::new() } else { reads.docs(m, keys.clone()).await? };
            keys.into_iter()
                .zip(docs)
                .filter_map(|(key, doc)| Some(Row { key: Some(key), doc: doc?, ..Row::default() }))
                .collect()
        }
        None => match plan.filters.iter().any(|f| matches!(f.op, Op::Or(_)) && !sent::<R>(f)) {
            // Each branch's rows match the whole plan already.
            true => return union(reads, m, plan).await,
            false => {
                let rest = Plan {
                    filters: plan.filters.iter().filter(|f| sent::<R>(f)).cloned().collect(),
                    order: Vec::new(),
                    offset: 0,
                    limit: None,
                    projection: None,
                };
                reads.plain(m, rest).await?
            }
        },
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(key) = &row.key else { continue };
        if matches_all_keyed(&plan.filters, &row.doc, key).map_err(|e| e.with_key(key))? {
            out.push(row);
        }
    }
    Ok(out)
}

/// The rows of each branch of the plan's first OR, merged without duplicates.
async fn union<R: KeyReads>(reads: &R, m: &'static ModelDesc, plan: &Plan) -> Result<Vec<Row>> {
    let Some(parts) = crate::plan::branch_plans(plan) else { return Ok(Vec::new()) };
    let mut rows = Vec::new();
    for part in parts {
        rows.extend(matching(reads, m, part).await?.into_iter().filter(|row| row.key.is_some()));
    }
    // A record several branches found is the same row each time: in key order its copies
    // sit side by side. Each branch comes in its own order, so the sort mostly merges runs.
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows.dedup_by(|a, b| a.key == b.key);
    Ok(rows)
}

/// The rows a plan matches, in its order: from the backend when it runs the whole plan,
/// else answered here.
fn matching<'a, R: KeyReads>(
    reads: &'a R,
    m: &'static ModelDesc,
    plan: Plan,
) -> Pin<Box<dyn Future<Output = Result<Vec<Row>>> + Send + 'a>> {
    Box::pin(async move {
        if emulated_by::<R>(&plan) {
            answer(reads, m, &plan).await
        } else {
            reads.plain(m, plan).await
        }
    })
}

/// The answer to a (normalized) plan with key terms, read through `reads`.
pub(crate) async fn answer(reads: &impl KeyReads, m: &'static ModelDesc, plan: &Plan) -> Result<Vec<Row>> {
    let found = candidates(reads, m, plan).await?;
    if plan.order.is_empty() {
        // Key order: no sort key to compute per row.
        let mut rows = found;
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        let limit = plan.limit.unwrap_or(usize::MAX);
        return rows.into_iter().skip(plan.offset).take(limit).map(|row| projected(row, plan)).collect();
    }
    let mut sorted: Vec<(Vec<Value>, Row)> =
        found.into_iter().map(|row| Ok((row_sort_key(&row, &plan.order)?, row))).collect::<Result<_>>()?;
    sorted.sort_by(|(a, ra), (b, rb)| compare_keys(a, b, &plan.order).then_with(|| ra.key.cmp(&rb.key)));
    let limit = plan.limit.unwrap_or(usize::MAX);
    sorted.into_iter().skip(plan.offset).take(limit).map(|(_, row)| projected(row, plan)).collect()
}

/// The row with only the fields the plan's projection loads.
fn projected(mut row: Row, plan: &Plan) -> Result<Row> {
    if let Some(p) = &plan.projection {
        row.doc = project(&row.doc, p)?;
    }
    Ok(row)
}

/// Runs a plan on the backend, answering its key terms when the backend does not.
pub(crate) async fn query<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    plan: Plan,
    max_in: usize,
) -> Result<Vec<Row>> {
    let plan = normalized(plan);
    // The plan moves into the work; its description keeps a copy only while tracing is on.
    let kept = crate::engine::trace::keep(&plan);
    let command = move || Command::planned(B::NAME, "query", m, &kept.unwrap_or_default());
    let command = crate::engine::trace::command(command, async move {
        if !emulated::<B>(&plan) {
            return crate::engine::split::query(backend, m, plan, max_in).await;
        }
        answer(&FromBackend { backend, max_in }, m, &plan).await
    });
    command.await
}

/// Counts the records a plan matches up to `upto`, answering its key terms when the
/// backend does not.
pub(crate) async fn count<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    plan: Plan,
    upto: Option<u64>,
    max_in: usize,
) -> Result<u64> {
    let plan = normalized(plan);
    let kept = crate::engine::trace::keep(&plan);
    let command = move || Command::planned(B::NAME, "count", m, &kept.unwrap_or_default());
    let command = crate::engine::trace::command(command, async move {
        if !emulated::<B>(&plan) {
            return crate::engine::split::count(backend, m, plan, upto, max_in).await;
        }
        let n = candidates(&FromBackend { backend, max_in }, m, &plan).await?.len() as u64;
        Ok(upto.map_or(n, |u| n.min(u)))
    });
    command.await
}

/// Applies update operations to the records a plan matches, answering its key terms when
/// the backend does not: each record is written with a compare-and-set of the document
/// read, and read again and retried when a concurrent write changed it, so no update is
/// lost and each record's update is atomic.
pub(crate) fn update<'a, B: Backend>(
    backend: &'a B,
    m: &'static ModelDesc,
    plan: Plan,
    ops: Vec<UpdateOp>,
    max_in: usize,
) -> impl Future<Output = Result<UpdateCounts>> + Send + 'a {
    let plan = normalized(plan);
    let kept = crate::engine::trace::keep(&plan);
    let command = move || Command::planned(B::NAME, "update", m, &kept.unwrap_or_default());
    crate::engine::trace::command(command, async move {
        if !emulated::<B>(&plan) {
            crate::engine::trace::round_trips(1);
            return backend.update(m, plan, ops).await;
        }
        // Boxed: its reads and retries would otherwise make every update's future as large.
        Box::pin(update_emulated(backend, m, plan, ops, max_in)).await
    })
}

/// [`update`] of a plan whose key terms the backend does not answer, in its span.
async fn update_emulated<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    plan: Plan,
    ops: Vec<UpdateOp>,
    max_in: usize,
) -> Result<UpdateCounts> {
    let mut counts = UpdateCounts::default();
    let mut pending: Vec<Row> =
        candidates(&FromBackend { backend, max_in }, m, &Plan { projection: None, ..plan.clone() }).await?;
    let mut limit = plan.limit.map(|l| l.saturating_add(plan.offset)).unwrap_or(usize::MAX);
    pending.truncate(limit);
    let mut round = 1;
    while !pending.is_empty() {
        let mut items = Vec::with_capacity(pending.len());
        for row in &pending {
            let key = row.key.clone().expect("candidates have keys");
            let doc = apply_update(&row.doc, &ops).map_err(|e| e.with_key(&key))?;
            items.push(crate::backend::SwapItem { key, expected: row.doc.clone(), doc: Some(doc) });
        }
        crate::engine::trace::round_trips(1);
        let outcome = backend.swap(m, items.clone()).await?;
        let mut again = Vec::new();
        for (item, result) in items.into_iter().zip(outcome) {
            match result {
                Swapped::Written => {
                    counts.matched += 1;
                    counts.modified += u64::from(item.doc.as_deref() != Some(item.expected.as_slice()));
                }
                Swapped::Missing => {}
                Swapped::Changed(now) => {
                    // Changed meanwhile: updated as it is now, if it still matches.
                    if matches_all_keyed(&plan.filters, &now, &item.key).map_err(|e| e.with_key(&item.key))? {
                        crate::engine::trace::retry(round + 1, &"a concurrent write changed the record");
                        again.push(Row { key: Some(item.key), doc: now, ..Row::default() });
                    }
                }
            }
        }
        limit = limit.saturating_sub(counts.matched as usize);
        again.truncate(limit);
        pending = again;
        round += 1;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::OrderBy;

    fn order(terms: &[(&'static str, Direction)]) -> Vec<OrderBy> {
        terms.iter().map(|(p, d)| OrderBy { path: (*p).into(), direction: *d }).collect()
    }

    #[test]
    fn ordering_terms_that_change_nothing_are_dropped() {
        use Direction::{Asc, Desc};
        let plan = |terms: &[(&'static str, Direction)]| Plan { order: order(terms), ..Plan::default() };
        assert_eq!(normalized(plan(&[(KEY, Asc)])).order, []);
        assert_eq!(normalized(plan(&[("a", Desc), (KEY, Asc), ("b", Asc)])).order, order(&[("a", Desc)]));
        assert_eq!(normalized(plan(&[(KEY, Desc), ("b", Asc)])).order, order(&[(KEY, Desc)]));
        assert_eq!(normalized(plan(&[("a", Asc)])).order, order(&[("a", Asc)]));
    }

    #[test]
    fn the_key_is_checked_beside_the_document() {
        use crate::plan::Filter;
        // {a: 1} as BSON: length, an int32 element named "a", the end.
        let bytes = [12, 0, 0, 0, 0x10, b'a', 0, 1, 0, 0, 0, 0];
        let key = KeyValue::Str("k".into());
        let f = |path: &'static str, v: Value| Filter { path: path.into(), op: Op::Eq(v) };
        let on_key = f(KEY, Value::String("k".into()));
        let on_a = f("a", Value::Int32(1));
        let other_key = f(KEY, Value::String("x".into()));
        let check = |filters: Vec<Filter>| crate::plan::eval::matches_all_keyed(&filters, &bytes, &key).unwrap();
        assert!(check(vec![on_key.clone(), on_a.clone()]));
        assert!(!check(vec![other_key.clone(), on_a.clone()]));
        let any = |branches: Vec<Vec<Filter>>| Filter { path: "".into(), op: Op::Or(branches) };
        let not = |filters: Vec<Filter>| Filter { path: "".into(), op: Op::Not(filters) };
        assert!(check(vec![any(vec![vec![other_key.clone()], vec![on_key.clone()]])]));
        assert!(!check(vec![not(vec![on_key, on_a])]));
        assert!(check(vec![not(vec![other_key])]));
    }
}
