//! Plans to Query DSL: what the cluster answers exactly is sent as `term`, `terms`, `range`,
//! `prefix`, `wildcard` and `nested` queries, always with literal values (never query
//! strings or scripts); the rest is evaluated with `query::eval` on the documents the native
//! part returns, so the answers are those of every other backend.
//!
//! A condition is translated only where the cluster's meaning is the runtime's: the field is
//! indexed with the kind its model declares and the operand is of the same type class
//! (a string on a `keyword`, an integer on a `long`, …). Null, NaN and zero on doubles
//! (`-0.0` and `0.0` are equal to the runtime, two points to Lucene), whole lists and
//! documents, and fields the mapping does not index stay with `eval`. Case-insensitive
//! lookups with an ASCII operand run on the `lower` normalizer as a pre-filter (Lucene's
//! lowercasing and Rust's differ on a few non-ASCII letters), and `eval` decides.

use crate::mapping::{nested_list, resolve, Kind, Resolved};
use nonrel_runtime::query::{Direction, Filter, Lookup, Op, OrderBy};
use nonrel_runtime::{FieldDesc, ModelDesc, Value};
use serde_json::{json, Value as Json};

/// The native part of a plan's filters.
#[derive(Debug, Default)]
pub(crate) struct Native {
    /// Clauses every hit must match.
    pub must: Vec<Json>,
    /// Clauses no hit may match.
    pub must_not: Vec<Json>,
    /// Whether the clauses are the whole condition (otherwise the hits are candidates).
    pub exact: bool,
    /// Clauses that only score the hits (full-text `search`: relevance is `_score`).
    pub score: Vec<Json>,
}

impl Native {
    /// The `query` of a search.
    pub fn query(&self) -> Json {
        if self.must.is_empty() && self.must_not.is_empty() && self.score.is_empty() {
            return json!({ "match_all": {} });
        }
        if !self.score.is_empty() {
            // Beside `filter`, `should` clauses match nothing away: they only score.
            let (filter, must_not, should) = (&self.must, &self.must_not, &self.score);
            return json!({ "bool": { "filter": filter, "must_not": must_not, "should": should, "minimum_should_match": 0 } });
        }
        json!({ "bool": { "filter": self.must, "must_not": self.must_not } })
    }
}

/// Translates all filters of a plan on `fields`.
pub(crate) fn filters(m: &'static ModelDesc, filters: &[Filter]) -> Native {
    let skip = crate::mapping::conflicts(m);
    let mut native = Native { exact: true, ..Native::default() };
    for f in filters {
        let top = f.path.split('.').next().unwrap_or_default();
        if let (Op::Lookup(Lookup::Search(q)), false) = (&f.op, skip.contains(top)) {
            if let Some((filter, score)) = search(m.fields, &f.path, q) {
                native.must.extend(filter);
                native.score.push(score);
            }
            // The words are decided by `eval` (Lucene's analysis is not the runtime's).
            native.exact = false;
            continue;
        }
        let clause = if skip.contains(top) { None } else { translate(m.fields, f) };
        match clause {
            Some(Clause { must, must_not, exact }) => {
                native.must.extend(must);
                native.must_not.extend(must_not);
                native.exact &= exact;
            }
            None => native.exact = false,
        }
    }
    native
}

struct Clause {
    must: Vec<Json>,
    must_not: Vec<Json>,
    exact: bool,
}

impl Clause {
    fn must(q: Json) -> Self {
        Clause { must: vec![q], must_not: vec![], exact: true }
    }
}

/// Wraps a query on a field inside a `nested` list in a `nested` query.
fn wrap(r: &Resolved, q: Json) -> Json {
    match &r.nested {
        Some(path) => json!({ "nested": { "path": path, "query": q } }),
        None => q,
    }
}

