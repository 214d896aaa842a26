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
    for b in key.to_storage() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The `_source` of a record.
pub(crate) fn to_source(key: &KeyValue, doc: &[u8]) -> Result<String> {
    let json = document_to_json(doc)?;
    let json = if json.contains(LONG_DATE) { shorten_dates(&json) } else { json };
    let mut out = String::with_capacity(json.len() + 80);
    out.push_str("{\"");
    out.push_str(KEY_FIELD);
    out.push_str("\":\"");
    out.push_str(&sort_key(key));
    out.push('"');
    if json.len() > 2 {
        out.push(',');
    }
    out.push_str(&json[1..]);
    Ok(out)
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
    drop_key(&doc)
}

/// The document without its top-level `_key` field.
fn drop_key(doc: &[u8]) -> Result<Vec<u8>> {
    use nonrel_runtime::codec::{begin_document, end_document, Elements};
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
}
