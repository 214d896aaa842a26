//! What of a plan Datastore runs itself: equality and `in` on indexed properties. The rest
//! of the plan runs in nonrel's evaluator on the entities the native query returns.

use crate::entity::{key_json, MAX_INDEXED_STRING};
use nonrel_runtime::query::{Direction, Filter, Op, Plan};
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
        || m.compound_indexes.iter().any(|c| c.parts.iter().any(|p| under(p.path)))
        || (top == dotted
            && (top.starts_with("_ix_") || top.starts_with("_dn_") || top == nonrel_runtime::poly::CLASS_FIELD))
        || (top == dotted && m.fields.iter().any(|f| f.name == top && f.ty.contains("Ref<")))
}

/// The other models of `m`'s collection. A written property is indexed when any model of
/// the collection indexes it: the classes of a polymorphic hierarchy share a collection and
/// may declare different indexes (a subclass redeclaring the base's fields without its
/// index), and a query of the base filters or orders on what the base indexes, so every
/// class's records index it too.
pub fn collection_peers(m: &ModelDesc) -> &'static [&'static ModelDesc] {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static BY_COLLECTION: OnceLock<HashMap<&'static str, Vec<&'static ModelDesc>>> = OnceLock::new();
    let by_collection = BY_COLLECTION.get_or_init(|| {
        let mut map: HashMap<&'static str, Vec<&'static ModelDesc>> = HashMap::new();
        for d in nonrel_runtime::registered_models() {
            map.entry(d.collection).or_default().push(d);
        }
        // A collection of one model has no peers to consult.
        map.retain(|_, models| models.len() > 1);
        map
    });
    by_collection.get(m.collection).map_or(&[], Vec::as_slice)
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
    /// The properties with a native equality filter.
    pub props: Vec<String>,
    /// The query's sort orders (none: key order).
    pub order: Vec<Json>,
}

/// The query of every entity of a kind, in key order.
pub fn everything() -> Native {
    Native { filter: None, exact: true, has_in: false, props: Vec::new(), order: Vec::new() }
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
    let props = if has_in { Vec::new() } else { used.iter().map(|p| p.to_string()).collect() };
    Native { filter, exact, has_in, props, order: Vec::new() }
}

/// The Rust types of fields whose stored values Datastore orders as nonrel does and always
/// indexes: strings (byte order), booleans and integers. Dates are not among them (a date
/// outside years 1–9999 is stored unindexed, and an ordered query would leave it out), nor
/// are `Option`s (a field another program left out is missing from the index too).
const ORDERABLE: &[&str] = &["String", "bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32"];

/// Whether a field's stored values are ones Datastore orders as nonrel does (see
/// [`ORDERABLE`]); it must also be indexed to be ordered natively.
fn orderable_type(m: &ModelDesc, path: &str) -> bool {
    !path.contains('.') && m.fields.iter().any(|f| f.name == path && ORDERABLE.contains(&f.ty))
}

/// How the plan's order runs when Datastore runs all of its filters.
#[derive(Debug, PartialEq)]
pub enum Order {
    /// Datastore returns the results in the plan's order (its `order` terms; none for key
    /// order), so a limit and a page's position can be sent natively.
    Native(Vec<Json>),
    /// The evaluator sorts every match; with the declaration that would let Datastore order
    /// them, when one would.
    Evaluator(Option<String>),
}

