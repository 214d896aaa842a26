//! What of a plan Datastore runs itself: equality and `in` on indexed properties. The rest
//! of the plan runs in nonrel's evaluator on the entities the native query returns.

use crate::entity::{key_json, MAX_INDEXED_STRING};
use nonrel_runtime::query::{Filter, Op, Plan};
use nonrel_runtime::{KeyKind, ModelDesc, Value};
use serde_json::{json, Value as Json};

/// Datastore's most values of one `IN` filter.
pub const MAX_IN: usize = 30;

/// The properties nonrel indexes for a model: declared indexes, the index fields of emulated
/// lookups (`_ix_…`), denormalized copies (`_dn_…`), the class field of polymorphic models
/// and references (`Ref` fields, which joins and reverse lookups filter on).
pub fn is_indexed(m: &ModelDesc, dotted: &str) -> bool {
    let under = |p: &str| {
        p == dotted || (p.len() > dotted.len() && p.starts_with(dotted) && p.as_bytes()[dotted.len()] == b'.')
    };
    let top = dotted.split('.').next().unwrap_or(dotted);
    m.indexes.iter().any(|i| under(i.path))
        || (top == dotted
            && (top.starts_with("_ix_") || top.starts_with("_dn_") || top == nonrel_runtime::poly::CLASS_FIELD))
        || (top == dotted && m.fields.iter().any(|f| f.name == top && f.ty.contains("Ref<")))
}

/// The Datastore values equal (in nonrel's sense) to one nonrel value, as stored on an
/// indexed property; `None` when the value cannot be matched natively.
fn equal_values(v: &Value) -> Option<Vec<Json>> {
    Some(match v {
        Value::String(s) if s.len() <= MAX_INDEXED_STRING => vec![json!({"stringValue": s})],
        Value::Bool(b) => vec![json!({"booleanValue": b})],
        Value::DateTime(d) if (1..=9999).contains(&d.format("%Y").to_string().parse::<i32>().unwrap_or(0)) => {
            vec![json!({"timestampValue": d.to_rfc3339_opts(nonrel_runtime::chrono::SecondsFormat::Millis, true)})]
        }
        _ => return None,
    })
}

/// The native part of a plan.
pub struct Native {
    /// The query's filter (`None`: every entity of the kind).
    pub filter: Option<Json>,
    /// Whether the native filter is exactly the plan's filters (nothing left to evaluate).
    pub exact: bool,
    /// Whether the native filter holds an `IN` (whose results Datastore does not return in
    /// key order).
    pub has_in: bool,
}

/// Translates what Datastore can run of the plan's filters: equality to strings, booleans
/// and dates (one value, or up to [`MAX_IN`] in one `IN`) on indexed top-level properties
/// (numbers stay for the evaluator: a decimal, stored unindexed, may equal an integer), which built-in single-property indexes
/// serve without composite indexes. Everything else stays for the evaluator.
pub fn translate(m: &ModelDesc, filters: &[Filter]) -> Native {
    let mut parts = Vec::new();
    let mut exact = true;
    let mut has_in = false;
    let mut used: Vec<&str> = Vec::new();
    for f in filters {
        // One native filter per property: the emulator's planner takes time exponential in
        // the number of equality filters on one multi-valued property (four trigrams of a
        // contains lookup take seconds, seven never finish), so the others are evaluated.
        let fresh = !used.contains(&&*f.path);
        let pushed = (fresh && indexed_path(m, &f.path)).then(|| match &f.op {
            Op::Eq(v) | Op::Has(v) => equal_values(v).map(|vals| (vals, false)),
            Op::In(vs) => {
                let mut all = Vec::new();
                for v in vs {
                    all.extend(equal_values(v)?);
                }
                Some((all, true))
            }
            _ => None,
        });
        match pushed.flatten() {
            Some((vals, _)) if vals.len() == 1 => {
                used.push(&f.path);
                parts.push(property_filter(&f.path, "EQUAL", vals[0].clone()));
            }
            Some((vals, _)) if !vals.is_empty() && vals.len() <= MAX_IN && !has_in => {
                used.push(&f.path);
                has_in = true;
                parts.push(property_filter(&f.path, "IN", json!({"arrayValue": {"values": vals}})));
            }
            _ => exact = false,
        }
    }
    let filter = match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(json!({"compositeFilter": {"op": "AND", "filters": parts}})),
    };
    Native { filter, exact, has_in }
}

fn indexed_path(m: &ModelDesc, path: &str) -> bool {
    // Only a declared path itself (or a top-level reserved field): never a path under a
    // declared one, whose values Datastore may index differently.
    !path.contains('.') && is_indexed(m, path)
}

fn property_filter(path: &str, op: &str, value: Json) -> Json {
    json!({"propertyFilter": {"property": {"name": path}, "op": op, "value": value}})
}

/// The query body: the kind, the native filter, optionally keys only and a limit.
pub fn query_json(m: &ModelDesc, native: &Native, keys_only: bool, limit: Option<usize>, cursor: Option<&str>) -> Json {
    let mut q = json!({"kind": [{"name": m.collection}]});
    if let Some(f) = &native.filter {
        q["filter"] = f.clone();
    }
    if keys_only {
        q["projection"] = json!([{"property": {"name": "__key__"}}]);
    }
    if let Some(n) = limit {
        q["limit"] = Json::from(n);
    }
    if let Some(c) = cursor {
        q["startCursor"] = Json::from(c);
    }
    q
}

/// Whether Datastore's own result order (by key) is nonrel's key order for this model:
/// automatic keys are all ids, compared as numbers.
pub fn key_order_native(m: &ModelDesc, plan: &Plan) -> bool {
    plan.order.is_empty() && m.key.kind == KeyKind::Auto
}

/// A key filter for one key (used to re-read a query's rows in a transaction).
#[allow(dead_code)]
pub fn key_filter(kind: &str, key: &nonrel_runtime::KeyValue) -> Json {
    property_filter("__key__", "EQUAL", json!({"keyValue": key_json(kind, key)}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nonrel_runtime::{Key, Model};

    #[derive(Model)]
    #[model(collection = "native_notes")]
    struct Note {
        #[field(key)]
        id: Option<Key<Note>>,
        #[field(index)]
        tags: Vec<String>,
        #[field(index)]
        kind: String,
    }

    fn names(native: &Native) -> Vec<String> {
        let filter = native.filter.clone().expect("a native filter");
        let parts = match filter["compositeFilter"]["filters"].as_array() {
            Some(parts) => parts.clone(),
            None => vec![filter],
        };
        parts.iter().map(|p| p["propertyFilter"]["property"]["name"].as_str().unwrap().to_string()).collect()
    }

    /// The trigrams of a contains lookup are several `has` on one list: one is sent, the
    /// others are left to the evaluator (the emulator's planner is exponential in them).
    #[test]
    fn one_native_filter_per_property() {
        let on = |path: &'static str, op: Op| Filter { path: path.into(), op };
        let mut filters: Vec<Filter> =
            ["own", "wne", "ner", "ers", "rsh"].map(|g| on("tags", Op::Has(Value::String(g.into())))).into();
        filters.push(on("kind", Op::Eq(Value::String("memo".into()))));
        filters.push(on("kind", Op::In(vec![Value::String("memo".into()), Value::String("note".into())])));
        let native = translate(Note::DESC, &filters);
        assert_eq!(names(&native), ["tags", "kind"]);
        assert!(!native.exact, "the other filters are evaluated");
        let native = translate(Note::DESC, &filters[..1]);
        assert_eq!(names(&native), ["tags"]);
        assert!(native.exact);
    }
}
