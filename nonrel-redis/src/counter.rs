//! Maintained counts (`#[model(count_by(author))]`) on Redis: one hash per collection and
//! grouping, `{p:c}:n:<grouping>`, from a group's order-preserving encoded values to its
//! number of records, changed by the same script that writes the records (see
//! [`scripts`](crate::scripts) for the layout).
//!
//! The groups of a record follow the runtime's rule (the embedded backend's counters): the
//! encoded values of the grouping's fields, one group per combination of distinct values (a
//! list contributes each element, a missing field is null), and a count is answered by a
//! counter when it is exactly one equality per field of a declared grouping.
//!
//! A counter is trusted once it covers every record: it was first written while the
//! collection was empty, or `rebuild_indexes` filled it. Its hash holds two fields besides
//! the groups (no encoded value starts with a zero byte): `\0g`, the generation the writes
//! keep (each record's entry list names the generation its groups were counted in), and
//! `\0b`, the generation known to cover every record. Until the two agree, counts read
//! records.

use nonrel_runtime::order::{encoded, other_class};
use nonrel_runtime::query::{eval, Op, Plan};
use nonrel_runtime::{CounterDesc, ModelDesc, Result, Value};

/// The hash field holding the generation writes keep.
pub(crate) const GENERATION: &[u8] = b"\0g";
/// The hash field holding the generation that covers every record.
pub(crate) const BUILT: &[u8] = b"\0b";

/// The counters a write to `m`'s collection keeps: those every registered model stored in
/// the collection declares (a polymorphic base and its subclasses), each grouping once.
pub(crate) fn collection_counters(m: &'static ModelDesc) -> Vec<&'static CounterDesc> {
    let mut out: Vec<&'static CounterDesc> = m.counters.iter().collect();
    for other in nonrel_runtime::registered_models().filter(|o| o.collection == m.collection) {
        for c in other.counters {
            if !out.iter().any(|o| o.name == c.name) {
                out.push(c);
            }
        }
    }
    out
}

/// The model to name for a counter of `m`'s collection: `m` when it declares the grouping,
/// else the registered model of the collection that does.
pub(crate) fn declaring(m: &'static ModelDesc, c: &CounterDesc) -> &'static str {
    if m.counters.iter().any(|o| o.name == c.name) {
        return m.name;
    }
    nonrel_runtime::registered_models()
        .find(|o| o.collection == m.collection && o.counters.iter().any(|o| o.name == c.name))
        .map_or(m.name, |o| o.name)
}

/// The groups a document belongs to under `counter`, each with its values as a message
/// shows them (`author = "ann"`).
pub(crate) fn described_groups(counter: &CounterDesc, doc: &[u8]) -> Result<Vec<(Vec<u8>, String)>> {
    let mut out: Vec<(Vec<u8>, String)> = vec![(Vec::new(), String::new())];
    for path in counter.fields {
        let mut values: Vec<(Vec<u8>, String)> = Vec::new();
        let mut push = |v: &Value| values.push((encoded(v), format!("{path} = {v}")));
        for leaf in eval::values_at(doc, path)? {
            match leaf {
                Value::Array(items) if !items.is_empty() => items.iter().for_each(&mut push),
                other => push(&other),
            }
        }
        if values.is_empty() {
            values.push((encoded(&Value::Null), format!("{path} = null")));
        }
        values.sort();
        values.dedup_by(|a, b| a.0 == b.0);
        out = out
            .iter()
            .flat_map(|(prefix, text)| {
                values.iter().map(move |(v, t)| {
                    let mut g = prefix.clone();
                    g.extend_from_slice(v);
                    let text = if text.is_empty() { t.clone() } else { format!("{text}, {t}") };
                    (g, text)
                })
            })
            .collect();
    }
    if counter.fields.is_empty() {
        out[0].1 = "all records".to_owned();
    }
    Ok(out)
}

/// A document's groups under one counter: the grouping's name and each group's encoded
/// values.
pub(crate) type Groups = (&'static str, Vec<Vec<u8>>);

/// The groups of a document under each counter: what the write script counts it in.
pub(crate) fn groups(counters: &[&'static CounterDesc], doc: &[u8]) -> Result<Vec<Groups>> {
    counters.iter().map(|c| Ok((c.name, described_groups(c, doc)?.into_iter().map(|(g, _)| g).collect()))).collect()
}

/// The counter that answers a count of `plan` on `m`, and the groups whose sum is the
/// count: the plan is exactly one equality on each field of a declared grouping (no other
/// condition, no offset or limit), each on a scalar value. A number also matches the same
/// number stored as a decimal, which keeps a group of its own.
pub(crate) fn answering(m: &'static ModelDesc, plan: &Plan) -> Option<(&'static CounterDesc, Vec<Vec<u8>>)> {
    if m.counters.is_empty() || plan.offset != 0 || plan.limit.is_some() {
        return None;
    }
    let counter = m.counters.iter().find(|c| {
        c.fields.len() == plan.filters.len()
            && c.fields.iter().all(|f| plan.filters.iter().filter(|x| x.path == *f).count() == 1)
    })?;
    let mut out: Vec<Vec<u8>> = vec![Vec::new()];
    for path in counter.fields {
        let filter = plan.filters.iter().find(|x| x.path == *path)?;
        let v = match &filter.op {
            Op::Eq(v) => v,
            Op::IsNull(true) => &Value::Null,
            _ => return None,
        };
        if matches!(v, Value::Array(_) | Value::Document(_) | Value::Raw(..)) {
            return None;
        }
        let mut alternatives = vec![encoded(v)];
        if let Some(other) = other_class(v) {
            alternatives.push(encoded(&other));
        }
        out = out
            .iter()
            .flat_map(|prefix| {
                alternatives.iter().map(move |a| {
                    let mut g = prefix.clone();
                    g.extend_from_slice(a);
                    g
                })
            })
            .collect();
    }
    Some((counter, out))
}

/// A stored group's bytes, for a message about a group no record belongs to.
pub(crate) fn hex(group: &[u8]) -> String {
    group.iter().map(|b| format!("{b:02x}")).collect()
}
