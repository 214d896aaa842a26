//! The implementation behind [`json`](crate::json); its documentation is there.

use crate::core::codec::Decode as _;
use crate::core::codec::{self, base64, begin_document, end_document, header, Elements};
use crate::error::{echo, Error, ErrorKind, Result};
use crate::schema::key::KeyValue;
use crate::schema::model::{FieldDesc, Model, ModelDesc};
use std::fmt::Write as _;

/// A record as JSON: `_id` first, then its stored fields. The index fields of emulated
/// lookups (`_ix_*`) are left out: they are computed from the other fields on every
/// save, so they are not part of the record's data (a dump, which stores records exactly,
/// keeps them).
///
/// ```
/// # use nonrel_runtime::{json, Model};
/// #[derive(Model)]
/// struct Tag { #[field(key)] name: String, uses: i64 }
/// #[derive(Model)]
/// struct Word { #[field(key)] id: i64, #[field(index(icontains))] text: String }
/// let t = Tag { name: "rust".into(), uses: 3 };
/// assert_eq!(json::to_json(&t).unwrap(), r#"{"_id":"rust","uses":3}"#);
/// let w = Word { id: 1, text: "Hi".into() };
/// assert_eq!(json::to_json(&w).unwrap(), r#"{"_id":1,"text":"Hi"}"#);
/// ```
pub fn to_json<M: Model>(record: &M) -> Result<String> {
    let mut doc = Vec::with_capacity(256);
    record.encode(&mut doc).map_err(|e| e.with_model(M::DESC.name))?;
    let mut out = String::with_capacity(doc.len() * 2);
    write_fields(record.key_value().as_ref(), &doc, &mut out, |name| !name.starts_with(b"_ix_"))?;
    Ok(out)
}

/// Reads a record from JSON written by [`to_json`] (or by hand in the same form); errors
/// name the column, the model and the field.
///
/// ```
/// # use nonrel_runtime::{json, Model, ErrorKind};
/// #[derive(Model, Debug, PartialEq)]
/// struct Tag { #[field(key)] name: String, uses: i64 }
/// let t: Tag = json::from_json(r#"{"_id": "rust", "uses": 3}"#).unwrap();
/// assert_eq!(t, Tag { name: "rust".into(), uses: 3 });
/// let err = json::from_json::<Tag>(r#"{"_id": "rust", "uses": "three"}"#).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Decode);
/// assert!(err.to_string().contains("Tag.uses"), "{err}");
/// ```
pub fn from_json<M: Model>(text: &str) -> Result<M> {
    let doc = document_from_json(text).map_err(|e| e.with_model(M::DESC.name))?;
    M::decode(None, &doc).map_err(|e| e.with_model(M::DESC.name))
}

/// Writes a record's key as `_id`, then the fields of its stored document, as one object.
pub(crate) fn write_record(key: Option<&KeyValue>, doc: &[u8], out: &mut String) -> Result<()> {
    write_fields(key, doc, out, |_| true)
}

/// [`write_record`] with only the fields `keep` accepts.
fn write_fields(key: Option<&KeyValue>, doc: &[u8], out: &mut String, keep: impl Fn(&[u8]) -> bool) -> Result<()> {
    out.push('{');
    let mut first = true;
    if let Some(key) = key {
        out.push_str("\"_id\":");
        write_key(key, out);
        first = false;
    }
    for el in Elements::new(doc)? {
        let el = el?;
        if (el.name == b"_id" && key.is_some()) || !keep(el.name) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_name(el.name, out)?;
        write_value(el.ty, el.value, out)?;
    }
    out.push('}');
    Ok(())
}

/// A key as JSON.
pub(crate) fn write_key(key: &KeyValue, out: &mut String) {
    match key {
        KeyValue::Int(n) => {
            let _ = write!(out, "{n}");
        }
        KeyValue::Str(s) => write_json_str(s, out),
        KeyValue::ObjectId(o) => {
            let _ = write!(out, "{{\"$oid\":\"{}\"}}", o.to_hex());
        }
    }
}

/// A stored document (BSON bytes) as a JSON object.
///
/// ```
/// use nonrel_runtime::{json, Model};
/// #[derive(Model)]
/// struct Point { #[field(key)] id: i64, x: f64, label: Option<String> }
///
/// let mut doc = Vec::new();
/// Point { id: 1, x: 1.5, label: None }.encode(&mut doc).unwrap(); // the stored document
/// let text = json::document_to_json(&doc).unwrap();
/// assert_eq!(text, r#"{"x":1.5,"label":null}"#);
/// assert_eq!(json::document_from_json(&text).unwrap(), doc);
/// ```
pub fn document_to_json(doc: &[u8]) -> Result<String> {
    let mut out = String::with_capacity(doc.len() * 2);
    write_document(doc, &mut out)?;
    Ok(out)
}

/// Appends [`document_to_json`]'s text to `out`, for a caller building a larger text (a
/// request body of many documents) without a string per document.
///
/// ```
/// # use nonrel_runtime::json;
/// let doc = json::document_from_json(r#"{"a":1}"#).unwrap();
/// let mut body = String::from("[");
/// json::write_document_json(&doc, &mut body).unwrap();
/// body.push(']');
/// assert_eq!(body, r#"[{"a":1}]"#);
/// ```
pub fn write_document_json(doc: &[u8], out: &mut String) -> Result<()> {
    out.reserve(doc.len() * 2);
    write_document(doc, out)
}