/// Whether Datastore can return the plan's matches in the plan's order: key order (with
/// automatic keys, whose ids Datastore orders as nonrel does), one indexed orderable field
/// served by its built-in index, or equality filters then orderable fields served by a
/// declared compound index (Datastore's composite index) of exactly those fields.
pub fn plan_order(m: &ModelDesc, plan: &Plan, native: &Native) -> Order {
    if !native.exact || native.has_in || m.key.kind != KeyKind::Auto {
        return Order::Evaluator(None);
    }
    if plan.order.is_empty() {
        return Order::Native(Vec::new());
    }
    if !plan.order.iter().all(|o| orderable_type(m, &o.path)) {
        return Order::Evaluator(None);
    }
    let terms: Vec<(&str, bool)> = plan.order.iter().map(|o| (&*o.path, o.direction == Direction::Desc)).collect();
    // Ties in nonrel's order are by key ascending whatever the direction; Datastore's
    // implicit key order follows the last term's direction, so the key is named.
    let json = terms
        .iter()
        .map(|(p, desc)| json!({"property": {"name": p}, "direction": if *desc { "DESCENDING" } else { "ASCENDING" }}))
        .chain([json!({"property": {"name": "__key__"}, "direction": "ASCENDING"})])
        .collect();
    if terms.len() == 1 && native.props.iter().all(|p| p == terms[0].0) {
        return match is_indexed(m, terms[0].0) {
            true => Order::Native(json),
            false => Order::Evaluator(Some(format!("#[field(index)] on `{}`", terms[0].0))),
        };
    }
    if terms.iter().any(|(p, _)| native.props.iter().any(|q| q == p)) {
        return Order::Evaluator(None);
    }
    let n = native.props.len();
    let covered = m.compound_indexes.iter().any(|c| {
        c.parts.len() == n + terms.len()
            && c.parts[..n].iter().all(|p| native.props.iter().any(|q| q == p.path))
            && c.parts[n..].iter().zip(&terms).all(|(p, (path, desc))| p.path == *path && p.descending == *desc)
    });
    if covered {
        return Order::Native(json);
    }
    let mut parts: Vec<String> = native.props.iter().map(|p| format!("{p:?}")).collect();
    parts.extend(terms.iter().map(|(p, desc)| format!("\"{}{p}\"", if *desc { "-" } else { "" })));
    Order::Evaluator(Some(format!("#[model(compound_index({}))]", parts.join(", "))))
}

/// The `index.yaml` of the composite indexes the models declare, for
/// `gcloud datastore indexes create index.yaml`.
pub fn index_yaml(models: &[&ModelDesc]) -> String {
    let mut out = String::from("indexes:\n");
    for m in models {
        for c in m.compound_indexes {
            out.push_str(&format!("- kind: {}\n  properties:\n", m.collection));
            for p in c.parts {
                out.push_str(&format!("  - name: {}\n", p.path));
                if p.descending {
                    out.push_str("    direction: desc\n");
                }
            }
            // Ties are read by key ascending; after a descending last field Datastore's
            // implicit key order would be descending, so the index names the key.
            if c.parts.last().is_some_and(|p| p.descending) {
                out.push_str("  - name: __key__\n");
            }
        }
    }
    out
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
    if !native.order.is_empty() {
        q["order"] = Json::from(native.order.clone());
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

/// A filter on the key: `op` is `GREATER_THAN`, `EQUAL`, ….
pub fn key_filter(kind: &str, op: &str, key: &nonrel_runtime::KeyValue) -> Json {
    property_filter("__key__", op, json!({"keyValue": key_json(kind, key)}))
}

/// A filter on a property orderable natively (see [`plan_order`]); `None` for a value of
/// another type.
pub fn order_filter(path: &str, op: &str, v: &Value) -> Option<Json> {
    let value = match v {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"booleanValue": b}),
        Value::Int32(n) => json!({"integerValue": n.to_string()}),
        Value::Int64(n) => json!({"integerValue": n.to_string()}),
        _ => return None,
    };
    Some(property_filter(path, op, value))
}

/// `native`'s filter with `more` ANDed to it.
pub fn and(native: &Native, more: Vec<Json>) -> Native {
    let mut parts = match &native.filter {
        None => Vec::new(),
        Some(f) => match f["compositeFilter"]["filters"].as_array() {
            Some(parts) => parts.clone(),
            None => vec![f.clone()],
        },
    };
    parts.extend(more);
    let filter =
        if parts.len() == 1 { parts.pop() } else { Some(json!({"compositeFilter": {"op": "AND", "filters": parts}})) };
    Native {
        filter,
        exact: native.exact,
        has_in: native.has_in,
        props: native.props.clone(),
        order: native.order.clone(),
    }
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
