//! Emulated lookups a model does not declare, run natively by MongoDB (F14).
//!
//! Text lookups become `$regex` conditions on the field (the operand escaped, option `i` for
//! the case-insensitive ones); date parts become `$expr` with `$year`, `$month`,
//! `$dayOfMonth` or `$dayOfWeek` (UTC, Sunday = 1). MongoDB's case folding and regular
//! expressions (PCRE) can differ from the lowercasing and `regex` engine the declared index
//! fields use on exotic input; a declared lookup gives the same answer on every backend.

use crate::lookup::Lookup;
use crate::value::Value;

/// `s` with every regex metacharacter escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if "\\^$.|?*+()[]{}/-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A BSON regular expression (NULs, which a C string cannot hold, removed).
fn regex(pattern: &str, options: &str) -> Value {
    let mut bytes: Vec<u8> = pattern.bytes().filter(|&b| b != 0).collect();
    bytes.push(0);
    bytes.extend_from_slice(options.as_bytes());
    bytes.push(0);
    Value::Raw(0x0B, bytes)
}

fn doc(name: &str, v: Value) -> Value {
    Value::Document(vec![(name.into(), v)])
}

/// The condition on the field for a text lookup (date lookups use [`term`]).
pub(super) fn condition(l: &Lookup) -> Value {
    let pattern = match l {
        Lookup::IExact(s) => regex(&format!("^{}$", escape(s)), "i"),
        Lookup::IStartsWith(s) => regex(&format!("^{}", escape(s)), "i"),
        Lookup::EndsWith(s) => regex(&format!("{}$", escape(s)), ""),
        Lookup::IContains(s) => regex(&escape(s), "i"),
        Lookup::Regex(p) => regex(p, ""),
        _ => return Value::Null,
    };
    doc("$regex", pattern)
}

/// A top-level `$expr` term for a date-part lookup on `path`; `None` for text lookups.
pub(super) fn term(path: &str, l: &Lookup) -> Option<(String, Value)> {
    let (operator, n) = match l {
        Lookup::Year(n) => ("$year", *n),
        Lookup::Month(n) => ("$month", *n as i32),
        Lookup::Day(n) => ("$dayOfMonth", *n as i32),
        Lookup::WeekDay(n) => ("$dayOfWeek", *n as i32),
        _ => return None,
    };
    let part = doc(operator, Value::String(format!("${path}")));
    Some(("$expr".into(), doc("$eq", Value::Array(vec![part, Value::Int32(n)]))))
}
