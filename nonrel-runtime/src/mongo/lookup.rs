//! Emulated lookups a model does not declare, run natively by MongoDB.
//!
//! Text lookups become `$regex` conditions on the field (the operand escaped so that every
//! character, NUL included, is literal; anchored with `^` and `\z`, since `$` also matches
//! before a final newline; option `i` for the case-insensitive ones); date parts become `$expr` with `$year`, `$month`,
//! `$dayOfMonth` or `$dayOfWeek` (UTC, Sunday = 1). MongoDB's case folding and regular
//! expressions (PCRE) can differ from the lowercasing and `regex` engine the declared index
//! fields use on exotic input; a declared lookup gives the same answer on every backend.

use crate::core::value::Value;
use crate::plan::lookup::Lookup;

/// `s` as a pattern matching it literally, whichever regex engine reads it (PCRE or a
/// Python-style one): ASCII punctuation and spaces escaped with a backslash, control
/// characters (NUL included, which a BSON C string cannot hold) as `\xHH`; letters, digits
/// and non-ASCII characters as they are.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_ascii_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            if c.is_ascii() && !c.is_ascii_alphanumeric() {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// A user's pattern with its NULs (which a BSON C string cannot hold) written `\x00`, or
/// `x00` after a backslash that escapes them; every other character as it is.
fn without_nul(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut escaped = false;
    for c in pattern.chars() {
        if c == '\0' {
            out.push_str(if escaped { "x00" } else { "\\x00" });
        } else {
            out.push(c);
        }
        escaped = c == '\\' && !escaped;
    }
    out
}

/// A BSON regular expression of a pattern without NULs and fixed options.
pub(super) fn regex(pattern: &str, options: &str) -> Value {
    debug_assert!(!pattern.contains('\0'), "patterns are escaped");
    let mut bytes = pattern.as_bytes().to_vec();
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
        Lookup::IExact(s) => regex(&format!("^{}\\z", escape(s)), "i"),
        Lookup::IStartsWith(s) => regex(&format!("^{}", escape(s)), "i"),
        Lookup::EndsWith(s) => regex(&format!("{}\\z", escape(s)), ""),
        Lookup::IContains(s) => regex(&escape(s), "i"),
        Lookup::Regex(p) => regex(&without_nul(p), ""),
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