/// Reads a JSON object as a stored document (BSON bytes), the inverse of
/// [`document_to_json`].
///
/// The document is written straight from the text, with no parsed tree in between; only a
/// type wrapper (`{"$date": …}`, `{"$numberInt": …}`, …) is parsed on its own first.
pub fn document_from_json(text: &str) -> Result<Vec<u8>> {
    read_document(text, true)
}

/// Reads a JSON object's members as a document's fields, the inverse of
/// [`write_fields_json`]: a lone `$document` member is a field like any other.
///
/// ```
/// # use nonrel_runtime::json;
/// let doc = json::fields_from_json(r#"{"$document":{"a":1}}"#).unwrap();
/// assert_eq!(json::document_to_json(&doc).unwrap(), r#"{"$document":{"$document":{"a":1}}}"#);
/// ```
pub fn fields_from_json(text: &str) -> Result<Vec<u8>> {
    read_document(text, false)
}

/// Reads a record; `escaped`: a record of one `$document` member holding an object is that
/// object's document (as [`document_to_json`] writes it).
fn read_document(text: &str, escaped: bool) -> Result<Vec<u8>> {
    let mut p = Parser { text, pos: 0 };
    p.skip_ws();
    if p.peek() != Some(b'{') {
        // Malformed text is reported as such; well-formed text that is not an object is not a record.
        Parser::parse(text)?;
        return Err(Error::new(ErrorKind::Decode, "JSON: a record must be an object"));
    }
    if escaped && p.begins_escaped() {
        // Rare: read through the tree, which tells a record of that one member (escaped by
        // the writer) from one with other fields beside it.
        return match Parser::parse(text)? {
            Json::Object(fields) => record_to_document(&fields),
            _ => Err(bad("a record must be an object")),
        };
    }
    let mut out = Vec::with_capacity(text.len());
    p.document_into(&mut out, 0)?;
    p.skip_ws();
    if p.pos != text.len() {
        return Err(p.error("unexpected text after the value"));
    }
    Ok(out)
}

/// Appends a document's fields as one JSON object, without the escape
/// [`write_document_json`] puts around a document of one field named like a type wrapper
/// (`{"$document": …}`): for a caller that adds members of its own to the object, and reads
/// it back with [`fields_from_json`]. Documents inside it are written as
/// [`write_document_json`] writes them.
///
/// ```
/// # use nonrel_runtime::json;
/// let doc = json::document_from_json(r#"{"$document":{"$date":"x"}}"#).unwrap(); // one field, `$date`
/// let mut fields = String::new();
/// json::write_fields_json(&doc, &mut fields).unwrap();
/// assert_eq!(fields, r#"{"$date":"x"}"#);
/// assert_eq!(json::fields_from_json(&fields).unwrap(), doc);
/// ```
pub fn write_fields_json(doc: &[u8], out: &mut String) -> Result<()> {
    write_object(doc, out, false, None).map(|_| ())
}

/// [`write_fields_json`] of a document of `model`, telling in the same pass whether a later
/// save of `model` over this document keeps nothing of it: whether
/// [`keep_unknown`](crate::query::eval::keep_unknown)`(model, doc, new)` is `new` for every
/// document `new` (the model has no embedded model, and every field of the document is one
/// the model names). A backend that remembers what it wrote can skip that merge on the next
/// save over the record.
///
/// ```
/// # use nonrel_runtime::{json, Model};
/// #[derive(Model)]
/// struct Note { #[field(key)] id: i64, text: String }
///
/// let known = json::fields_from_json(r#"{"text":"hi"}"#).unwrap();
/// let mut out = String::new();
/// assert!(json::write_fields_json_of(Note::DESC, &known, &mut out).unwrap());
/// assert_eq!(out, r#"{"text":"hi"}"#);
/// let unknown = json::fields_from_json(r#"{"text":"hi","old":1}"#).unwrap();
/// assert!(!json::write_fields_json_of(Note::DESC, &unknown, &mut String::new()).unwrap());
/// ```
pub fn write_fields_json_of(model: &ModelDesc, doc: &[u8], out: &mut String) -> Result<bool> {
    let only_known = write_object(doc, out, false, Some(model.fields))?;
    Ok(only_known && !crate::schema::unknown::has_embedded(model.fields))
}

fn write_document(doc: &[u8], out: &mut String) -> Result<()> {
    write_object(doc, out, true, None).map(|_| ())
}

/// A document's JSON object; `escape`: a document of one field named like a type wrapper is
/// written `{"$document": …}`, so it cannot be read as that wrapper. With `known`, returns
/// whether every field's name is one of theirs (else `true`).
fn write_object(doc: &[u8], out: &mut String, escape: bool, known: Option<&[FieldDesc]>) -> Result<bool> {
    // One pass: the first element, and the second only when the first is named so.
    let mut elements = Elements::new(doc)?;
    let head = elements.next().transpose()?;
    let second = match &head {
        Some(el) if escape && is_wrapper(el.name) => elements.next(),
        _ => None,
    };
    let escaped = escape && second.is_none() && head.as_ref().is_some_and(|el| is_wrapper(el.name));
    if escaped {
        out.push_str("{\"$document\":");
    }
    out.push('{');
    let mut first = true;
    let mut all_known = true;
    for (i, el) in head.map(Ok).into_iter().chain(second).chain(elements).enumerate() {
        let el = el?;
        if !first {
            out.push(',');
        }
        first = false;
        // A document the model wrote holds its fields in the model's order: the field at the
        // same position is tried first.
        let field = known.and_then(|fields| {
            fields
                .get(i)
                .filter(|f| f.name.as_bytes() == el.name)
                .or_else(|| fields.iter().find(|f| f.name.as_bytes() == el.name))
        });
        match field {
            // The same name, already text.
            Some(f) => {
                write_json_str(f.name, out);
                out.push(':');
            }
            None => {
                all_known &= known.is_none();
                write_name(el.name, out)?;
            }
        }
        write_value(el.ty, el.value, out).map_err(|e| e.with_field(&el.name_str()))?;
    }
    out.push('}');
    if escaped {
        out.push('}');
    }
    Ok(all_known)
}

