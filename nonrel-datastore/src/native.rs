//! What of a plan Datastore runs itself: equality and `in` on indexed properties. The rest
//! of the plan runs in nonrel's evaluator on the entities the native query returns.

use crate::entity::{key_json, object, MAX_INDEXED_STRING};
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
#[derive(Clone)]
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
                let values = object([("values", Json::Array(vals))]);
                parts.push(property_filter(&f.path, "IN", object([("arrayValue", values)])));
            }
            _ => exact = false,
        }
    }
    let filter = match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(and_filter(parts)),
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
    let property = object([("name", Json::from(path))]);
    object([("propertyFilter", object([("property", property), ("op", Json::from(op)), ("value", value)]))])
}

/// The composite filter of `parts` ANDed.
fn and_filter(parts: Vec<Json>) -> Json {
    object([("compositeFilter", object([("op", Json::from("AND")), ("filters", Json::Array(parts))]))])
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

/// [`query_json`] as the text of a `runQuery` body, `{"query": …}`, with `more` (a
/// filter's JSON text) ANDed to the native filter and the read options of transaction `tx`
/// when given. Written without building the query as a JSON value: the native filter's
/// parts and its order are serialized where they are.
pub fn write_run_query(
    m: &ModelDesc,
    native: &Native,
    more: Option<&str>,
    keys_only: bool,
    limit: Option<usize>,
    cursor: Option<&str>,
    tx: Option<&str>,
) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str("{\"query\":{\"kind\":[{\"name\":");
    nonrel_runtime::json::write_json_str(m.collection, &mut out);
    out.push_str("}]");
    let mut out = out.into_bytes();
    let parts: &[Json] = match &native.filter {
        None => &[],
        Some(f) => match f["compositeFilter"]["filters"].as_array() {
            Some(parts) if more.is_some() => parts,
            _ => std::slice::from_ref(f),
        },
    };
    match more {
        None if parts.is_empty() => {}
        Some(more) if parts.is_empty() => {
            out.extend_from_slice(b",\"filter\":");
            out.extend_from_slice(more.as_bytes());
        }
        None => {
            out.extend_from_slice(b",\"filter\":");
            serde_json::to_writer(&mut out, &parts[0]).expect("JSON values serialize");
        }
        Some(more) => {
            out.extend_from_slice(b",\"filter\":{\"compositeFilter\":{\"op\":\"AND\",\"filters\":[");
            for part in parts {
                serde_json::to_writer(&mut out, part).expect("JSON values serialize");
                out.push(b',');
            }
            out.extend_from_slice(more.as_bytes());
            out.extend_from_slice(b"]}}");
        }
    }
    if keys_only {
        out.extend_from_slice(b",\"projection\":[{\"property\":{\"name\":\"__key__\"}}]");
    }
    if !native.order.is_empty() {
        out.extend_from_slice(b",\"order\":");
        serde_json::to_writer(&mut out, &native.order).expect("JSON values serialize");
    }
    let mut text = String::from_utf8(out).expect("JSON text is UTF-8");
    if let Some(n) = limit {
        text.push_str(",\"limit\":");
        text.push_str(&n.to_string());
    }
    if let Some(c) = cursor {
        text.push_str(",\"startCursor\":");
        nonrel_runtime::json::write_json_str(c, &mut text);
    }
    text.push('}');
    if let Some(t) = tx {
        text.push_str(",\"readOptions\":{\"transaction\":");
        nonrel_runtime::json::write_json_str(t, &mut text);
        text.push('}');
    }
    text.push('}');
    text.into_bytes()
}

/// [`key_filter`] as JSON text appended to `out`.
pub fn write_key_filter(kind: &str, op: &str, key: &nonrel_runtime::KeyValue, out: &mut String) {
    out.push_str("{\"propertyFilter\":{\"property\":{\"name\":\"__key__\"},\"op\":");
    nonrel_runtime::json::write_json_str(op, out);
    out.push_str(",\"value\":{\"keyValue\":");
    crate::entity::write_key_json(kind, key, out);
    out.push_str("}}}");
}

