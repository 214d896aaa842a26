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

use nonrel_runtime::codec::{begin_document, end_document, Elements};
use nonrel_runtime::json::{fields_from_json, write_fields_json, write_fields_json_of};
use nonrel_runtime::{KeyValue, ModelDesc, Result};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

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
    push_hex(&key.to_storage(), out);
}

/// Appends bytes in lowercase hex to `out`.
fn push_hex(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // A chunk at a time through a buffer: one append per 32 bytes, not two per byte.
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        for (pair, &b) in buf.chunks_exact_mut(2).zip(chunk) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 15)];
        }
        out.push_str(std::str::from_utf8(&buf[..chunk.len() * 2]).unwrap_or_default());
    }
}

/// Appends a key's `_id` to `out` as a JSON string: its URL-safe form, which holds nothing
/// JSON escapes (unreserved characters, `%` and hex digits), an ObjectId's hex written
/// without a string of its own.
pub(crate) fn push_id_json(key: &KeyValue, out: &mut String) {
    out.push('"');
    match key {
        KeyValue::ObjectId(o) => push_hex(&o.bytes(), out),
        _ => out.push_str(&key.to_url_safe()),
    }
    out.push('"');
}

/// The `_source` of a record.
#[cfg(test)]
pub(crate) fn to_source(key: &KeyValue, doc: &[u8]) -> Result<String> {
    let mut out = String::new();
    write_source(key, doc, None, &mut out)?;
    Ok(out)
}