const WRAPPERS: [&str; 10] = [
    "$numberInt",
    "$numberLong",
    "$numberDouble",
    "$numberDecimal",
    "$date",
    "$binary",
    "$oid",
    "$bson",
    "$document",
    "$array",
];

fn is_wrapper(name: &[u8]) -> bool {
    name.first() == Some(&b'$') && WRAPPERS.iter().any(|w| w.as_bytes() == name)
}

fn write_name(name: &[u8], out: &mut String) -> Result<()> {
    let name = std::str::from_utf8(name).map_err(|_| codec::malformed("field name is not UTF-8"))?;
    write_json_str(name, out);
    out.push(':');
    Ok(())
}

fn write_value(ty: u8, value: &[u8], out: &mut String) -> Result<()> {
    match ty {
        codec::NULL => out.push_str("null"),
        codec::BOOL => out.push_str(if value == [1] { "true" } else { "false" }),
        codec::INT64 => write_json_int(i64::from_le_bytes(codec::fixed_bytes(value)?), out),
        codec::INT32 => {
            let _ = write!(out, "{{\"$numberInt\":\"{}\"}}", i32::from_le_bytes(codec::fixed_bytes(value)?));
        }
        codec::DOUBLE => write_double(f64::from_le_bytes(codec::fixed_bytes(value)?), out),
        codec::STRING => write_json_str(codec::read_str(ty, value)?, out),
        codec::DOCUMENT => codec::nested(|| write_document(value, out))?,
        codec::ARRAY => codec::nested(|| write_array(value, out))?,
        codec::OBJECT_ID => {
            out.push_str("{\"$oid\":\"");
            hex(value, out);
            out.push_str("\"}");
        }
        codec::BINARY => {
            let data = crate::core::value::Blob::decode(ty, value)?;
            out.push_str("{\"$binary\":{\"base64\":\"");
            base64::STANDARD.encode_into(&data, out);
            let _ = write!(out, "\",\"subType\":\"{:02x}\"}}}}", value[4]);
        }
        codec::DATETIME => write_date(i64::from_le_bytes(codec::fixed_bytes(value)?), out),
        codec::DECIMAL128 => write_decimal(codec::fixed_bytes(value)?, out),
        other => write_raw(other, value, out),
    }
    Ok(())
}

fn write_array(value: &[u8], out: &mut String) -> Result<()> {
    out.push('[');
    for (i, el) in Elements::new(value)?.enumerate() {
        let el = el?;
        if i > 0 {
            out.push(',');
        }
        write_value(el.ty, el.value, out)?;
    }
    out.push(']');
    Ok(())
}

fn write_raw(ty: u8, value: &[u8], out: &mut String) {
    let _ = write!(out, "{{\"$bson\":\"{ty:02x}");
    hex(value, out);
    out.push_str("\"}");
}

fn write_double(f: f64, out: &mut String) {
    if f.is_finite() {
        // Debug prints the shortest text that reads back as the same bits, always with a
        // `.` or an exponent, so it never reads back as an integer.
        let _ = write!(out, "{f:?}");
    } else {
        let text = if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        let _ = write!(out, "{{\"$numberDouble\":\"{text}\"}}");
    }
}

/// The last millisecond of year 9999.
const MAX_ISO_MILLIS: i64 = 253_402_300_799_999;

fn write_date(ms: i64, out: &mut String) {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(d) if (0..=MAX_ISO_MILLIS).contains(&ms) => {
            let _ = write!(out, "{{\"$date\":\"{}\"}}", d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        }
        _ => {
            let _ = write!(out, "{{\"$date\":{{\"$numberLong\":\"{ms}\"}}}}");
        }
    }
}

fn write_decimal(bytes: [u8; 16], out: &mut String) {
    match codec::from_decimal128(bytes).ok() {
        // Only when the text reads back as the same bytes (decimal128 has several encodings
        // of some values); anything else keeps its bytes.
        Some(d) if codec::to_decimal128(&d) == bytes => {
            let _ = write!(out, "{{\"$numberDecimal\":\"{d}\"}}");
        }
        _ => write_raw(codec::DECIMAL128, &bytes, out),
    }
}

/// Appends `s` to `out` as a JSON string: quoted, with `"`, `\\` and the control characters
/// escaped (`\n`, `\r`, `\t`, the rest as `\u00XX`) and everything else as it is, for a
/// caller writing JSON by hand (a request body, a key).
///
/// ```
/// # use nonrel_runtime::json;
/// let mut out = String::from("{\"k\":");
/// json::write_json_str("say \"hi\"\n\u{1}é", &mut out);
/// out.push('}');
/// assert_eq!(out, r#"{"k":"say \"hi\"\n\u0001é"}"#);
/// assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["k"], "say \"hi\"\n\u{1}é");
/// ```
pub fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut clean = 0;
    let mut i = 0;
    // Plain bytes are passed over eight at a time, up to the first that needs an escape.
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let flags = escape_flags(u64::from_le_bytes(word));
        if flags == 0 {
            i += 8;
            continue;
        }
        i += (flags.trailing_zeros() / 8) as usize;
        push_escaped(s, clean, i, out);
        i += 1;
        clean = i;
    }
    // The last few bytes one at a time.
    while i < bytes.len() {
        if needs_escape(bytes[i]) {
            push_escaped(s, clean, i, out);
            clean = i + 1;
        }
        i += 1;
    }
    out.push_str(&s[clean..]);
    out.push('"');
}

