//! Queries rewritten onto declared index fields, and lookups evaluated on documents.

use super::{Lookup, LookupDesc, LookupKind};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Filter, Op, Plan};
use crate::schema::lookup::compute::{lower, reversed, trigrams};
use crate::schema::model::ModelDesc;
use std::borrow::Cow;

/// The name of the index field holding `suffix` of field `field` (the derive writes the same).
pub(super) fn index_field(field: &str, suffix: &str) -> String {
    format!("_ix_{field}_{suffix}")
}

/// Rewrites every emulated lookup of `plan` the model declares onto its index fields; leaves
/// the others to a backend that runs them natively (`native`, per kind), or fails naming the
/// declaration that is missing.
pub(crate) fn rewrite(
    model: &ModelDesc,
    lookups: &[LookupDesc],
    backend: &str,
    native: impl Fn(LookupKind) -> bool,
    plan: &mut Plan,
) -> Result<()> {
    if !crate::plan::any_filter(&plan.filters, &|f| matches!(f.op, Op::Lookup(_))) {
        return Ok(());
    }
    plan.filters = rewrite_filters(model, lookups, backend, &native, std::mem::take(&mut plan.filters))?;
    Ok(())
}

/// [`rewrite`] on a conjunction of filters, and inside each OR and NOT among them.
fn rewrite_filters(
    model: &ModelDesc,
    lookups: &[LookupDesc],
    backend: &str,
    native: &impl Fn(LookupKind) -> bool,
    filters: Vec<Filter>,
) -> Result<Vec<Filter>> {
    let mut out = Vec::with_capacity(filters.len() + 2);
    for f in filters {
        let l = match f.op {
            Op::Or(branches) => {
                let branches = branches
                    .into_iter()
                    .map(|b| rewrite_filters(model, lookups, backend, native, b))
                    .collect::<Result<_>>()?;
                out.push(Filter { path: f.path, op: Op::Or(branches) });
                continue;
            }
            Op::Not(inner) => {
                let inner = rewrite_filters(model, lookups, backend, native, inner)?;
                out.push(Filter { path: f.path, op: Op::Not(inner) });
                continue;
            }
            Op::Lookup(l) => l,
            op => {
                out.push(Filter { path: f.path, op });
                continue;
            }
        };
        // Full-text search stays native where it is (relevance comes with it).
        let native_search = l.kind() == LookupKind::Search && native(LookupKind::Search);
        if is_declared(lookups, &f.path, &l) && !native_search {
            out.extend(onto_index(&f.path, &l));
        } else if native(l.kind()) {
            out.push(Filter { path: f.path, op: Op::Lookup(l) });
        } else {
            return Err(undeclared(model, lookups, backend, &f.path, &l));
        }
    }
    Ok(out)
}

fn is_declared(lookups: &[LookupDesc], path: &str, l: &Lookup) -> bool {
    lookups.iter().any(|d| {
        d.field == path
            && d.kind == l.kind()
            && match l {
                Lookup::Regex(p) => d.pattern == Some(p.as_str()),
                _ => true,
            }
    })
}

fn undeclared(model: &ModelDesc, lookups: &[LookupDesc], backend: &str, path: &str, l: &Lookup) -> Error {
    let msg = match l {
        Lookup::Regex(p) => {
            let declared: Vec<String> = lookups
                .iter()
                .filter(|d| d.field == path && d.kind == LookupKind::Regex)
                .filter_map(|d| d.pattern.map(|p| format!("{p:?}")))
                .collect();
            let declared = if declared.is_empty() { "none".to_owned() } else { declared.join(", ") };
            format!(
                "the {backend} backend cannot run `regex` with pattern {p:?}: the pattern is not declared \
                 (declared: {declared}); declare it with #[field(index(regex = {p:?}))]"
            )
        }
        _ => format!(
            "the {backend} backend cannot run `{}`: the lookup is not declared; declare it with #[field(index({}))]",
            l.name(),
            l.name()
        ),
    };
    Error::new(ErrorKind::Unsupported, msg).with_model(model.name).with_field(path)
}

fn on(path: &str, suffix: &str, op: Op) -> Filter {
    Filter { path: Cow::Owned(index_field(path, suffix)), op }
}

/// The filters on index fields that answer lookup `l` on field `path`.
fn onto_index(path: &str, l: &Lookup) -> Vec<Filter> {
    let int = |n: i32| Value::Int32(n);
    match l {
        Lookup::IExact(s) => vec![on(path, "lower", Op::Eq(Value::String(lower(s))))],
        Lookup::IStartsWith(s) => vec![on(path, "lower", Op::StartsWith(lower(s)))],
        Lookup::EndsWith(s) => vec![on(path, "rev", Op::StartsWith(reversed(s)))],
        Lookup::IContains(s) => {
            let needle = lower(s);
            if needle.chars().count() <= 3 {
                return vec![on(path, "grams", Op::StartsWith(needle))];
            }
            let mut out: Vec<Filter> =
                trigrams(&needle).into_iter().map(|g| on(path, "grams", Op::Has(Value::String(g)))).collect();
            out.push(on(path, "lower", Op::Contains(needle)));
            out
        }
        Lookup::Regex(p) => vec![on(path, "regex", Op::Has(Value::String(p.clone())))],
        Lookup::Year(n) => vec![on(path, "year", Op::Eq(int(*n)))],
        Lookup::Month(n) => vec![on(path, "month", Op::Eq(int(*n as i32)))],
        Lookup::Day(n) => vec![on(path, "day", Op::Eq(int(*n as i32)))],
        Lookup::WeekDay(n) => vec![on(path, "week_day", Op::Eq(int(*n as i32)))],
        Lookup::Search(q) => super::search::onto_words(path, q, |suffix, op| on(path, suffix, op)),
    }
}

/// Whether the grams of a value answer a short `icontains` exactly as the lookup does (used
/// by the unit tests to hold the two definitions together).
#[cfg(test)]
fn short_needle_by_grams(value: &str, needle: &str) -> bool {
    crate::schema::lookup::compute::grams(&lower(value)).iter().any(|g| g.starts_with(&lower(needle)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::lookup::holds;

    #[test]
    fn short_needles_through_grams_agree_with_the_lookup() {
        for value in ["Hello World", "", "ab", "ÉCOLE", "aaaa"] {
            for needle in ["", "h", "LO", "o w", "wor", "x", "é", "ÉC", "aa", "aaa"] {
                let direct = holds(&Lookup::IContains(needle.into()), &[Value::String(value.into())]);
                assert_eq!(short_needle_by_grams(value, needle), direct, "{value:?} {needle:?}");
            }
        }
    }

    #[test]
    fn long_needles_read_their_trigrams_and_check_the_lowered_value() {
        let filters = onto_index("title", &Lookup::IContains("WORLD".into()));
        let paths: Vec<&str> = filters.iter().map(|f| f.path.as_ref()).collect();
        assert_eq!(paths, ["_ix_title_grams", "_ix_title_grams", "_ix_title_grams", "_ix_title_lower"]);
        assert_eq!(filters[3].op, Op::Contains("world".into()));
    }
}
