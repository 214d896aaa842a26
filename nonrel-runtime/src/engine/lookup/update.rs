//! Index fields kept current by atomic updates that set a field with declared lookups.

use super::rewrite::index_field;
use super::{LookupDesc, LookupKind};
use crate::backend::{UpdateKind, UpdateOp};
use crate::core::value::Value;
use crate::error::Result;
use crate::schema::lookup::compute::{compiled, date_parts, grams, lower, reversed};
use std::borrow::Cow;

/// Adds, for every `set` of a field with declared lookups, the `set`s of its index fields
/// (computed from the new value as a save computes them; null when the value is null).
pub(crate) fn derived_updates(lookups: &[LookupDesc], ops: &mut Vec<UpdateOp>) -> Result<()> {
    let mut derived = Vec::new();
    for op in ops.iter().filter(|o| o.kind == UpdateKind::Set) {
        let declared: Vec<&LookupDesc> = lookups.iter().filter(|l| l.field == op.path).collect();
        if declared.is_empty() {
            continue;
        }
        for (suffix, value) in index_values(&declared, &op.value)? {
            let path = Cow::Owned(index_field(&op.path, suffix));
            derived.push(UpdateOp { path, kind: UpdateKind::Set, value });
        }
    }
    ops.extend(derived);
    Ok(())
}

fn string(s: String) -> Value {
    Value::String(s)
}

/// The index fields of one field's declarations for `value`, by suffix.
fn index_values(declared: &[&LookupDesc], value: &Value) -> Result<Vec<(&'static str, Value)>> {
    let has = |k: LookupKind| declared.iter().any(|l| l.kind == k);
    let mut out = Vec::new();
    let text = value.as_str();
    if has(LookupKind::IExact) || has(LookupKind::IStartsWith) || has(LookupKind::IContains) {
        out.push(("lower", text.map_or(Value::Null, |t| string(lower(t)))));
    }
    if has(LookupKind::IContains) {
        let g = text.map(|t| Value::Array(grams(&lower(t)).into_iter().map(string).collect()));
        out.push(("grams", g.unwrap_or(Value::Null)));
    }
    if has(LookupKind::EndsWith) {
        out.push(("rev", text.map_or(Value::Null, |t| string(reversed(t)))));
    }
    if has(LookupKind::Regex) {
        let mut matched = Vec::new();
        for p in declared.iter().filter_map(|l| l.pattern) {
            if let Some(t) = text {
                if compiled(p)?.is_match(t) {
                    matched.push(string(p.to_owned()));
                }
            }
        }
        out.push(("regex", if text.is_some() { Value::Array(matched) } else { Value::Null }));
    }
    if has(LookupKind::Search) {
        let w = text.map(|t| Value::Array(crate::schema::lookup::words::words(t).into_iter().map(string).collect()));
        out.push(("words", w.unwrap_or(Value::Null)));
    }
    let parts = match value {
        Value::DateTime(d) => Some(date_parts(d)),
        _ => None,
    };
    let kinds = [
        (LookupKind::Year, "year"),
        (LookupKind::Month, "month"),
        (LookupKind::Day, "day"),
        (LookupKind::WeekDay, "week_day"),
    ];
    for (i, (kind, suffix)) in kinds.into_iter().enumerate() {
        if has(kind) {
            out.push((suffix, parts.map_or(Value::Null, |p| Value::Int32(p[i]))));
        }
    }
    Ok(out)
}