/// Appends the plain text of `s` from `clean` to `at`, then the escape of the byte at `at`
/// (one that [needs](needs_escape) an escape: ASCII, so `at` is a character boundary).
fn push_escaped(s: &str, clean: usize, at: usize, out: &mut String) {
    out.push_str(&s[clean..at]);
    match s.as_bytes()[at] {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        other => {
            let _ = write!(out, "\\u{:04x}", other);
        }
    }
}

/// Whether a byte needs an escape in a JSON string: `"`, `\\` or a control character.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The high bit of each byte of `word` (eight bytes of a string, little-endian) that needs an
/// escape, and maybe of some bytes after the first such: the lowest flag is exact (a borrow
/// only runs upward from a flagged byte). Bytes of multi-byte characters (0x80 and above)
/// are never flagged.
fn escape_flags(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let flags = (quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | (word.wrapping_sub(ONES * 0x20) & !word);
    flags & HIGH
}

/// Appends an integer in decimal, as `Display` writes it, without the formatting machinery:
/// for a caller writing JSON by hand (a request body's version numbers).
///
/// ```
/// # use nonrel_runtime::json;
/// let mut out = String::from("[");
/// json::write_json_int(-42, &mut out);
/// assert_eq!(out, "[-42");
/// ```
pub fn write_json_int(n: i64, out: &mut String) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&buf[at..]).unwrap_or_default());
}

fn hex(bytes: &[u8], out: &mut String) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// Parsed JSON, objects keeping their field order (a name appears once per object).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// A field of an object.
    pub(crate) fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Decode, format!("JSON: {}", msg.into()))
}

/// A strict JSON reader that reports the column of the first problem.
pub(crate) struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

/// How deep JSON values may nest: enough for every document [`document_to_json`] writes
/// (up to [`codec::MAX_DEPTH`] levels, each possibly escaped as `{"$document": …}`, the last
/// holding a wrapper such as `{"$binary": {…}}`) inside a dump line.
const MAX_DEPTH: usize = 2 * codec::MAX_DEPTH + 4;

impl<'a> Parser<'a> {
    /// Parses one JSON value filling the whole text (surrounding whitespace allowed).
    pub(crate) fn parse(text: &'a str) -> Result<Json> {
        let mut p = Parser { text, pos: 0 };
        let value = p.value(0)?;
        p.skip_ws();
        if p.pos != text.len() {
            return Err(p.error("unexpected text after the value"));
        }
        Ok(value)
    }

