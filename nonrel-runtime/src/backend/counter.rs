//! What a backend keeping maintained counts (`#[model(count_by(author))]`) computes: the
//! groups a stored record belongs to, the groups a write moves it between, and whether a
//! count's plan is answered by one group. Every backend that keeps counters uses these, so
//! a record falls in the same groups on each.
//!
//! ```
//! use nonrel_runtime::backend::counter::{answering, groups, moves};
//! use nonrel_runtime::{Key, Model, Query};
//!
//! #[derive(Model)]
//! #[model(count_by(author))]
//! struct Post { #[field(key)] id: Option<Key<Post>>, author: String }
//!
//! let counter = &Post::DESC.counters[0];
//! let (mut ann, mut bob) = (Vec::new(), Vec::new());
//! Post { id: None, author: "ann".into() }.encode(&mut ann)?;
//! Post { id: None, author: "bob".into() }.encode(&mut bob)?;
//! assert_eq!(groups(counter, &ann)?.len(), 1);
//! // A save that changes the author moves the record from one group to the other.
//! let moved = moves(counter, Some(&ann), Some(&bob))?;
//! assert_eq!(moved.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [-1, 1]);
//! // A count of one author is answered by that author's group.
//! let query = Query::<Post>::new().filter(Post::author().eq("ann"));
//! let (by, group) = answering(Post::DESC, query.plan()?).expect("a declared grouping");
//! assert_eq!((by.name, group), ("author", groups(counter, &ann)?));
//! # Ok::<(), nonrel_runtime::Error>(())
//! ```

use crate::core::order::{encoded, other_class};
use crate::core::value::Value;
use crate::error::Result;
use crate::schema::counter::CounterDesc;
use crate::schema::model::ModelDesc;

pub use crate::schema::counter::collection_counters;

/// The counter groups a document belongs to under `counter`: the encoded values of its
/// fields, one group per combination of distinct values (a list contributes each element,
/// as an equality lookup matches any of them; a missing field is null).
pub fn groups(counter: &CounterDesc, doc: &[u8]) -> Result<Vec<Vec<u8>>> {
    Ok(described_groups(counter, doc)?.into_iter().map(|(g, _)| g).collect())
}

/// [`groups`], each with its values as a message shows them (`author = "ann"`).
pub fn described_groups(counter: &CounterDesc, doc: &[u8]) -> Result<Vec<(Vec<u8>, String)>> {
    let mut out: Vec<(Vec<u8>, String)> = vec![(Vec::new(), String::new())];
    for path in counter.fields {
        let mut values: Vec<(Vec<u8>, String)> = Vec::new();
        let mut push = |v: &Value| values.push((encoded(v), format!("{path} = {v}")));
        for leaf in crate::plan::eval::values_at(doc, path)? {
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

/// The counter that answers a count of `plan` on `m`, and the groups whose sum is the count:
/// the plan is exactly one equality on each field of a declared grouping (no other condition,
/// no offset or limit), each on a scalar value. A number also matches the same number stored
/// as a decimal, which keeps a group of its own.
pub fn answering(m: &'static ModelDesc, plan: &crate::plan::Plan) -> Option<(&'static CounterDesc, Vec<Vec<u8>>)> {
    use crate::plan::Op;
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

/// The counter groups a write moves a record between: `-1` for each group of the old
/// document not in the new one, `+1` the other way (a write that keeps its groups changes
/// nothing).
pub fn moves(counter: &CounterDesc, old: Option<&[u8]>, new: Option<&[u8]>) -> Result<Vec<(Vec<u8>, i64)>> {
    let old = match old {
        Some(d) => groups(counter, d)?,
        None => Vec::new(),
    };
    let new = match new {
        Some(d) => groups(counter, d)?,
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for g in &old {
        if !new.contains(g) {
            out.push((g.clone(), -1));
        }
    }
    for g in new {
        if !old.contains(&g) {
            out.push((g, 1));
        }
    }
    Ok(out)
}

/// A stored group's bytes, for a message about a group no record belongs to.
pub fn hex(group: &[u8]) -> String {
    group.iter().map(|b| format!("{b:02x}")).collect()
}
