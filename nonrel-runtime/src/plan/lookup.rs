//! Emulated lookups as a plan carries them, and their meaning on a stored value.

use crate::core::value::Value;
use crate::schema::lookup::compute::{date_parts, lower};
use crate::schema::lookup::LookupKind;

/// An emulated lookup and its operand, as the plan carries it ([`Op::Lookup`](crate::plan::Op::Lookup)).
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Equal, ignoring case.
    IExact(String),
    /// Starts with, ignoring case.
    IStartsWith(String),
    /// Ends with.
    EndsWith(String),
    /// Contains, ignoring case.
    IContains(String),
    /// Matches the pattern.
    Regex(String),
    /// The date's year.
    Year(i32),
    /// The date's month (1 to 12).
    Month(u32),
    /// The date's day of the month (1 to 31).
    Day(u32),
    /// The date's day of the week (1 Sunday to 7 Saturday).
    WeekDay(u32),
    /// Full-text: every word of the query is a word of the value (see
    /// [`words`](crate::lookup::words)).
    Search(String),
}

impl Lookup {
    /// The lookup's name, as users write it.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The lookup's kind.
    pub fn kind(&self) -> LookupKind {
        match self {
            Lookup::IExact(_) => LookupKind::IExact,
            Lookup::IStartsWith(_) => LookupKind::IStartsWith,
            Lookup::EndsWith(_) => LookupKind::EndsWith,
            Lookup::IContains(_) => LookupKind::IContains,
            Lookup::Regex(_) => LookupKind::Regex,
            Lookup::Year(_) => LookupKind::Year,
            Lookup::Month(_) => LookupKind::Month,
            Lookup::Day(_) => LookupKind::Day,
            Lookup::WeekDay(_) => LookupKind::WeekDay,
            Lookup::Search(_) => LookupKind::Search,
        }
    }
}

/// Whether lookup `l` holds for the values at its path (any element of a list), with the
/// same meaning as through the index fields.
pub(crate) fn holds(l: &Lookup, leaves: &[Value]) -> bool {
    let mut candidates = leaves.iter().flat_map(|v| {
        let elements = match v {
            Value::Array(items) => items.as_slice(),
            _ => &[],
        };
        std::iter::once(v).chain(elements.iter())
    });
    candidates.any(|v| match (l, v) {
        (Lookup::IExact(s), Value::String(x)) => lower(x) == lower(s),
        (Lookup::IStartsWith(s), Value::String(x)) => lower(x).starts_with(&lower(s)),
        (Lookup::EndsWith(s), Value::String(x)) => x.ends_with(s.as_str()),
        (Lookup::IContains(s), Value::String(x)) => lower(x).contains(&lower(s)),
        (Lookup::Regex(p), Value::String(x)) => {
            crate::schema::lookup::compute::compiled(p).is_ok_and(|re| re.is_match(x))
        }
        (Lookup::Year(n), Value::DateTime(d)) => date_parts(d)[0] == *n,
        (Lookup::Month(n), Value::DateTime(d)) => date_parts(d)[1] == *n as i32,
        (Lookup::Day(n), Value::DateTime(d)) => date_parts(d)[2] == *n as i32,
        (Lookup::WeekDay(n), Value::DateTime(d)) => date_parts(d)[3] == *n as i32,
        (Lookup::Search(q), Value::String(x)) => crate::schema::lookup::words::matches(q, x),
        _ => false,
    })
}