    fn error(&self, what: &str) -> Error {
        // Counted on bytes: the position may sit inside a character after a bad escape.
        let before = &self.text.as_bytes()[..self.pos.min(self.text.len())];
        let column = before.iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
        bad(format!("{what} at column {column}"))
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        self.skip_ws();
        if self.peek() != Some(c) {
            return Err(self.error(&format!("expected '{}'", c as char)));
        }
        self.pos += 1;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Json> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end of text")),
        }
    }

    /// Whether the object at the current `{` begins with a member named `$document`: the
    /// record may be one [`write_document`] escaped.
    fn begins_escaped(&self) -> bool {
        let rest = self.text[self.pos + 1..].trim_start_matches([' ', '\t', '\n', '\r']);
        rest.starts_with("\"$document\"")
    }

    /// Reads the object at the current `{` as a BSON document appended to `out`.
    fn document_into(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<()> {
        self.pos += 1;
        let start = begin_document(out);
        let mut names: Vec<std::borrow::Cow<'a, str>> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return end_document(out, start);
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a field name"));
            }
            let name = self.text_value()?;
            if names.contains(&name) {
                return Err(self.error(&format!("member {} appears twice in one object", echo(&name))));
            }
            self.expect(b':')?;
            if name.as_bytes().contains(&0) {
                codec::cname(&name)?;
            }
            let at = out.len();
            out.push(0);
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            self.element_into(at, out, depth + 1).map_err(|e| e.with_field(&name))?;
            names.push(name);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return end_document(out, start);
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    /// Reads one value as the element whose type byte is at `out[at]` (a zero placeholder,
    /// followed by the element's name): the value's bytes are appended and the type set.
    fn element_into(&mut self, at: usize, out: &mut Vec<u8>, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.skip_ws();
        out[at] = match self.peek() {
            Some(b'"') => {
                codec::put_str(out, &self.text_value()?);
                codec::STRING
            }
            Some(b't' | b'f' | b'n') => match self.value(depth)? {
                Json::Bool(b) => {
                    out.push(u8::from(b));
                    codec::BOOL
                }
                _ => codec::NULL,
            },
            Some(b'-' | b'0'..=b'9') => match self.number()? {
                Json::Int(n) => {
                    out.extend_from_slice(&n.to_le_bytes());
                    codec::INT64
                }
                Json::Float(f) => {
                    out.extend_from_slice(&f.to_le_bytes());
                    codec::DOUBLE
                }
                _ => unreachable!("a number is an integer or a float"),
            },
            Some(b'[') => {
                self.pos += 1;
                let start = begin_document(out);
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    for i in 0.. {
                        let item = out.len();
                        out.push(0);
                        out.extend_from_slice(codec::IndexName::new(i).as_bytes());
                        self.element_into(item, out, depth + 1).map_err(|e| e.with_field(&format!("[{i}]")))?;
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.error("expected ',' or ']'")),
                        }
                    }
                }
                end_document(out, start)?;
                codec::ARRAY
            }
            Some(b'{') if self.wrapper_ahead() => {
                // A type wrapper: parsed whole, then written by the tree's writer.
                let value = self.value(depth)?;
                let name = out[at + 1..].to_vec();
                out.truncate(at);
                return element(&value, &name, out);
            }
            Some(b'{') => {
                self.document_into(out, depth)?;
                codec::DOCUMENT
            }
            Some(_) => return Err(self.error("expected a value")),
            None => return Err(self.error("unexpected end of text")),
        };
        Ok(())
    }

    /// Whether the object at the current `{` starts with a type wrapper's name.
    fn wrapper_ahead(&mut self) -> bool {
        let at = self.pos;
        self.pos += 1;
        self.skip_ws();
        let wrapper = self.peek() == Some(b'"') && self.text_value().is_ok_and(|n| is_wrapper(n.as_bytes()));
        self.pos = at;
        wrapper
    }

    /// A string at the current `"`, borrowed from the text when it holds no escape.
    fn text_value(&mut self) -> Result<std::borrow::Cow<'a, str>> {
        let text: &'a str = self.text;
        let rest = &text[self.pos + 1..];
        if let Some(i) = rest.find(['"', '\\']) {
            if rest.as_bytes()[i] == b'"' && !rest[..i].bytes().any(|b| b < 0x20) {
                self.pos += i + 2;
                return Ok(std::borrow::Cow::Borrowed(&rest[..i]));
            }
        }
        self.string().map(std::borrow::Cow::Owned)
    }

    fn word(&mut self, word: &str, value: Json) -> Result<Json> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json> {
        self.pos += 1;
        let mut fields = Vec::new();
        let mut names = std::collections::HashSet::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a field name"));
            }
            let name = self.string()?;
            if !names.insert(name.clone()) {
                return Err(self.error(&format!("member {} appears twice in one object", echo(&name))));
            }
            self.expect(b':')?;
            let value = self.value(depth + 1).map_err(|e| e.with_field(&name))?;
            fields.push((name, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(fields));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            let value = self.value(depth + 1).map_err(|e| e.with_field(&format!("[{}]", items.len())))?;
            items.push(value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn string(&mut self) -> Result<String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let Some(i) = rest.find(['"', '\\']).filter(|&i| !rest[..i].bytes().any(|b| b < 0x20)) else {
                return Err(self.error("unterminated string or raw control character in a string"));
            };
            out.push_str(&rest[..i]);
            self.pos += i + 1;
            if rest.as_bytes()[i] == b'"' {
                return Ok(out);
            }
            self.escape(&mut out)?;
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<()> {
        let c = self.peek().ok_or_else(|| self.error("unterminated escape"))?;
        self.pos += 1;
        let simple = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(out),
            _ => return Err(self.error("unknown escape")),
        };
        out.push(simple);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self.text.get(self.pos..self.pos + 4).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        let digits = digits.ok_or_else(|| self.error("malformed \\u escape"))?;
        self.pos += 4;
        Ok(u32::from_str_radix(digits, 16).expect("hex digits"))
    }

    fn unicode_escape(&mut self, out: &mut String) -> Result<()> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.text[self.pos..].starts_with("\\u") {
                return Err(self.error("unpaired surrogate in a \\u escape"));
            }
            self.pos += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("unpaired surrogate in a \\u escape"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        out.push(char::from_u32(code).ok_or_else(|| self.error("unpaired surrogate in a \\u escape"))?);
        Ok(())
    }

    fn number(&mut self) -> Result<Json> {
        let start = self.pos;
        let rest = &self.text.as_bytes()[start..];
        let len = rest.iter().position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'));
        let text = &self.text[start..start + len.unwrap_or(rest.len())];
        if !valid_number(text) {
            return Err(self.error(&format!("malformed number {}", echo(text))));
        }
        let value = if text.contains(['.', 'e', 'E']) {
            Json::Float(text.parse().map_err(|_| self.error("malformed number"))?)
        } else {
            let too_large = || self.error(&format!("integer {} does not fit a 64-bit signed integer", echo(text)));
            Json::Int(text.parse().map_err(|_| too_large())?)
        };
        self.pos += text.len();
        Ok(value)
    }
}

/// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn valid_number(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - s
    };
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[int_start] == b'0') {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Writes the fields of a JSON object as a BSON document.
pub(crate) fn to_document(fields: &[(String, Json)]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    let start = begin_document(&mut out);
    for (name, value) in fields {
        element(value, &codec::cname(name)?, &mut out).map_err(|e| e.with_field(name))?;
    }
    end_document(&mut out, start)?;
    Ok(out)
}

/// The fields of a record's JSON object as its document: a record [`write_document`] wrote
/// escaped (`{"$document": {…}}`: its one field is named like a type wrapper) is the inner
/// object's. Only a whole record is unescaped here; inside it, `$document` is the wrapper
/// [`element`] reads.
pub(crate) fn record_to_document(fields: &[(String, Json)]) -> Result<Vec<u8>> {
    match fields {
        [(name, Json::Object(inner))] if name == "$document" => to_document(inner),
        _ => to_document(fields),
    }
}

/// Writes one JSON value as a BSON element named `name` (with its NUL).
pub(crate) fn element(value: &Json, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
    use crate::core::codec::Encode;
    match value {
        Json::Null => header(out, codec::NULL, name),
        Json::Bool(b) => b.encode(name, out)?,
        Json::Int(n) => n.encode(name, out)?,
        Json::Float(f) => f.encode(name, out)?,
        Json::Str(s) => s.encode(name, out)?,
        Json::Array(items) => {
            header(out, codec::ARRAY, name);
            let start = begin_document(out);
            for (i, item) in items.iter().enumerate() {
                element(item, codec::IndexName::new(i).as_bytes(), out).map_err(|e| e.with_field(&format!("[{i}]")))?;
            }
            end_document(out, start)?;
        }
        Json::Object(fields) if fields.len() == 1 && is_wrapper(fields[0].0.as_bytes()) => {
            wrapper(&fields[0].0, &fields[0].1, name, out)?
        }
        Json::Object(fields) => {
            header(out, codec::DOCUMENT, name);
            out.extend_from_slice(&to_document(fields)?);
        }
    }
    Ok(())
}

fn text<'j>(v: &'j Json, what: &str) -> Result<&'j str> {
    match v {
        Json::Str(s) => Ok(s),
        _ => Err(bad(format!("{what} must be a string"))),
    }
}