/// Appends the `_source` of a record to `out` (a `_bulk` body): its key first, then the
/// document's JSON written in place, its long dates shortened. With the model the document
/// is saved for, returns whether a later save of that model over it keeps nothing of it
/// ([`write_fields_json_of`]); else `false`.
pub(crate) fn write_source(key: &KeyValue, doc: &[u8], of: Option<&ModelDesc>, out: &mut String) -> Result<bool> {
    // `{"_key":"…"` first, then the document's text, whose opening `{` becomes the `,`
    // before its first member (or, for an empty document, whose `{}` becomes the `}`):
    // nothing is written twice or moved.
    out.push_str("{\"");
    out.push_str(KEY_FIELD);
    out.push_str("\":\"");
    push_sort_key(key, out);
    out.push('"');
    let at = out.len();
    // The fields as they are: beside `_key` a field named like a type wrapper is never the
    // object's one member, so it needs no escape (and the readers take none off).
    let keeps_nothing = match of {
        Some(m) => write_fields_json_of(m, doc, out)?,
        None => {
            write_fields_json(doc, out)?;
            false
        }
    };
    if out.len() == at + 2 {
        out.truncate(at);
        out.push('}');
        return Ok(keeps_nothing);
    }
    out.replace_range(at..at + 1, ",");
    if out[at..].contains(LONG_DATE) {
        let short = shorten_dates(&out[at..]);
        out.truncate(at);
        out.push_str(&short);
    }
    Ok(keeps_nothing)
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

/// `{"$date":-1000}` (an object of one member, `$date`, holding an integer, as
/// [`shorten_dates`] writes it) becomes the runtime's form again; a `$date` member holding
/// anything else is left as it is.
fn lengthen_dates(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 32);
    let mut rest = json;
    while let Some(at) = rest.find("\"$date\":") {
        let after = &rest[at + 8..];
        let digits = after.bytes().take_while(|b| *b == b'-' || b.is_ascii_digit()).count();
        out.push_str(&rest[..at]);
        let alone = out.ends_with('{') && after.as_bytes().get(digits) == Some(&b'}');
        out.push_str("\"$date\":");
        if digits > 0 && alone {
            out.push_str("{\"$numberLong\":\"");
            out.push_str(&after[..digits]);
            out.push_str("\"}");
            rest = &after[digits..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The stored document of a `_source` (its `_key` excluded by the request, or dropped here).
pub(crate) fn from_source(json: &str) -> Result<Vec<u8>> {
    let doc =
        if json.contains("\"$date\":") { fields_from_json(&lengthen_dates(json))? } else { fields_from_json(json)? };
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

/// A `_source` read straight into the stored document while the reply around it is parsed
/// (one pass over the text, no copy of the source's JSON): the same document as
/// [`from_source`] gives, or what is wrong with it (a value BSON cannot hold), kept so that the
/// error can name the record. (Doubles read back exactly because `serde_json` is built with
/// `float_roundtrip`.)
pub(crate) struct Source(pub std::result::Result<Vec<u8>, Problem>);

/// What is wrong with a source: the message, and the field it is in (innermost name first).
#[derive(Debug)]
pub(crate) struct Problem {
    message: String,
    path: Vec<String>,
}

impl Problem {
    /// The error, naming the field as the runtime's JSON reader does.
    pub(crate) fn into_error(self) -> nonrel_runtime::Error {
        let e = nonrel_runtime::Error::new(nonrel_runtime::ErrorKind::Decode, self.message);
        self.path.iter().fold(e, |e, name| e.with_field(name))
    }
}

/// BSON type bytes written here (and by the one-pass reader, `scan`).
pub(crate) mod ty {
    pub const DOUBLE: u8 = 0x01;
    pub const STRING: u8 = 0x02;
    pub const DOCUMENT: u8 = 0x03;
    pub const ARRAY: u8 = 0x04;
    pub const BOOL: u8 = 0x08;
    pub const NULL: u8 = 0x0A;
    pub const INT64: u8 = 0x12;
}

/// The document being written, and the first problem found in the source.
struct Writer {
    out: Vec<u8>,
    problem: Option<Problem>,
}

impl Writer {
    fn fail(&mut self, message: impl Into<String>) {
        self.problem.get_or_insert_with(|| Problem { message: message.into(), path: Vec::new() });
    }

    /// Names the field a problem just found is in.
    fn within(&mut self, had_problem: bool, name: impl FnOnce() -> String) {
        if let (false, Some(p)) = (had_problem, &mut self.problem) {
            p.path.push(name());
        }
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let mut w = Writer { out: Vec::with_capacity(256), problem: None };
        d.deserialize_map(Doc { w: &mut w, at: None })?;
        Ok(Source(match w.problem {
            None => Ok(w.out),
            Some(p) => Err(p),
        }))
    }
}

/// A name of an object, borrowed from the reply when it holds no escape.
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// An object: the whole document (`at: None`), or the value of the element whose type byte
/// is at `out[at]`.
struct Doc<'w> {
    w: &'w mut Writer,
    at: Option<usize>,
}

impl<'de> Visitor<'de> for Doc<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let w = self.w;
        let start = begin_document(&mut w.out);
        let mut names: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Name(name)) = map.next_key()? {
            if self.at.is_none() && name == KEY_FIELD {
                map.next_value::<de::IgnoredAny>()?;
                continue;
            }
            if let (Some(at), true) = (self.at, names.is_empty() && name.starts_with('$')) {
                // Perhaps a type wrapper (`{"$date": …}`): read whole, then as the runtime reads it.
                w.out.truncate(start);
                return wrapped(w, at, name, map);
            }
            if names.contains(&name) {
                w.fail(format!("JSON: member {name:?} appears twice in one object"));
            }
            if name.as_bytes().contains(&0) {
                w.fail(format!("JSON: field name {name:?} contains a NUL byte"));
            }
            let at = w.out.len();
            w.out.push(ty::NULL);
            w.out.extend_from_slice(name.as_bytes());
            w.out.push(0);
            let had_problem = w.problem.is_some();
            map.next_value_seed(Elem { w: &mut *w, at })?;
            w.within(had_problem, || name.to_string());
            names.push(name);
        }
        if let Err(e) = end_document(&mut w.out, start) {
            w.fail(e.to_string());
        }
        if let Some(at) = self.at {
            w.out[at] = ty::DOCUMENT;
        }
        Ok(())
    }
}

/// An object whose first name starts with `$`: its members are read as JSON text, exactly,
/// and the object converted as [`from_source`] converts it, giving the element's type and
/// value.
fn wrapped<'de, A: MapAccess<'de>>(
    w: &mut Writer,
    at: usize,
    first: Cow<'de, str>,
    mut map: A,
) -> std::result::Result<(), A::Error> {
    let mut text = String::from("{\"v\":{");
    let push = |text: &mut String, name: &str, value: &RawValue| {
        if !text.ends_with('{') {
            text.push(',');
        }
        text.push_str(&serde_json::to_string(name).unwrap_or_default());
        text.push(':');
        text.push_str(value.get());
    };
    push(&mut text, &first, &map.next_value::<Box<RawValue>>()?);
    while let Some((Name(name), value)) = map.next_entry::<Name, Box<RawValue>>()? {
        push(&mut text, &name, &value);
    }
    text.push_str("}}");
    w.out[at] = ty::NULL;
    match from_source(&text).and_then(|doc| {
        let el = Elements::new(&doc)?.next().transpose()?.map(|el| (el.ty, el.value.to_vec()));
        Ok(el)
    }) {
        Ok(Some((t, value))) => {
            w.out[at] = t;
            w.out.extend_from_slice(&value);
        }
        Ok(None) => w.fail("JSON: an object read as nothing"),
        Err(e) => w.fail(e.to_string()),
    }
    Ok(())
}

/// One value, as the element whose type byte is at `out[at]`.
struct Elem<'w> {
    w: &'w mut Writer,
    at: usize,
}

