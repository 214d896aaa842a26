//! The explicit mapping of a model's index, generated from its field descriptors, and the
//! resolution of a filter's path to an indexed field.
//!
//! Text is `keyword` (with a `lower` sub-field under a lowercase normalizer for the
//! case-insensitive lookups), int64 numbers `long`, int32 `integer` inside their wrapper,
//! doubles `double`, booleans `boolean`, dates `date` inside their wrapper, ObjectIds
//! `keyword` inside theirs; embedded models are objects and lists of embedded models
//! `nested`; a reference `Ref<T>` is indexed as the keys of `T` are (automatic keys are
//! ObjectIds here). Everything else (maps, dynamic values, decimals, blobs, fields
//! other programs wrote) stays in `_source` unindexed (`dynamic: false`): queries on them
//! are answered by evaluating the documents.

use crate::convert::KEY_FIELD;
use nonrel_runtime::{FieldDesc, KeyKind, ModelDesc, Shape};
use serde_json::{json, Map, Value as Json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

/// How a scalar field is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `keyword`, plus `.lower`.
    Keyword,
    /// `long`.
    Long,
    /// `integer` at `.$numberInt`.
    Int,
    /// `double`.
    Double,
    /// `boolean`.
    Bool,
    /// `date` at `.$date`.
    Date,
    /// `keyword` at `.$oid`.
    Oid,
}

impl Kind {
    /// The suffix of the indexed sub-field.
    pub fn suffix(self) -> &'static str {
        match self {
            Kind::Int => ".$numberInt",
            Kind::Date => ".$date",
            Kind::Oid => ".$oid",
            _ => "",
        }
    }

    fn mapping(self) -> Json {
        let typed = |t: &str| json!({ "type": t });
        let wrapped = |name: &str, inner: Json| json!({ "properties": { name: inner } });
        match self {
            Kind::Keyword => json!({
                "type": "keyword",
                "fields": {
                    "lower": { "type": "keyword", "normalizer": "nonrel_lower" },
                    "words": { "type": "text" }
                }
            }),
            Kind::Long => typed("long"),
            Kind::Int => wrapped("$numberInt", typed("integer")),
            // Non-finite doubles are stored as `{"$numberDouble": "NaN"}`: kept in `_source`,
            // not indexed (queries on them are evaluated).
            Kind::Double => json!({ "type": "double", "ignore_malformed": true }),
            Kind::Bool => typed("boolean"),
            Kind::Date => {
                wrapped("$date", json!({ "type": "date", "format": "strict_date_optional_time||epoch_millis" }))
            }
            Kind::Oid => wrapped("$oid", typed("keyword")),
        }
    }
}

/// The indexed kind of a Rust type as written, and whether it is a list of it.
fn kind_of(ty: &str) -> (Option<Kind>, bool) {
    let mut ty: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
    let mut list = false;
    loop {
        let unwrapped = ["Option<", "Box<", "Vec<", "std::option::Option<", "std::vec::Vec<"]
            .iter()
            .find_map(|w| ty.strip_prefix(w).and_then(|t| t.strip_suffix('>')).map(|t| (w.contains("Vec"), t)));
        match unwrapped {
            Some((is_vec, inner)) => {
                if is_vec {
                    if list {
                        // A list of lists: not indexed.
                        return (None, true);
                    }
                    list = true;
                }
                ty = inner.to_string();
            }
            None => break,
        }
    }
    let head = ty.split('<').next().unwrap_or_default();
    let name = head.rsplit("::").next().unwrap_or_default();
    if name == "Ref" {
        return (reference_kind(&ty), list);
    }
    let kind = match name {
        "String" | "str" => Kind::Keyword,
        "i64" | "u32" | "u64" | "isize" | "usize" => Kind::Long,
        "i32" | "i16" | "i8" | "u16" | "u8" => Kind::Int,
        "f64" | "f32" => Kind::Double,
        "bool" => Kind::Bool,
        "DateTime" => Kind::Date,
        "ObjectId" => Kind::Oid,
        _ => return (None, list),
    };
    (Some(kind), list)
}

/// The indexed kind of a reference `Ref<Target>`: the kind of the target's keys on this
/// store (automatic keys are ObjectIds here), found among the registered models by the
/// target's name. `None`, and the reference stays unindexed, when no registered model or
/// several with keys of different kinds bear that name.
fn reference_kind(ty: &str) -> Option<Kind> {
    let target = ty.strip_prefix(ty.split('<').next()?)?.strip_prefix('<')?.strip_suffix('>')?;
    let target = target.split('<').next()?.rsplit("::").next()?;
    let mut kinds = nonrel_runtime::registered_models().filter(|m| m.name == target).map(|m| match m.key.kind {
        KeyKind::Auto => Kind::Oid,
        KeyKind::Int => Kind::Long,
        KeyKind::Str => Kind::Keyword,
    });
    let first = kinds.next()?;
    kinds.all(|k| k == first).then_some(first)
}

/// How deep the mapping follows embedded models (a model may hold itself).
const MAX_DEPTH: usize = 8;

fn properties(fields: &[FieldDesc], depth: usize) -> Map<String, Json> {
    let mut props = Map::new();
    for f in fields {
        if depth == 0 && f.name.starts_with('_') {
            continue;
        }
        if let Some(m) = field_mapping(f, depth) {
            props.insert(f.name.to_string(), m);
        }
    }
    props
}