fn wrapper(kind: &str, v: &Json, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
    use crate::core::codec::Encode;
    let number = |what: &str| bad(format!("{kind} holds a malformed {what}"));
    match kind {
        "$numberInt" => text(v, kind)?.parse::<i32>().map_err(|_| number("int32"))?.encode(name, out),
        "$numberLong" => text(v, kind)?.parse::<i64>().map_err(|_| number("int64"))?.encode(name, out),
        "$numberDouble" => {
            let f = match text(v, kind)? {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                other => other.parse().map_err(|_| number("double"))?,
            };
            f.encode(name, out)
        }
        "$numberDecimal" => {
            let d: rust_decimal::Decimal = text(v, kind)?.parse().map_err(|_| number("decimal"))?;
            d.encode(name, out)
        }
        "$date" => {
            let ms = match v {
                Json::Object(f) if f.len() == 1 && f[0].0 == "$numberLong" => {
                    text(&f[0].1, "$numberLong")?.parse::<i64>().map_err(|_| number("date"))?
                }
                _ => chrono::DateTime::parse_from_rfc3339(text(v, kind)?)
                    .map_err(|_| number("date (RFC 3339 text expected)"))?
                    .timestamp_millis(),
            };
            header(out, codec::DATETIME, name);
            out.extend_from_slice(&ms.to_le_bytes());
            Ok(())
        }
        "$binary" => {
            let data = v.get("base64").map(|b| text(b, "base64")).transpose()?;
            let data = data.and_then(|d| base64::STANDARD.decode(d)).ok_or_else(|| number("base64 text"))?;
            let sub = v.get("subType").map(|s| text(s, "subType")).transpose()?;
            let sub = sub.and_then(|s| u8::from_str_radix(s, 16).ok()).ok_or_else(|| number("subType"))?;
            header(out, codec::BINARY, name);
            out.extend_from_slice(&(data.len() as i32).to_le_bytes());
            out.push(sub);
            out.extend_from_slice(&data);
            Ok(())
        }
        "$oid" => {
            crate::schema::key::ObjectId::parse(text(v, kind)?).map_err(|_| number("ObjectId"))?.encode(name, out)
        }
        "$document" => match v {
            Json::Object(fields) => {
                header(out, codec::DOCUMENT, name);
                out.extend_from_slice(&to_document(fields)?);
                Ok(())
            }
            _ => Err(bad("$document must hold an object")),
        },
        "$bson" => raw_element(text(v, kind)?, name, out),
        _ => Err(bad(format!("{kind} is not a type wrapper this reader knows"))),
    }
}

