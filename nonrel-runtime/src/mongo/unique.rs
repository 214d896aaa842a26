//! Unique indexes on MongoDB with SQL's semantics for null: a missing field or null
//! (`None`) never clashes with another, a value clashes with the same value.
//!
//! A plain unique index on MongoDB indexes a missing field and null as null, so two records
//! without a value would clash, while the embedded backend does not index null at all. The
//! index is therefore partial: it covers only the records whose field holds a value of a
//! non-null type (`partialFilterExpression: {field: {$type: [...]}}`; `$exists` would not
//! do, since `None` is stored as an explicit null). Through a list, a record is covered when
//! an element is a value, and an empty list is not covered, as on the embedded backend.
//!
//! A query planner uses a partial index only for a query it can prove implies the index's
//! filter, and neither MongoDB nor SecantusDB derives `$type` from an equality, so the
//! partial index never serves `{field: {$eq: v}}`. Each unique field therefore also gets a
//! plain index on `{field: 1, _id: 1}` (named [`lookup_name`]) that serves queries, updates
//! and counts by the field; without it they scan the collection.

use crate::core::value::Value;
use crate::schema::model::IndexDesc;

/// Every BSON type but null, undefined, MinKey and MaxKey, by the names `$type` takes.
/// `array` is left out: `$type` looks into a list's elements, so a list holding a value is
/// covered through that value, and an empty list is not covered.
const VALUE_TYPES: &[&str] = &[
    "double",
    "string",
    "object",
    "binData",
    "objectId",
    "bool",
    "date",
    "regex",
    "dbPointer",
    "javascript",
    "symbol",
    "int",
    "timestamp",
    "long",
    "decimal",
];

/// The `createIndexes` specification of a declared index: named after its path, and partial
/// when unique.
pub(super) fn spec(i: &IndexDesc) -> Value {
    let mut spec = vec![
        ("key".into(), Value::Document(vec![(i.path.into(), Value::Int32(1))])),
        ("name".into(), Value::String(i.path.into())),
        ("unique".into(), Value::Bool(i.unique)),
    ];
    if i.unique {
        let types = Value::Array(VALUE_TYPES.iter().map(|t| Value::String((*t).into())).collect());
        let filter = Value::Document(vec![(i.path.into(), Value::Document(vec![("$type".into(), types)]))]);
        spec.push(("partialFilterExpression".into(), filter));
    }
    Value::Document(spec)
}

/// The name of a declared compound index: its parts as written (`category,-created`).
pub(super) fn compound_name(c: &crate::schema::model::CompoundIndexDesc) -> String {
    let parts: Vec<String> =
        c.parts.iter().map(|p| format!("{}{}", if p.descending { "-" } else { "" }, p.path)).collect();
    parts.join(",")
}

/// The `createIndexes` specification of a declared compound index, the key last (ties are
/// ordered by key ascending).
pub(super) fn compound_spec(c: &crate::schema::model::CompoundIndexDesc) -> Value {
    let mut key: Vec<(String, Value)> =
        c.parts.iter().map(|p| (p.path.into(), Value::Int32(if p.descending { -1 } else { 1 }))).collect();
    key.push(("_id".into(), Value::Int32(1)));
    Value::Document(vec![("key".into(), Value::Document(key)), ("name".into(), Value::String(compound_name(c)))])
}

/// The name of the plain index that serves queries by a unique field (see the module's
/// documentation): the path, then ` lookup` (a space, which no field name of the derive holds).
pub(super) fn lookup_name(path: &str) -> String {
    format!("{path} lookup")
}

/// The `createIndexes` specifications of a declared index: [`spec`], and for a unique index
/// also the plain `{path: 1, _id: 1}` index that queries by the field can use.
pub(super) fn specs(i: &IndexDesc) -> Vec<Value> {
    let mut out = vec![spec(i)];
    if i.unique {
        let key = vec![(i.path.into(), Value::Int32(1)), ("_id".into(), Value::Int32(1))];
        out.push(Value::Document(vec![
            ("key".into(), Value::Document(key)),
            ("name".into(), Value::String(lookup_name(i.path))),
        ]));
    }
    out
}

/// The names of the indexes [`specs`] creates for a declared index.
pub(super) fn names(i: &IndexDesc) -> Vec<String> {
    let mut out = vec![i.path.to_string()];
    if i.unique {
        out.push(lookup_name(i.path));
    }
    out
}

/// Whether `createIndexes` failed because an index of the same name exists with other
/// options (a unique index created before it was made partial): `IndexOptionsConflict` or
/// `IndexKeySpecsConflict`.
pub(super) fn is_conflict(e: &mongodb::error::Error) -> bool {
    matches!(e.kind.as_ref(), mongodb::error::ErrorKind::Command(c) if c.code == 85 || c.code == 86)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_indexes_leave_null_out() {
        let unique = spec(&IndexDesc { path: "email", unique: true, covering: false, counted: false });
        let Value::Document(fields) = &unique else { panic!("a document") };
        let (_, filter) = fields.iter().find(|(n, _)| n == "partialFilterExpression").expect("partial");
        let text = filter.to_string();
        assert!(text.contains("email") && text.contains("$type") && text.contains("string"), "{text}");
        assert!(!text.contains("\"null\""), "{text}");
        let plain = spec(&IndexDesc { path: "title", unique: false, covering: false, counted: false });
        let Value::Document(fields) = &plain else { panic!("a document") };
        assert!(fields.iter().all(|(n, _)| n != "partialFilterExpression"));
    }

    #[test]
    fn unique_indexes_come_with_a_plain_index_for_lookups() {
        let unique = IndexDesc { path: "email", unique: true, covering: false, counted: false };
        let all = specs(&unique);
        assert_eq!(all.len(), 2);
        let Value::Document(fields) = &all[1] else { panic!("a document") };
        assert!(fields.iter().all(|(n, _)| n != "partialFilterExpression" && n != "unique"));
        assert_eq!(names(&unique), ["email", "email lookup"]);
        let plain = IndexDesc { path: "title", unique: false, covering: false, counted: false };
        assert_eq!((specs(&plain).len(), names(&plain)), (1, vec!["title".to_string()]));
    }
}