/// The operand as the indexed field holds it, when the field's meaning is the runtime's.
fn literal(kind: Kind, v: &Value) -> Option<Json> {
    match (kind, v) {
        (Kind::Keyword, Value::String(s)) => Some(json!(s)),
        (Kind::Long | Kind::Int, Value::Int32(n)) => Some(json!(n)),
        (Kind::Long | Kind::Int, Value::Int64(n)) => Some(json!(n)),
        (Kind::Double, Value::Int32(n)) if *n != 0 => Some(json!(f64::from(*n))),
        (Kind::Double, Value::Int64(n)) if *n != 0 && n.unsigned_abs() < (1 << 53) => Some(json!(*n as f64)),
        (Kind::Double, Value::Double(f)) if f.is_finite() && *f != 0.0 => Some(json!(f)),
        (Kind::Bool, Value::Bool(b)) => Some(json!(b)),
        // Dates as ISO text: a number in a `term` is not read as epoch milliseconds by every
        // server.
        (Kind::Date, Value::DateTime(d)) if (0..=9999).contains(&chrono::Datelike::year(d)) => {
            Some(json!(d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
        }
        (Kind::Oid, Value::ObjectId(o)) => Some(json!(o.to_hex())),
        _ => None,
    }
}

fn translate(fields: &[FieldDesc], f: &Filter) -> Option<Clause> {
    if let Op::ElemMatch(inner) = &f.op {
        return elem_match(fields, &f.path, inner);
    }
    let r = resolve(fields, &f.path)?;
    let term = |v: &Value| literal(r.kind, v).map(|v| json!({ "term": { r.field.clone(): v } }));
    let range = |op: &str, v: &Value| {
        // Booleans have no range; non-finite doubles are kept unindexed, so a range would
        // miss infinities.
        if matches!(r.kind, Kind::Bool | Kind::Double) {
            return None;
        }
        literal(r.kind, v).map(|v| wrap(&r, json!({ "range": { r.field.clone(): { op: v } } })))
    };
    Some(match &f.op {
        Op::Eq(v) | Op::Has(v) => Clause::must(wrap(&r, term(v)?)),
        Op::Ne(v) => Clause { must: vec![], must_not: vec![wrap(&r, term(v)?)], exact: true },
        Op::In(vs) => {
            let values: Option<Vec<Json>> = vs.iter().map(|v| literal(r.kind, v)).collect();
            let values = values?;
            if values.is_empty() {
                Clause::must(json!({ "match_none": {} }))
            } else {
                Clause::must(wrap(&r, json!({ "terms": { r.field.clone(): values } })))
            }
        }
        Op::Gt(v) => Clause::must(range("gt", v)?),
        Op::Gte(v) => Clause::must(range("gte", v)?),
        Op::Lt(v) => Clause::must(range("lt", v)?),
        Op::Lte(v) => Clause::must(range("lte", v)?),
        // Through a list, each bound may hold on a different element: two clauses.
        Op::Range(lo, hi) => Clause { must: vec![range("gte", lo)?, range("lte", hi)?], must_not: vec![], exact: true },
        // Null or missing: exact for a field that holds one value (an empty list is not null).
        Op::IsNull(true) if !r.many && r.kind != Kind::Double => {
            Clause { must: vec![], must_not: vec![json!({ "exists": { "field": r.field } })], exact: true }
        }
        Op::IsNull(false) if !r.many && r.kind != Kind::Double => {
            Clause::must(json!({ "exists": { "field": r.field } }))
        }
        Op::StartsWith(p) if r.kind == Kind::Keyword && !p.is_empty() => {
            Clause::must(wrap(&r, json!({ "prefix": { r.field.clone(): { "value": p } } })))
        }
        Op::Contains(s) if r.kind == Kind::Keyword && !s.is_empty() => {
            Clause::must(wrap(&r, json!({ "wildcard": { r.field.clone(): { "value": format!("*{}*", escape(s)) } } })))
        }
        Op::Lookup(l) if r.kind == Kind::Keyword => {
            let lower = format!("{}.lower", r.field);
            let q = match l {
                Lookup::IExact(s) if s.is_ascii() => json!({ "term": { lower: s.to_ascii_lowercase() } }),
                Lookup::IStartsWith(s) if s.is_ascii() && !s.is_empty() => {
                    json!({ "prefix": { lower: { "value": s.to_ascii_lowercase() } } })
                }
                Lookup::IContains(s) if s.is_ascii() && !s.is_empty() => {
                    json!({ "wildcard": { lower: { "value": format!("*{}*", escape(&s.to_ascii_lowercase())) } } })
                }
                _ => return None,
            };
            Clause { must: vec![wrap(&r, q)], must_not: vec![], exact: false }
        }
        _ => return None,
    })
}

/// Full-text `search(q)` on a text field: a filter every match passes (each ASCII word of the
/// query occurs in the lowercased value, on the `lower` sub-field) and the analyzed `match`
/// on the `words` sub-field that scores the hits (relevance). `eval` then keeps the records
/// holding every word of the query.
fn search(fields: &[FieldDesc], path: &str, q: &str) -> Option<(Vec<Json>, Json)> {
    let r = resolve(fields, path)?;
    if r.kind != Kind::Keyword || r.nested.is_some() {
        return None;
    }
    let lower = format!("{}.lower", r.field);
    let mut filter: Vec<Json> = nonrel_runtime::lookup::words(q)
        .into_iter()
        .filter(|w| w.is_ascii())
        .map(|w| json!({ "wildcard": { lower.clone(): { "value": format!("*{}*", escape(&w)) } } }))
        .collect();
    if filter.is_empty() {
        // Only text matches; and with a filter, the scoring clause is optional everywhere.
        filter.push(json!({ "exists": { "field": r.field } }));
    }
    let score = json!({ "match": { format!("{}.words", r.field): { "query": q } } });
    Some((filter, score))
}

/// A condition on one element of a list of embedded models: one `nested` query holding
/// every inner condition, exact when each of them is.
fn elem_match(fields: &[FieldDesc], path: &str, inner: &[Filter]) -> Option<Clause> {
    let element = nested_list(fields, path)?;
    let mut must = Vec::new();
    let mut must_not = Vec::new();
    let mut exact = true;
    for f in inner {
        let c = translate(element, f)?;
        if c.must.iter().chain(&c.must_not).any(|q| q.get("nested").is_some()) {
            return None;
        }
        must.extend(c.must.into_iter().map(|q| prefix_fields(q, path)));
        must_not.extend(c.must_not.into_iter().map(|q| prefix_fields(q, path)));
        exact &= c.exact;
    }
    let q = json!({ "nested": { "path": path, "query": { "bool": { "filter": must, "must_not": must_not } } } });
    Some(Clause { must: vec![q], must_not: vec![], exact })
}

/// A leaf query on an element's field rewritten onto the list's path.
fn prefix_fields(q: Json, path: &str) -> Json {
    let Json::Object(outer) = q else { return q };
    let mut out = serde_json::Map::new();
    for (op, body) in outer {
        let body = match body {
            Json::Object(inner) if op == "exists" => {
                let mut inner = inner;
                if let Some(Json::String(f)) = inner.get("field").cloned() {
                    inner.insert("field".into(), json!(format!("{path}.{f}")));
                }
                Json::Object(inner)
            }
            Json::Object(inner) => Json::Object(inner.into_iter().map(|(k, v)| (format!("{path}.{k}"), v)).collect()),
            other => other,
        };
        out.insert(op, body);
    }
    Json::Object(out)
}

/// Escapes the wildcard syntax (`*`, `?`, `\`) so the value matches literally.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The native sort of a plan's order, the key breaking ties; `None` when a term is not an
/// indexed field holding one value whose order is the runtime's (doubles are sorted by
/// `eval`: NaN and `-0.0` sort differently in Lucene).
pub(crate) fn sort(m: &'static ModelDesc, order: &[OrderBy], reverse: bool) -> Option<Vec<Json>> {
    let skip = crate::mapping::conflicts(m);
    let mut out = Vec::with_capacity(order.len() + 1);
    for o in order {
        if o.path == nonrel_runtime::lookup::RELEVANCE {
            let desc = (o.direction == Direction::Desc) != reverse;
            out.push(json!({ "_score": { "order": if desc { "desc" } else { "asc" } } }));
            continue;
        }
        if skip.contains(o.path.split('.').next().unwrap_or_default()) {
            return None;
        }
        let r = resolve(m.fields, &o.path)?;
        if r.many || r.nested.is_some() || r.kind == Kind::Double {
            return None;
        }
        let asc = (o.direction == Direction::Asc) != reverse;
        // Null and missing sort before every value ascending, as on MongoDB.
        let (order, missing) = if asc { ("asc", "_first") } else { ("desc", "_last") };
        out.push(json!({ r.field: { "order": order, "missing": missing } }));
    }
    out.push(json!({ crate::convert::KEY_FIELD: { "order": if reverse { "desc" } else { "asc" } } }));
    Some(out)
}

/// A position's value of an ordering term as `search_after` takes it.
pub(crate) fn after_value(fields: &[FieldDesc], o: &OrderBy, v: &Value) -> Option<Json> {
    let r = resolve(fields, &o.path)?;
    match (r.kind, v) {
        (Kind::Bool, Value::Bool(b)) => Some(json!(if *b { 1 } else { 0 })),
        (Kind::Long | Kind::Int, Value::Int32(_) | Value::Int64(_)) => literal(r.kind, v),
        (Kind::Date, Value::DateTime(d)) => Some(json!(d.timestamp_millis())),
        (Kind::Keyword, Value::String(_)) | (Kind::Oid, Value::ObjectId(_)) => literal(r.kind, v),
        _ => None,
    }
}