/// `{"$bson": "TTVV…"}`: a type byte and value bytes, checked to be one well-formed element.
fn raw_element(hex_text: &str, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let malformed = || bad("$bson must hold a type byte and value bytes in hex");
    if hex_text.len() < 2 || !hex_text.len().is_multiple_of(2) || !hex_text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed());
    }
    let bytes: Vec<u8> =
        (0..hex_text.len()).step_by(2).map(|i| u8::from_str_radix(&hex_text[i..i + 2], 16).expect("hex")).collect();
    let mut check = Vec::with_capacity(bytes.len() + 8);
    let start = begin_document(&mut check);
    check.push(bytes[0]);
    check.extend_from_slice(b"v\0");
    check.extend_from_slice(&bytes[1..]);
    end_document(&mut check, start)?;
    let mut elements = Elements::new(&check)?;
    match (elements.next(), elements.next()) {
        (Some(Ok(el)), None) if el.value.len() == bytes.len() - 1 => {
            header(out, bytes[0], name);
            out.extend_from_slice(&bytes[1..]);
            Ok(())
        }
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `write_json_str` one byte at a time, as it was written first: the reference.
    fn write_json_str_bytewise(s: &str, out: &mut String) {
        out.push('"');
        let mut clean = 0;
        for (i, &b) in s.as_bytes().iter().enumerate() {
            if b >= 0x20 && b != b'"' && b != b'\\' {
                continue;
            }
            // The escape of one byte is the writer's own; what is tested is the passing over.
            push_escaped(s, clean, i, out);
            clean = i + 1;
        }
        out.push_str(&s[clean..]);
        out.push('"');
    }

    /// Strings of every length up to 40 with quotes, backslashes, control characters, DEL and
    /// multi-byte characters at every offset (the writer passes over eight bytes at a time):
    /// written as the byte-at-a-time writer writes them, and read back by serde as themselves.
    #[test]
    fn strings_are_escaped_as_one_byte_at_a_time() {
        const PIECES: [&str; 12] = ["a", " ", "\"", "\\", "\u{0}", "\u{1f}", "\u{7f}", "é", "😀", "\n", "~", "\t"];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..50_000 {
            let len = next(41);
            let plain = next(3) == 0;
            let s: String = (0..len)
                .map(|_| {
                    let i = next(PIECES.len() as u64) as usize;
                    if plain && !matches!(i, 0 | 1 | 6 | 7 | 8 | 10) {
                        "b"
                    } else {
                        PIECES[i]
                    }
                })
                .collect();
            let (mut fast, mut slow) = (String::from("x"), String::from("x"));
            write_json_str(&s, &mut fast);
            write_json_str_bytewise(&s, &mut slow);
            assert_eq!(fast, slow, "{s:?}");
            assert_eq!(serde_json::from_str::<String>(&fast[1..]).expect("JSON"), s);
        }
    }

    /// `write_fields_json_of` writes what `write_fields_json` writes, and says a document holds
    /// nothing a save keeps exactly when the merge gives the new document back: documents of
    /// the model's fields in any order, with fields it does not name, and a model with an
    /// embedded one.
    #[test]
    fn write_fields_json_of_tells_when_the_merge_keeps_nothing() {
        use crate::schema::model::{KeyDesc, Shape};
        fn field(name: &'static str, shape: Shape) -> FieldDesc {
            FieldDesc { name, rust_name: name, ty: "T", shape }
        }
        fn inner() -> &'static [FieldDesc] {
            static INNER: [FieldDesc; 1] = [FieldDesc { name: "x", rust_name: "x", ty: "i64", shape: Shape::Plain }];
            &INNER
        }
        fn model(fields: &'static [FieldDesc]) -> &'static ModelDesc {
            Box::leak(Box::new(ModelDesc {
                name: "M",
                collection: "m",
                key: KeyDesc { field: "id", kind: crate::KeyKind::Int },
                fields,
                indexes: &[],
                compound_indexes: &[],
                counters: &[],
                has_extra: false,
            }))
        }
        let plain = model(Box::leak(Box::new([field("a", Shape::Plain), field("b", Shape::Plain)])));
        let nested = model(Box::leak(Box::new([
            field("a", Shape::Plain),
            field("b", Shape::Nested { fields: inner, has_extra: false }),
        ])));
        let docs = [
            r#"{"a":1,"b":"two"}"#,
            r#"{"b":"two","a":1}"#,
            r#"{"a":1}"#,
            r#"{}"#,
            r#"{"a":1,"b":{"x":1},"c":3}"#,
            r#"{"c":3}"#,
            r#"{"a":1,"_dn_r_f":"copy"}"#,
            r#"{"$date":"x"}"#,
        ];
        let new = document_from_json(r#"{"a":5,"b":{"x":2,"y":3}}"#).expect("a document");
        for m in [plain, nested] {
            for text in docs {
                let doc = fields_from_json(text).expect("a document");
                let mut want = String::from("[");
                write_fields_json(&doc, &mut want).expect("written");
                let mut got = String::from("[");
                let keeps_nothing = write_fields_json_of(m, &doc, &mut got).expect("written");
                assert_eq!(got, want, "{text}");
                let merged = crate::schema::unknown::keep_unknown(m, &doc, &new).expect("merged");
                if keeps_nothing {
                    assert_eq!(merged, new, "{text}");
                }
                let expected =
                    std::ptr::eq(m, plain) && !text.contains('c') && !text.contains('_') && !text.contains('$');
                assert_eq!(keeps_nothing, expected, "{text}");
            }
        }
    }

    #[test]
    fn integers_are_written_as_display_writes_them() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut cases = vec![0, 1, -1, 9, 10, -10, i64::MAX, i64::MIN, 1_000_000];
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            cases.push((seed as i64) >> (seed % 64));
        }
        for n in cases {
            let mut out = String::from("x");
            write_json_int(n, &mut out);
            assert_eq!(out, format!("x{n}"));
        }
    }

    fn round_trip(json: &str) {
        let doc = document_from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(document_to_json(&doc).unwrap(), json);
    }

    #[test]
    fn every_type_reads_back_as_written() {
        round_trip(r#"{"a":1,"b":{"$numberInt":"-2"},"c":0.1,"d":-0.0,"e":1e300,"f":"x\"\\\n\u0001é😀"}"#);
        round_trip(r#"{"g":{"$numberDouble":"NaN"},"h":{"$numberDouble":"-Infinity"},"i":null,"j":true}"#);
        round_trip(r#"{"k":{"$numberDecimal":"-12.500"},"l":{"$date":"2023-11-14T22:13:20.123Z"}}"#);
        round_trip(r#"{"m":{"$date":{"$numberLong":"-1"}},"n":{"$binary":{"base64":"AJ+Slg==","subType":"00"}}}"#);
        round_trip(r#"{"o":{"$oid":"65f0c1d2e3f4a5b6c7d8e9f0"},"p":[1,[],{}],"q":{"$bson":"11e803000001000000"}}"#);
        round_trip(r#"{"r":{"$document":{"$oid":"x"}},"s":{"$binary":{"base64":"","subType":"04"}}}"#);
        round_trip(
            r#"{"t":-9223372036854775808,"u":0,"v":9223372036854775807,"w":"\u001f\t\r\\","x":{"$document":{"$date":1}}}"#,
        );
    }

    /// Random documents read back as written, and the writer escapes a document exactly when
    /// it has one field and that field is named like a type wrapper (the oracle).
    #[test]
    fn a_document_is_escaped_exactly_when_its_one_field_looks_like_a_wrapper() {
        let mut seed = 0x853c_49e6_748f_ea9b_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        const NAMES: [&str; 8] = ["a", "$", "$x", "_key", "$date", "$oid", "$document", "$numberLong"];
        // Names of nested documents are not wrapper names: the escape under test is the
        // top level's.
        fn fields(next: &mut dyn FnMut(u64) -> u64, depth: u32) -> Vec<(String, Json)> {
            let mut out: Vec<(String, Json)> = Vec::new();
            for _ in 0..next(4) {
                let names = if depth == 0 { &NAMES[..] } else { &NAMES[..3] };
                let name = names[next(names.len() as u64) as usize].to_string();
                if out.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                let value = match if depth > 2 { 0 } else { next(3) } {
                    0 => Json::Int(next(100) as i64),
                    1 => Json::Str("s".into()),
                    _ => Json::Object(fields(next, depth + 1)),
                };
                out.push((name, value));
            }
            out
        }
        let (mut escaped, mut plain) = (0, 0);
        for _ in 0..20_000 {
            let top = fields(&mut next, 0);
            // Nested objects shaped like a wrapper are read as one (or refused): only the
            // documents that build are checked.
            let Ok(doc) = to_document(&top) else { continue };
            let text = document_to_json(&doc).unwrap();
            let expect = top.len() == 1 && is_wrapper(top[0].0.as_bytes());
            // Escaped or not, every document reads back as itself, streamed or through the
            // tree (as a dump's records load).
            assert_eq!(document_from_json(&text).unwrap_or_else(|e| panic!("{text}: {e}")), doc, "{text}");
            let Json::Object(tree) = Parser::parse(&text).unwrap() else { panic!("{text}: not an object") };
            assert_eq!(record_to_document(&tree).unwrap_or_else(|e| panic!("{text}: {e}")), doc, "{text}");
            let names = |m: &[(String, Json)]| m.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            let Json::Object(members) = Parser::parse(&text).unwrap() else { panic!("{text}: not an object") };
            if expect {
                assert!(members.len() == 1 && members[0].0 == "$document", "{text}");
                assert!(matches!(&members[0].1, Json::Object(inner) if names(inner) == names(&top)), "{text}");
            } else {
                assert_eq!(names(&members), names(&top), "{text}");
            }
            if expect {
                escaped += 1;
            } else {
                plain += 1;
            }
        }
        assert!(escaped > 500 && plain > 5_000, "{escaped} escaped, {plain} plain");
    }

    /// The reader that writes documents straight from the text agrees with the parsed tree's
    /// writer on random texts: the same bytes, or an error from both.
    #[test]
    fn the_streaming_reader_agrees_with_the_tree() {
        fn tree(text: &str) -> Result<Vec<u8>> {
            match Parser::parse(text)? {
                Json::Object(fields) => record_to_document(&fields),
                _ => Err(bad("not an object")),
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        const NAMES: [&str; 6] = ["a", "b", "$date", "x\\u0041", "$numberInt", "$document"];
        const LEAVES: [&str; 14] = [
            "1",
            "-0.5",
            "1e3",
            "true",
            "null",
            "\"s\"",
            "\"\\n\\u00e9\"",
            "\"2023-11-14T22:13:20.123Z\"",
            "\"12\"",
            "{\"$numberLong\":\"-1\"}",
            "01",
            "\"unterminated",
            "99999999999999999999",
            "[]",
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
                    out.push_str(if next(20) == 0 { " ," } else { "," });
                }
                out.push_str(&format!("\"{}\":", NAMES[next(NAMES.len() as u64) as usize]));
                value(next, depth, out);
            }
            out.push('}');
        }
        let (mut same, mut failed) = (0, 0);
        for _ in 0..20_000 {
            let mut text = String::new();
            object(&mut next, 0, &mut text);
            match (document_from_json(&text), tree(&text)) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "{text}");
                    same += 1;
                }
                (Err(_), Err(_)) => failed += 1,
                (a, b) => panic!("{text}: streaming {a:?}, tree {b:?}"),
            }
        }
        assert!(same > 2_000 && failed > 2_000, "{same} read, {failed} refused");
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        for (raw, enc) in [(&b""[..], ""), (b"f", "Zg=="), (b"fo", "Zm8="), (b"foo", "Zm9v"), (b"\xff\xfe", "//4=")] {
            let mut s = String::new();
            base64::STANDARD.encode_into(raw, &mut s);
            assert_eq!(s, enc);
            assert_eq!(base64::STANDARD.decode(enc).unwrap(), raw);
        }
        assert!(base64::STANDARD.decode("Zg=").is_none());
        assert!(base64::STANDARD.decode("Z===").is_none());
    }

    #[test]
    fn malformed_text_names_the_column() {
        for (text, col) in [(r#"{"a":1,}"#, 8), (r#"{"a" 1}"#, 6), (r#"{"a":01}"#, 6), (r#"{"a":"x}"#, 7)] {
            let err = document_from_json(text).unwrap_err();
            assert!(err.to_string().contains(&format!("column {col}")), "{text}: {err}");
        }
        let err = document_from_json(r#"{"a":{"$numberInt":"x"}}"#).unwrap_err();
        assert!(err.to_string().contains("field `a`"), "{err}");
        assert!(document_from_json(r#"{"a":{"$bson":"1000"}}"#).is_err(), "truncated int32");
        assert!(document_from_json("[1]").is_err());
        assert!(document_from_json(&"[".repeat(1000)).is_err());
    }
}