/// Whether Datastore's own result order (by key) is nonrel's key order for this model:
/// automatic keys are all ids, compared as numbers.
pub fn key_order_native(m: &ModelDesc, plan: &Plan) -> bool {
    plan.order.is_empty() && m.key.kind == KeyKind::Auto
}

/// A filter on the key: `op` is `GREATER_THAN`, `EQUAL`, ….
pub fn key_filter(kind: &str, op: &str, key: &nonrel_runtime::KeyValue) -> Json {
    property_filter("__key__", op, object([("keyValue", key_json(kind, key))]))
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
pub fn and(native: Native, more: Vec<Json>) -> Native {
    let mut parts = match native.filter {
        None => Vec::new(),
        Some(mut f) => match f.get_mut("compositeFilter").and_then(|c| c.get_mut("filters")).map(Json::take) {
            Some(Json::Array(parts)) => parts,
            _ => vec![f],
        },
    };
    parts.extend(more);
    let filter = if parts.len() == 1 { parts.pop() } else { Some(and_filter(parts)) };
    Native { filter, ..native }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nonrel_runtime::{Key, KeyValue, Model, ObjectId};

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

    /// The `runQuery` body written as text is the JSON of [`query_json`] with the extra
    /// filter ANDed by [`and`] and the read options, for every combination of filter shape,
    /// extra key filter (ids, names needing escapes, marked names, ObjectIds), projection,
    /// order, limit, cursor and transaction.
    #[test]
    fn run_query_text_is_the_query_json() {
        let on = |path: &'static str, op: Op| Filter { path: path.into(), op };
        let s = |t: &str| Value::String(t.into());
        let filter_sets: Vec<Vec<Filter>> = vec![
            vec![],
            vec![on("kind", Op::Eq(s("memo")))],
            vec![on("kind", Op::Eq(s("a \"quoted\" \\ kind\n"))), on("tags", Op::Has(s("é✓")))],
            vec![on("tags", Op::In(vec![s("x"), s("y"), s("z")]))],
            vec![on("kind", Op::Eq(s("memo"))), on("tags", Op::In(vec![s("x"), s("y")])), on("n", Op::Eq(s("left")))],
        ];
        let keys = [
            None,
            Some(KeyValue::Int(7)),
            Some(KeyValue::Int(-3)),
            Some(KeyValue::Str("plain".into())),
            Some(KeyValue::Str("with \"quotes\" and \\ and \u{1}".into())),
            Some(KeyValue::Str("__reserved__".into())),
            Some(KeyValue::ObjectId(ObjectId::from_bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]))),
        ];
        let order = vec![json!({"property": {"name": "kind"}, "direction": "DESCENDING"})];
        let mut checked = 0;
        for filters in &filter_sets {
            for ordered in [false, true] {
                let mut native = translate(Note::DESC, filters);
                if ordered {
                    native.order = order.clone();
                }
                for key in &keys {
                    let mut more = String::new();
                    if let Some(k) = key {
                        write_key_filter("native_notes", "GREATER_THAN", k, &mut more);
                        let parsed: Json = serde_json::from_str(&more).expect("the key filter is JSON");
                        assert_eq!(parsed, key_filter("native_notes", "GREATER_THAN", k));
                    }
                    let expected_native = match key {
                        Some(k) => and(native.clone(), vec![key_filter("native_notes", "GREATER_THAN", k)]),
                        None => native.clone(),
                    };
                    for keys_only in [false, true] {
                        for limit in [None, Some(11)] {
                            for cursor in [None, Some("Cj4\"cursor/+=")] {
                                for tx in [None, Some("tx\\\"1")] {
                                    let text = write_run_query(
                                        Note::DESC,
                                        &native,
                                        key.as_ref().map(|_| more.as_str()),
                                        keys_only,
                                        limit,
                                        cursor,
                                        tx,
                                    );
                                    let got: Json = serde_json::from_slice(&text).expect("the body is JSON");
                                    let mut expected = json!({
                                        "query": query_json(Note::DESC, &expected_native, keys_only, limit, cursor)
                                    });
                                    if let Some(t) = tx {
                                        expected["readOptions"] = json!({"transaction": t});
                                    }
                                    assert_eq!(got, expected, "{}", String::from_utf8_lossy(&text));
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 5 * 2 * 7 * 16);
    }
}