fn field_mapping(f: &FieldDesc, depth: usize) -> Option<Json> {
    match f.shape {
        Shape::Plain => kind_of(f.ty).0.map(Kind::mapping),
        Shape::Nested { fields, .. } if depth < MAX_DEPTH => {
            Some(json!({ "type": "object", "properties": properties(fields(), depth + 1) }))
        }
        Shape::List(Shape::Nested { fields, .. }) if depth < MAX_DEPTH => {
            Some(json!({ "type": "nested", "properties": properties(fields(), depth + 1) }))
        }
        _ => None,
    }
}

/// The settings (the lowercase normalizer) and mappings of a new index.
pub(crate) fn index_body(m: &'static ModelDesc) -> Json {
    json!({
        "settings": {
            "analysis": { "normalizer": { "nonrel_lower": { "type": "custom", "filter": ["lowercase"] } } }
        },
        "mappings": mappings(m)
    })
}

/// Top-level fields that models sharing `m`'s collection declare differently (an `i32` in
/// one, an `f64` in another): left unmapped, so any of their values can be stored, and
/// queried through `eval`.
pub(crate) fn conflicts(m: &'static ModelDesc) -> Arc<HashSet<&'static str>> {
    type Names = Arc<HashSet<&'static str>>;
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Names>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(found) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(m.collection) {
        return found.clone();
    }
    let mut seen: HashMap<&'static str, Option<Json>> = HashMap::new();
    let mut out = HashSet::new();
    let models = nonrel_runtime::registered_models().filter(|o| o.collection == m.collection);
    for model in models.chain(std::iter::once(m)) {
        for f in model.fields {
            let mapping = field_mapping(f, 0);
            match seen.get(f.name) {
                Some(before) if *before != mapping => {
                    out.insert(f.name);
                }
                Some(_) => {}
                None => {
                    seen.insert(f.name, mapping);
                }
            }
        }
    }
    let out = Arc::new(out);
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(m.collection, out.clone());
    out
}

/// The mappings of a model: its fields and the key.
pub(crate) fn mappings(m: &'static ModelDesc) -> Json {
    let skip = conflicts(m);
    let mut props = properties(m.fields, 0);
    props.retain(|name, _| !skip.contains(name.as_str()));
    props.insert(KEY_FIELD.to_string(), json!({ "type": "keyword" }));
    json!({ "dynamic": false, "properties": props })
}

/// A path resolved to an indexed field.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The indexed field's path (with the wrapper suffix).
    pub field: String,
    pub kind: Kind,
    /// Whether a record may hold several values there (a list, or a path through one).
    pub many: bool,
    /// The path of the `nested` list it lies in, if any.
    pub nested: Option<String>,
}

/// Resolves a dotted path of `fields` to an indexed scalar field; `None` when the path is
/// not indexed (not declared, a map or dynamic value, a list index, deeper nesting).
pub(crate) fn resolve(fields: &[FieldDesc], path: &str) -> Option<Resolved> {
    let mut fields = fields;
    let mut nested: Option<String> = None;
    let mut many = false;
    let mut walked = String::new();
    let mut segments = path.split('.').peekable();
    while let Some(seg) = segments.next() {
        let f = fields.iter().find(|f| f.name == seg)?;
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(seg);
        let last = segments.peek().is_none();
        match f.shape {
            Shape::Plain if last => {
                let (kind, list) = kind_of(f.ty);
                return Some(Resolved {
                    field: format!("{walked}{}", kind?.suffix()),

                    kind: kind?,
                    many: many || list,
                    nested,
                });
            }
            Shape::Nested { fields: inner, .. } if !last => fields = inner(),
            Shape::List(Shape::Nested { fields: inner, .. }) if !last && nested.is_none() => {
                nested = Some(walked.clone());
                many = true;
                fields = inner();
            }
            _ => return None,
        }
    }
    None
}

/// The path of the `nested` list at `path` itself (for a condition on one element).
pub(crate) fn nested_list(fields: &[FieldDesc], path: &str) -> Option<&'static [FieldDesc]> {
    let mut fields = fields;
    let mut segments = path.split('.').peekable();
    while let Some(seg) = segments.next() {
        let f = fields.iter().find(|f| f.name == seg)?;
        let last = segments.peek().is_none();
        match f.shape {
            Shape::List(Shape::Nested { fields: inner, .. }) if last => return Some(inner()),
            Shape::Nested { fields: inner, .. } if !last => fields = inner(),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_types_map_to_indexed_kinds() {
        assert_eq!(kind_of("String"), (Some(Kind::Keyword), false));
        assert_eq!(kind_of("Option < Vec<i64> >"), (Some(Kind::Long), true));
        assert_eq!(kind_of("chrono::DateTime<Utc>"), (Some(Kind::Date), false));
        assert_eq!(kind_of("i32"), (Some(Kind::Int), false));
        assert_eq!(kind_of("BTreeMap<String, i64>"), (None, false));
        // No registered model is named `Unknown`: the reference stays unindexed.
        assert_eq!(kind_of("Ref<Unknown>"), (None, false));
        assert_eq!(kind_of("Option<nonrel::Ref<crate::Unknown>>"), (None, false));
        assert_eq!(kind_of("Vec<Vec<i64>>"), (None, true));
    }
}
