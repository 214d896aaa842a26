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

    /// Appends [`query`](Self::query) as JSON text to `out`, without building it as a value
    /// (the clauses are serialized where they are).
    pub fn write_query(&self, out: &mut String) {
        if self.must.is_empty() && self.must_not.is_empty() && self.score.is_empty() {
            out.push_str("{\"match_all\":{}}");
            return;
        }
        let list = |out: &mut String, name: &str, clauses: &[Json]| {
            out.push('"');
            out.push_str(name);
            out.push_str("\":[");
            for (i, c) in clauses.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(c, out);
            }
            out.push(']');
        };
        out.push_str("{\"bool\":{");
        list(out, "filter", &self.must);
        out.push(',');
        list(out, "must_not", &self.must_not);
        if !self.score.is_empty() {
            // Beside `filter`, `should` clauses match nothing away: they only score.
            out.push(',');
            list(out, "should", &self.score);
            out.push_str(",\"minimum_should_match\":0");
        }
        out.push_str("}}");
    }
}

/// Appends a JSON value's text to `out`: a term on one field (`{"term":{"group":3}}`, the
/// common clause) without the serializer's machinery, anything else through it.
fn write_json(v: &Json, out: &mut String) {
    match v {
        Json::Object(outer) if outer.len() == 1 => {
            let (name, inner) = outer.iter().next().expect("one member");
            match inner {
                Json::Object(body) if body.len() == 1 => {
                    let (field, value) = body.iter().next().expect("one member");
                    out.push('{');
                    nonrel_runtime::json::write_json_str(name, out);
                    out.push_str(":{");
                    nonrel_runtime::json::write_json_str(field, out);
                    out.push(':');
                    write_json(value, out);
                    out.push_str("}}");
                }
                _ => out.push_str(&v.to_string()),
            }
        }
        Json::String(s) => nonrel_runtime::json::write_json_str(s, out),
        Json::Number(n) if n.is_i64() => {
            nonrel_runtime::json::write_json_int(n.as_i64().expect("an i64"), out);
        }
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        _ => out.push_str(&v.to_string()),
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
pub(crate) fn sort(m: &'static ModelDesc, order: &[OrderBy], reverse: bool) -> Option<String> {
    let skip = crate::mapping::conflicts(m);
    let mut out = String::with_capacity(48 * (order.len() + 1));
    out.push('[');
    for o in order {
        if o.path == nonrel_runtime::lookup::RELEVANCE {
            let desc = (o.direction == Direction::Desc) != reverse;
            out.push_str(if desc { "{\"_score\":{\"order\":\"desc\"}}," } else { "{\"_score\":{\"order\":\"asc\"}}," });
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
        out.push('{');
        nonrel_runtime::json::write_json_str(&r.field, &mut out);
        out.push_str(if asc {
            ":{\"missing\":\"_first\",\"order\":\"asc\"}},"
        } else {
            ":{\"missing\":\"_last\",\"order\":\"desc\"}},"
        });
    }
    out.push_str("{\"");
    out.push_str(crate::convert::KEY_FIELD);
    out.push_str(if reverse { "\":{\"order\":\"desc\"}}]" } else { "\":{\"order\":\"asc\"}}]" });
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

#[cfg(test)]
mod tests {
    use super::*;
    use nonrel_runtime::Model;

    /// A seeded generator (the conformance kit's): a number below `n`.
    fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut rng = nonrel_runtime::conformance::Rng::new(seed);
        move |n: u64| rng.below_u64(n)
    }

    fn random_json(next: &mut dyn FnMut(u64) -> u64, depth: u32) -> Json {
        const STRINGS: [&str; 6] = ["group", "a.b", "q\"x", "é\u{1}\\", "", "ünï"];
        match if depth > 3 { next(5) } else { next(8) } {
            0 => Json::from(next(u64::MAX) as i64),
            1 => Json::from(STRINGS[next(6) as usize]),
            2 => Json::from(next(2) == 0),
            3 => Json::from(f64::from_bits(next(u64::MAX))),
            4 => Json::Null,
            5 => Json::Array((0..next(3)).map(|_| random_json(next, depth + 1)).collect()),
            _ => Json::Object(
                (0..next(3)).map(|_| (STRINGS[next(6) as usize].to_owned(), random_json(next, depth + 1))).collect(),
            ),
        }
    }

    /// The query's text reads back as the value [`Native::query`] builds, on random clauses
    /// (terms on one field, other shapes, strings to escape, every JSON type).
    #[test]
    fn query_text_is_the_query_value() {
        let mut next = rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..5_000 {
            let clauses = |next: &mut dyn FnMut(u64) -> u64| -> Vec<Json> {
                (0..next(3))
                    .map(|_| match next(3) {
                        0 => json!({ "term": { "group": random_json(next, 3) } }),
                        1 => json!({ "term": { "f\"é": random_json(next, 0) } }),
                        _ => random_json(next, 0),
                    })
                    .collect()
            };
            let native = Native {
                must: clauses(&mut next),
                must_not: clauses(&mut next),
                score: if next(3) == 0 { clauses(&mut next) } else { Vec::new() },
                exact: true,
            };
            let mut text = String::new();
            native.write_query(&mut text);
            let read: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(read, native.query(), "{text}");
        }
    }

    #[derive(Model, Debug, Clone, PartialEq)]
    #[model(collection = "sort_items")]
    struct Item {
        #[field(key)]
        id: i64,
        group: i64,
        name: String,
        score: f64,
        tags: Vec<String>,
        active: bool,
    }

    /// The sort as it was built, as a JSON value.
    fn sort_value(m: &'static ModelDesc, order: &[OrderBy], reverse: bool) -> Option<Vec<Json>> {
        let mut out = Vec::new();
        for o in order {
            if o.path == nonrel_runtime::lookup::RELEVANCE {
                let desc = (o.direction == Direction::Desc) != reverse;
                out.push(json!({ "_score": { "order": if desc { "desc" } else { "asc" } } }));
                continue;
            }
            let r = resolve(m.fields, &o.path)?;
            if r.many || r.nested.is_some() || r.kind == Kind::Double {
                return None;
            }
            let asc = (o.direction == Direction::Asc) != reverse;
            let (order, missing) = if asc { ("asc", "_first") } else { ("desc", "_last") };
            out.push(json!({ r.field: { "order": order, "missing": missing } }));
        }
        out.push(json!({ crate::convert::KEY_FIELD: { "order": if reverse { "desc" } else { "asc" } } }));
        Some(out)
    }

    /// The sort's text is the value it was built as, written compactly, for random orders.
    #[test]
    fn sort_text_is_the_sort_value() {
        let m = <Item as Model>::DESC;
        const PATHS: [&str; 7] = ["group", "name", "score", "tags", "active", "missing", "_score"];
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        let mut written = 0;
        for _ in 0..2_000 {
            let order: Vec<OrderBy> = (0..next(4))
                .map(|_| {
                    let path = PATHS[next(7) as usize];
                    let path = if path == "_score" { nonrel_runtime::lookup::RELEVANCE } else { path };
                    let direction = if next(2) == 0 { Direction::Asc } else { Direction::Desc };
                    OrderBy { path: path.into(), direction }
                })
                .collect();
            let reverse = next(2) == 0;
            let text = sort(m, &order, reverse);
            // Compared as values: serde_json orders an object's members by name or as
            // inserted, depending on its features, and the text need not follow either.
            let read = text.as_deref().map(|t| serde_json::from_str::<Json>(t).unwrap_or_else(|e| panic!("{t}: {e}")));
            assert_eq!(read, sort_value(m, &order, reverse).map(Json::Array), "{order:?}");
            // Compact: as long as serde_json writes the same value.
            if let (Some(t), Some(v)) = (&text, &read) {
                assert_eq!(t.len(), v.to_string().len(), "{t}");
            }
            written += usize::from(text.is_some());
        }
        assert!(written > 200, "{written}");
    }
}
