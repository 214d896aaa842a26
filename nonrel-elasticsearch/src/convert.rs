//! Stored documents (BSON bytes) to `_source` JSON and back, exactly.
//!
//! The JSON is the runtime's exact form ([`nonrel_runtime::json::document_to_json`]): plain
//! JSON for strings, booleans, null, int64, finite doubles, lists and documents, and
//! wrapper objects for what JSON cannot tell apart (`{"$numberInt": "3"}`,
//! `{"$date": "2024-05-01T12:00:00.123Z"}`, `{"$oid": …}`, `{"$numberDecimal": …}`,
//! `{"$binary": …}`). One change makes every date indexable as a `date`: a date outside
//! 1970–9999, which the runtime writes as `{"$date": {"$numberLong": "-1000"}}`, is stored
//! as `{"$date": -1000}` (epoch milliseconds), and read back the other way. The record's key
//! is stored first, as `_key` (sortable bytes in hex), and never returned.

use nonrel_runtime::json::{document_from_json, document_to_json};
use nonrel_runtime::{KeyValue, Result};

/// The field holding the key's sortable form (the tie-breaker of every sort).
pub(crate) const KEY_FIELD: &str = "_key";

const LONG_DATE: &str = "\"$date\":{\"$numberLong\":\"";

/// The key as a string that sorts like the keys themselves.
pub(crate) fn sort_key(key: &KeyValue) -> String {
    let mut out = String::new();
    push_sort_key(key, &mut out);
    out
}

/// Appends [`sort_key`] to `out`.
fn push_sort_key(key: &KeyValue, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = key.to_storage();
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

/// The `_source` of a record.
#[cfg(test)]
pub(crate) fn to_source(key: &KeyValue, doc: &[u8]) -> Result<String> {
    let mut out = String::new();
    write_source(key, doc, &mut out)?;
    Ok(out)
}

/// Appends the `_source` of a record to `out` (a `_bulk` body).
pub(crate) fn write_source(key: &KeyValue, doc: &[u8], out: &mut String) -> Result<()> {
    let json = document_to_json(doc)?;
    let json = if json.contains(LONG_DATE) { shorten_dates(&json) } else { json };
    out.reserve(json.len() + 40);
    out.push_str("{\"");
    out.push_str(KEY_FIELD);
    out.push_str("\":\"");
    push_sort_key(key, out);
    out.push('"');
    if json.len() > 2 {
        out.push(',');
    }
    out.push_str(&json[1..]);
    Ok(())
}

/// `"$date":{"$numberLong":"-1000"}` becomes `"$date":-1000`. The text cannot occur inside a
/// JSON string (its quotes would be escaped there), and a document with the one field
/// `$numberLong` is written by the runtime as `{"$document": …}`, so only dates match.
fn shorten_dates(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(at) = rest.find(LONG_DATE) {
        out.push_str(&rest[..at]);
        out.push_str("\"$date\":");
        let after = &rest[at + LONG_DATE.len()..];
        let end = after.find('"').unwrap_or(after.len());
        out.push_str(&after[..end]);
        // Skip the closing `"}` of the `$numberLong` object.
        rest = after.get(end + 2..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// `"$date":-1000` (a number right after `"$date":`) becomes the runtime's form again.
fn lengthen_dates(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 32);
    let mut rest = json;
    while let Some(at) = rest.find("\"$date\":") {
        let after = &rest[at + 8..];
        let digits = after.bytes().take_while(|b| *b == b'-' || b.is_ascii_digit()).count();
        out.push_str(&rest[..at + 8]);
        if digits > 0 {
            out.push_str("{\"$numberLong\":\"");
            out.push_str(&after[..digits]);
            out.push_str("\"}");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The stored document of a `_source` (its `_key` excluded by the request, or dropped here).
pub(crate) fn from_source(json: &str) -> Result<Vec<u8>> {
    let doc = if json.contains("\"$date\":") {
        document_from_json(&lengthen_dates(json))?
    } else {
        document_from_json(json)?
    };
    if !json.contains("\"_key\"") {
        return Ok(doc);
    }
    drop_key(doc)
}

/// The document without its top-level `_key` field: removed in place when it comes first
/// (as every write puts it), else by copying the other fields.
fn drop_key(mut doc: Vec<u8>) -> Result<Vec<u8>> {
    use nonrel_runtime::codec::{begin_document, end_document, Elements};
    let first = match Elements::new(&doc)?.next() {
        Some(el) => {
            let el = el?;
            (el.name == KEY_FIELD.as_bytes()).then_some(el.raw.len())
        }
        None => None,
    };
    if let Some(n) = first {
        doc.drain(4..4 + n);
        let len = i32::try_from(doc.len()).unwrap_or(i32::MAX);
        doc[..4].copy_from_slice(&len.to_le_bytes());
        return Ok(doc);
    }
    let doc = &doc[..];
    let mut out = Vec::with_capacity(doc.len());
    let start = begin_document(&mut out);
    for el in Elements::new(doc)? {
        let el = el?;
        if el.name != KEY_FIELD.as_bytes() {
            out.extend_from_slice(el.raw);
        }
    }
    end_document(&mut out, start)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_dates_are_numbers_in_the_source_and_read_back() {
        let json = r#"{"a":{"$date":{"$numberLong":"-1000"}},"b":[{"$date":{"$numberLong":"253402300800000"}}],"c":"\"$date\":{"}"#;
        let short = shorten_dates(json);
        assert_eq!(short, r#"{"a":{"$date":-1000},"b":[{"$date":253402300800000}],"c":"\"$date\":{"}"#);
        assert_eq!(lengthen_dates(&short), json);
    }

    #[test]
    fn sources_read_back_as_the_documents_written() {
        let key = KeyValue::Int(-5);
        let doc = nonrel_runtime::json::document_from_json(r#"{"a":1,"b":"x","c":{"_key":2}}"#).unwrap();
        let source = to_source(&key, &doc).unwrap();
        assert!(source.starts_with(&format!("{{\"_key\":\"{}\",", sort_key(&key))), "{source}");
        assert_eq!(from_source(&source).unwrap(), doc);
        // `_key` elsewhere than first is dropped too.
        let moved = format!("{{\"a\":1,\"_key\":\"{}\",{}", sort_key(&key), &source[source.find("\"b\"").unwrap()..]);
        assert_eq!(from_source(&moved).unwrap(), doc);
        let empty = nonrel_runtime::json::document_from_json("{}").unwrap();
        assert_eq!(from_source(&to_source(&key, &empty).unwrap()).unwrap(), empty);
    }
}