impl<'de> DeserializeSeed<'de> for Elem<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Elem<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<(), E> {
        self.w.out[self.at] = ty::BOOL;
        self.w.out.push(u8::from(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<(), E> {
        self.w.out[self.at] = ty::INT64;
        self.w.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<(), E> {
        let Ok(v) = i64::try_from(v) else {
            self.w.fail(format!("JSON: integer {v} does not fit a 64-bit signed integer"));
            return Ok(());
        };
        self.visit_i64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<(), E> {
        self.w.out[self.at] = ty::DOUBLE;
        self.w.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<(), E> {
        let out = &mut self.w.out;
        out[self.at] = ty::STRING;
        out.extend_from_slice(&i32::try_from(v.len() + 1).unwrap_or(i32::MAX).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
        out.push(0);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let w = self.w;
        w.out[self.at] = ty::ARRAY;
        let start = begin_document(&mut w.out);
        for i in 0usize.. {
            let item = w.out.len();
            w.out.push(ty::NULL);
            w.out.extend_from_slice(nonrel_runtime::codec::IndexName::new(i).as_bytes());
            let had_problem = w.problem.is_some();
            if seq.next_element_seed(Elem { w: &mut *w, at: item })?.is_none() {
                w.out.truncate(item);
                break;
            }
            w.within(had_problem, || format!("[{i}]"));
        }
        if let Err(e) = end_document(&mut w.out, start) {
            w.fail(e.to_string());
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<(), A::Error> {
        Doc { w: self.w, at: Some(self.at) }.visit_map(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key's `_id` as JSON is its URL-safe form escaped as a JSON string, for keys of
    /// every kind (strings with every kind of character).
    #[test]
    fn ids_are_their_url_safe_form_as_json() {
        let mut rng = nonrel_runtime::conformance::Rng::new(0x9e37_79b9_7f4a_7c15_u64);
        let mut next = move |n: u64| rng.below_u64(n);
        const PIECES: [&str; 9] = ["a", "Z", "0", "-._~", " ", "\"", "\\", "é/%", "\u{1}😀"];
        for _ in 0..5_000 {
            let key = match next(3) {
                0 => KeyValue::Int(next(u64::MAX) as i64),
                1 => {
                    let mut b = [0u8; 12];
                    b.iter_mut().for_each(|x| *x = next(256) as u8);
                    KeyValue::ObjectId(nonrel_runtime::ObjectId::from_bytes(b))
                }
                _ => KeyValue::Str((0..next(6)).map(|_| PIECES[next(9) as usize]).collect()),
            };
            let mut want = String::new();
            nonrel_runtime::json::write_json_str(&key.to_url_safe(), &mut want);
            let mut got = String::from("x");
            push_id_json(&key, &mut got);
            assert_eq!(got[1..], want, "{key:?}");
        }
    }

    #[test]
    fn long_dates_are_numbers_in_the_source_and_read_back() {
        let json = r#"{"a":{"$date":{"$numberLong":"-1000"}},"b":[{"$date":{"$numberLong":"253402300800000"}}],"c":"\"$date\":{"}"#;
        let short = shorten_dates(json);
        assert_eq!(short, r#"{"a":{"$date":-1000},"b":[{"$date":253402300800000}],"c":"\"$date\":{"}"#);
        assert_eq!(lengthen_dates(&short), json);
        // A `$date` member that is not a shortened date is left as it is.
        for text in [r#"{"$date":1e3}"#, r#"{"m":{"$document":{"$date":10.5}}}"#, r#"{"m":{"$date":1,"x":2}}"#] {
            assert_eq!(lengthen_dates(text), text);
            assert!(from_source(text).is_ok(), "{text}");
        }
    }

    /// A source read while the reply is parsed gives the same document as [`from_source`], or
    /// an error where it gives one, on random sources (wrappers, `$` names, escapes, `_key`
    /// anywhere, integers out of range, names twice in one object).
    #[test]
    fn sources_read_in_the_reply_match_from_source() {
        let mut rng = nonrel_runtime::conformance::Rng::new(0x9e37_79b9_7f4a_7c15_u64);
        let mut next = move |n: u64| rng.below_u64(n);
        const NAMES: [&str; 8] = ["a", "b", "_key", "$date", "$numberInt", "$document", "x\\u00e9", "$other"];
        const LEAVES: [&str; 15] = [
            "1",
            "-2.25e-300",
            "-7",
            "0.25",
            "-0.0",
            "1e3",
            "true",
            "false",
            "null",
            "\"s\"",
            "\"t\\n\\u0041\"",
            "\"2023-11-14T22:13:20.123Z\"",
            "-1000",
            "\"12\"",
            "18446744073709551615",
        ];
        fn value(next: &mut dyn FnMut(u64) -> u64, depth: u32, out: &mut String) {
            match if depth > 3 { 0 } else { next(4) } {
                0 => out.push_str(LEAVES[next(LEAVES.len() as u64) as usize]),
                1 => {
                    out.push('[');
                    for i in 0..next(3) {
                        if i > 0 {
                            out.push(',');
                        }
                        value(next, depth + 1, out);
                    }
                    out.push(']');
                }
                _ => object(next, depth + 1, out),
            }
        }
        fn object(next: &mut dyn FnMut(u64) -> u64, depth: u32, out: &mut String) {
            out.push('{');
            for i in 0..next(4) {
                if i > 0 {
                    out.push(',');
                }
                // The top level's `_key` is the record's key, which every write puts first.
                let name = match NAMES[next(NAMES.len() as u64) as usize] {
                    "_key" if depth == 0 => "c",
                    name => name,
                };
                out.push_str(&format!("\"{name}\":"));
                value(next, depth, out);
            }
            out.push('}');
        }
        let (mut same, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let mut text = String::new();
            object(&mut next, 0, &mut text);
            if next(2) == 0 {
                let key = if text == "{}" { "{\"_key\":\"0a\"" } else { "{\"_key\":\"0a\"," };
                text = text.replacen('{', key, 1);
            }
            let streamed = serde_json::from_str::<Source>(&text).map(|s| s.0);
            match (streamed, from_source(&text)) {
                (Ok(Ok(a)), Ok(b)) => {
                    assert_eq!(a, b, "{text}");
                    same += 1;
                }
                (Ok(Err(_)), Err(_)) => refused += 1,
                (a, b) => panic!("{text}: in the reply {a:?}, from_source {b:?}"),
            }
        }
        assert!(same > 2_000 && refused > 2_000, "{same} read, {refused} refused");
        // The error names the field.
        let Source(Err(p)) = serde_json::from_str(r#"{"a":{"b":[1,18446744073709551615]}}"#).unwrap() else {
            panic!("an integer out of range is refused")
        };
        let text = p.into_error().to_string();
        assert!(text.contains("does not fit") && text.contains('a') && text.contains("[1]"), "{text}");
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

    /// A record of one field named like a type wrapper (`$date` holding an integer, say)
    /// reads back as itself, from the text and in a reply: beside `_key` it is a field.
    #[test]
    fn a_lone_field_named_like_a_wrapper_reads_back_as_a_field() {
        let key = KeyValue::Int(7);
        for text in [
            r#"{"$document":{"$date":5}}"#,
            r#"{"$document":{"$numberLong":{"a":"b"}}}"#,
            r#"{"$document":{"$document":{"a":1}}}"#,
            r#"{"$document":{"$oid":[1,2]}}"#,
        ] {
            let doc = nonrel_runtime::json::document_from_json(text).unwrap();
            let source = to_source(&key, &doc).unwrap();
            assert!(!source.contains("\"$document\":{\"$date"), "{source}");
            assert_eq!(from_source(&source).unwrap(), doc, "{source}");
            let streamed = serde_json::from_str::<Source>(&source).unwrap().0.unwrap();
            assert_eq!(streamed, doc, "{source}");
        }
    }
}
