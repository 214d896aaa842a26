//! Model <-> BSON bytes, written by hand: no serde data model, no intermediate document.
//!
//! The derive emits one [`Encode::encode`] call per field with the field's name as a static
//! C string, and one [`Decode::decode`] call per recognised element. Everything here works on
//! a `Vec<u8>` being built or a `&[u8]` being read.

pub(crate) mod base64;
mod collections;
pub(crate) use collections::{bad_map_key, encode_seq};
mod decimal;
pub(crate) use decimal::{from_decimal128, to_decimal128};
mod scalars;

use crate::error::{Error, ErrorKind, Result};

/// The largest document a store accepts (MongoDB's limit, kept on every backend).
pub const MAX_DOCUMENT_SIZE: usize = 16 * 1024 * 1024;

/// How deep documents and arrays may nest inside a document being read (MongoDB's limit):
/// a deeper one is a [`ErrorKind::Decode`] error, never a stack overflow.
pub const MAX_DEPTH: usize = 100;

pub(crate) const DOUBLE: u8 = 0x01;
pub(crate) const STRING: u8 = 0x02;
pub(crate) const DOCUMENT: u8 = 0x03;
pub(crate) const ARRAY: u8 = 0x04;
pub(crate) const BINARY: u8 = 0x05;
pub(crate) const OBJECT_ID: u8 = 0x07;
pub(crate) const BOOL: u8 = 0x08;
pub(crate) const DATETIME: u8 = 0x09;
pub(crate) const NULL: u8 = 0x0A;
pub(crate) const INT32: u8 = 0x10;
pub(crate) const INT64: u8 = 0x12;
pub(crate) const DECIMAL128: u8 = 0x13;

/// The error for an element of type `found` where `expected` was wanted.
pub(crate) fn decode_error(expected: &str, found: u8) -> Error {
    Error::new(ErrorKind::Decode, format!("expected {expected}, found {}", type_name(found)))
}

/// The BSON name of an element type, for error messages.
pub fn type_name(ty: u8) -> &'static str {
    match ty {
        DOUBLE => "double",
        STRING => "string",
        DOCUMENT => "document",
        ARRAY => "array",
        BINARY => "binary",
        0x06 => "undefined",
        OBJECT_ID => "objectId",
        BOOL => "bool",
        DATETIME => "date",
        NULL => "null",
        0x0B => "regex",
        0x0C => "dbPointer",
        0x0D => "javascript",
        0x0E => "symbol",
        0x0F => "javascriptWithScope",
        INT32 => "int32",
        0x11 => "timestamp",
        INT64 => "int64",
        DECIMAL128 => "decimal128",
        0xFF => "minKey",
        0x7F => "maxKey",
        _ => "unknown type",
    }
}

/// Writes a value as one BSON element.
///
/// Implemented for every supported field type; `#[derive(Embedded)]` implements it for
/// embedded models. `name` is the element's name followed by its terminating NUL.
pub trait Encode {
    /// Appends the element (type byte, `name`, value) to `out`.
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()>;

    /// This value as the scalar its element reads back as, where it is one of the plain
    /// ones (text, 64-bit integers, doubles, booleans); `None` (the default) to read it
    /// from its encoding. A query's condition values are made this way.
    #[doc(hidden)]
    fn scalar(&self) -> Option<Scalar<'_>> {
        None
    }
}

/// A plain value as its element reads back ([`Encode::scalar`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    /// A string element.
    Text(&'a str),
    /// An int64 element.
    Int64(i64),
    /// A double element.
    Double(f64),
    /// A boolean element.
    Bool(bool),
}

/// Reads a value from one BSON element.
pub trait Decode: Sized {
    /// Reads the value of an element of type `ty` whose value bytes are `value`.
    fn decode(ty: u8, value: &[u8]) -> Result<Self>;

    /// The value of a field absent from the document, if absence is allowed
    /// (`None` for options, empty for collections).
    fn when_missing() -> Option<Self> {
        None
    }

    /// The value of a field a query did not load (`only`/`defer`): the type's default.
    fn placeholder() -> Option<Self> {
        Self::when_missing()
    }

    /// The value of the next element of `elements` when it is named `cname` (the name and
    /// its NUL) and holds this type's usual BSON type, read in one step; `None`, nothing
    /// consumed, otherwise (the caller then reads the element as any other, with its errors).
    /// Generated decoders read the fields in their written order this way.
    #[doc(hidden)]
    #[inline(always)]
    fn decode_next(elements: &mut Elements<'_>, cname: &[u8]) -> Option<Self> {
        let _ = (elements, cname);
        None
    }
}

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Leaves one nesting level when dropped (also when decoding returns early).
struct Level;

impl Drop for Level {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Runs `f`, which reads a document or array one level deeper than its caller, refusing a
/// level past [`MAX_DEPTH`]. Readers that recurse into nested values go through it, so the
/// depth a document can push them to is bounded whatever its bytes.
pub(crate) fn nested<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    let depth = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let _level = Level;
    if depth > MAX_DEPTH {
        return Err(malformed(&format!("documents and arrays nested more than {MAX_DEPTH} levels deep")));
    }
    f()
}

/// Refuses a document being written whose documents and arrays nest more than
/// [`MAX_DEPTH`] levels deep: every reader refuses them, so the record could never be read
/// back. An [`ErrorKind::Encode`] error naming the top-level field that holds the value.
pub(crate) fn check_depth(doc: &[u8]) -> Result<()> {
    match too_deep_field(doc)? {
        Some(field) => Err(too_deep_error().with_field(&field)),
        None => Ok(()),
    }
}

/// The first top-level field of `doc` that nests past [`MAX_DEPTH`] levels, if one does.
pub(crate) fn too_deep_field(doc: &[u8]) -> Result<Option<String>> {
    // Each level costs at least 7 bytes (type, name's NUL, length, terminator): a smaller
    // document cannot be too deep, and most documents are skipped without a scan.
    if doc.len() <= 7 * MAX_DEPTH {
        return Ok(None);
    }
    for el in Elements::new(doc)? {
        let el = el?;
        if too_deep(&el, 1)? {
            return Ok(Some(el.name_str().into_owned()));
        }
    }
    Ok(None)
}

/// Whether `el`, at nesting level `level` when it is a document or array, holds a level past
/// [`MAX_DEPTH`].
fn too_deep(el: &Element<'_>, level: usize) -> Result<bool> {
    if !matches!(el.ty, DOCUMENT | ARRAY) {
        return Ok(false);
    }
    if level > MAX_DEPTH {
        return Ok(true);
    }
    for inner in Elements::new(el.value)? {
        if too_deep(&inner?, level + 1)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The error of a value nested past [`MAX_DEPTH`] on its way to the store.
pub(crate) fn too_deep_error() -> Error {
    let msg = format!(
        "documents and arrays nested more than {MAX_DEPTH} levels deep cannot be stored (they could not be read back)"
    );
    Error::new(ErrorKind::Encode, msg)
}

/// Starts a document; returns the position to pass to [`end_document`].
#[inline]
pub fn begin_document(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    start
}

/// Closes the document begun at `start`, writing its length.
#[inline]
pub fn end_document(out: &mut Vec<u8>, start: usize) -> Result<()> {
    out.push(0);
    let len = out.len() - start;
    if len > MAX_DOCUMENT_SIZE {
        let msg = format!("document of {len} bytes exceeds the {MAX_DOCUMENT_SIZE}-byte limit");
        return Err(Error::new(ErrorKind::TooLarge, msg));
    }
    out[start..start + 4].copy_from_slice(&(len as i32).to_le_bytes());
    Ok(())
}

/// Writes an element header: type byte and name (with its NUL).
#[inline]
pub fn header(out: &mut Vec<u8>, ty: u8, name: &[u8]) {
    out.push(ty);
    out.extend_from_slice(name);
}

/// Writes a BSON string value (length, bytes, NUL).
#[inline]
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&((s.len() + 1) as i32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// A name for a map key: the key and a NUL, rejecting keys BSON cannot hold.
pub(crate) fn cname(key: &str) -> Result<Vec<u8>> {
    if key.as_bytes().contains(&0) {
        let msg = format!("map key {key:?} contains a NUL byte, which a document key cannot hold");
        return Err(Error::new(ErrorKind::Encode, msg));
    }
    let mut name = Vec::with_capacity(key.len() + 1);
    name.extend_from_slice(key.as_bytes());
    name.push(0);
    Ok(name)
}

/// The name of a BSON array's element `i` ("0\0", "1\0", …: its index in decimal and the
/// NUL that ends a name), without allocating: for a backend writing arrays into a document.
///
/// ```
/// use nonrel_runtime::codec::IndexName;
/// assert_eq!(IndexName::new(0).as_bytes(), b"0\0");
/// assert_eq!(IndexName::new(1234).as_bytes(), b"1234\0");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct IndexName {
    buf: [u8; 21],
    len: usize,
}

impl IndexName {
    /// The name of element `i`.
    pub fn new(i: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut n = i;
        let mut d = 0;
        loop {
            digits[d] = b'0' + (n % 10) as u8;
            d += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut buf = [0u8; 21];
        for k in 0..d {
            buf[k] = digits[d - 1 - k];
        }
        IndexName { buf, len: d + 1 }
    }

    /// The name's bytes, its NUL included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// One element of a document being read.
#[derive(Debug, Clone, Copy)]
pub struct Element<'a> {
    /// The BSON type byte.
    pub ty: u8,
    /// The element's name, without its NUL.
    pub name: &'a [u8],
    /// The value bytes.
    pub value: &'a [u8],
    /// The whole element (type, name, value), for keeping unknown fields verbatim.
    pub raw: &'a [u8],
}

impl Element<'_> {
    /// The name as text (lossy only for names that are not UTF-8).
    pub fn name_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.name)
    }
}

/// Iterates the elements of a BSON document, checking every length against the bytes.
pub struct Elements<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Elements<'a> {
    /// Checks the document's framing and starts at its first element.
    pub fn new(doc: &'a [u8]) -> Result<Self> {
        if doc.len() < 5 {
            return Err(malformed("document shorter than 5 bytes"));
        }
        let len = read_i32(doc, 0)? as usize;
        if len != doc.len() || doc[len - 1] != 0 {
            return Err(malformed("document length does not match its bytes"));
        }
        Ok(Elements { bytes: doc, pos: 4, end: len - 1 })
    }

    /// Iterates elements laid end to end without a document's framing.
    pub(crate) fn concatenated(raw: &'a [u8]) -> Self {
        Elements { bytes: raw, pos: 0, end: raw.len() }
    }

    /// The type and value of the first element named `name` from here, the elements before
    /// it stepped over: each name is compared in place and only searched for its end when it
    /// differs. Malformed elements before it are errors, as [`next`](Iterator::next) finds them.
    pub(crate) fn find(mut self, name: &[u8]) -> Result<Option<(u8, &'a [u8])>> {
        while self.pos < self.end {
            let ty = self.bytes[self.pos];
            let name_start = self.pos + 1;
            let rest = &self.bytes[name_start..self.end];
            // The first byte and the terminator first: most names differ there.
            let matched = (name.is_empty() || rest.first() == name.first())
                && rest.get(name.len()) == Some(&0)
                && &rest[..name.len()] == name;
            let name_len = if matched { name.len() } else { name_len(rest)? };
            let value_start = name_start + name_len + 1;
            let rest = &self.bytes[value_start..self.end];
            // The common fixed sizes inline, anything else (and a truncated value) as `next`.
            let len = match ty {
                DOUBLE | DATETIME | INT64 if rest.len() >= 8 => 8,
                INT32 if rest.len() >= 4 => 4,
                _ => value_len(ty, rest)?,
            };
            let value_end = value_start + len;
            if matched {
                return Ok(Some((ty, &self.bytes[value_start..value_end])));
            }
            self.pos = value_end;
        }
        Ok(None)
    }

    /// The next element if it is named `cname` (the name with its terminating NUL), read
    /// without searching for the name's end; `None`, the position unchanged, when there is
    /// no next element or it has another name. Generated decoders read the fields in the
    /// order they are written this way, and the rest as [`next`](Iterator::next) does.
    #[doc(hidden)]
    #[inline(always)]
    pub fn next_named(&mut self, cname: &[u8]) -> Option<Result<Element<'a>>> {
        self.value_after(cname)?;
        let item = self.element_at(self.pos + 1, cname.len() - 1);
        if item.is_err() {
            self.pos = self.end;
        }
        Some(item)
    }

    /// The `N` value bytes of the next element when it is named `cname` and of type `ty`
    /// (a fixed-size type); `None`, nothing consumed, otherwise.
    #[inline(always)]
    pub(crate) fn next_fixed<const N: usize>(&mut self, ty: u8, cname: &[u8]) -> Option<[u8; N]> {
        let value_start = self.value_after(cname)?;
        let value_end = value_start + N;
        if value_end > self.end || self.bytes[self.pos] != ty {
            return None;
        }
        let value = self.bytes[value_start..value_end].try_into().ok()?;
        self.pos = value_end;
        Some(value)
    }

    /// The text of the next element when it is named `cname` and is a well-formed string
    /// of valid UTF-8; `None`, nothing consumed, otherwise.
    #[inline(always)]
    pub(crate) fn next_str(&mut self, cname: &[u8]) -> Option<&'a str> {
        let value_start = self.value_after(cname)?;
        if self.bytes[self.pos] != STRING {
            return None;
        }
        let value_end = value_start + string_value_len(&self.bytes[value_start..self.end])?;
        // The text lies between its length and its NUL.
        let text = std::str::from_utf8(&self.bytes[value_start + 4..value_end - 1]).ok()?;
        self.pos = value_end;
        Some(text)
    }

    /// Where the value of the next element starts, when that element is named `cname` (the
    /// name and its NUL). Inlined where `cname` is a literal, the comparison is of a known
    /// length.
    #[inline(always)]
    fn value_after(&self, cname: &[u8]) -> Option<usize> {
        // With its NUL a name is never empty, so no element past the end matches.
        let value_start = self.pos + 1 + cname.len();
        (value_start <= self.end && self.bytes[self.pos + 1..value_start] == *cname).then_some(value_start)
    }

    #[inline]
    fn next_element(&mut self) -> Result<Element<'a>> {
        let name_start = self.pos + 1;
        let name_len = name_len(&self.bytes[name_start..self.end])?;
        self.element_at(name_start, name_len)
    }

    /// The element at the position, its name `name_len` bytes from `name_start` (then its
    /// NUL); the position moves past it.
    #[inline(always)]
    fn element_at(&mut self, name_start: usize, name_len: usize) -> Result<Element<'a>> {
        let start = self.pos;
        let ty = self.bytes[start];
        let value_start = name_start + name_len + 1;
        let rest = &self.bytes[value_start..self.end];
        // The common types inline (as `find` does), anything else (and a truncated or
        // malformed value) through `value_len`.
        let value_len = match ty {
            DOUBLE | DATETIME | INT64 if rest.len() >= 8 => 8,
            INT32 if rest.len() >= 4 => 4,
            BOOL if !rest.is_empty() => 1,
            NULL => 0,
            STRING => match string_value_len(rest) {
                Some(len) => len,
                None => value_len(ty, rest)?,
            },
            _ => value_len(ty, rest)?,
        };
        let value_end = value_start + value_len;
        self.pos = value_end;
        Ok(Element {
            ty,
            name: &self.bytes[name_start..name_start + name_len],
            value: &self.bytes[value_start..value_end],
            raw: &self.bytes[start..value_end],
        })
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let item = self.next_element();
        if item.is_err() {
            self.pos = self.end;
        }
        Some(item)
    }
}

/// The length of the element name at the start of `rest` (up to its NUL): eight bytes at a
/// time where eight are there, as most names are shorter.
#[inline(always)]
fn name_len(rest: &[u8]) -> Result<usize> {
    if let Some(word) = rest.first_chunk::<8>() {
        let w = u64::from_le_bytes(*word);
        // The lowest byte that is zero sets its high bit here (bytes above a zero may too).
        let zeros = w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080;
        if zeros != 0 {
            return Ok(zeros.trailing_zeros() as usize / 8);
        }
    }
    rest.iter().position(|&b| b == 0).ok_or_else(|| malformed("element name is not terminated"))
}

/// The length of a well-formed string value at the start of `rest`: its length field (which
/// counts the text and its NUL), the text and the NUL; `None` for anything else.
#[inline(always)]
fn string_value_len(rest: &[u8]) -> Option<usize> {
    let n = usize::try_from(i32::from_le_bytes(*rest.first_chunk::<4>()?)).ok()?;
    (n >= 1 && n + 4 <= rest.len() && rest[n + 3] == 0).then_some(n + 4)
}

pub(crate) fn malformed(what: &str) -> Error {
    Error::new(ErrorKind::Decode, format!("malformed document: {what}"))
}

pub(crate) fn read_i32(b: &[u8], at: usize) -> Result<i32> {
    Ok(i32::from_le_bytes(fixed_bytes(b.get(at..).unwrap_or_default())?))
}

/// The `N` bytes of a fixed-size value; a value of another length is malformed (the
/// [`Decode`] implementations are public, so they check what they are given).
pub(crate) fn fixed_bytes<const N: usize>(value: &[u8]) -> Result<[u8; N]> {
    value.get(..N).and_then(|v| v.try_into().ok()).ok_or_else(|| malformed("truncated value"))
}

fn fixed(rest: &[u8], n: usize) -> Result<usize> {
    if rest.len() < n {
        return Err(malformed("truncated value"));
    }
    Ok(n)
}

fn length_prefixed(rest: &[u8], extra: usize, min: i32) -> Result<usize> {
    let n = read_i32(rest, 0)?;
    if n < min {
        return Err(malformed("negative or too small length"));
    }
    fixed(rest, 4 + extra + n as usize)
}

/// A BSON string (length, bytes, NUL): its whole length, the NUL checked.
fn string_len(rest: &[u8]) -> Result<usize> {
    let n = length_prefixed(rest, 0, 1)?;
    if rest[n - 1] != 0 {
        return Err(malformed("string is not NUL-terminated"));
    }
    Ok(n)
}

fn cstring_len(rest: &[u8]) -> Result<usize> {
    rest.iter().position(|&b| b == 0).map(|p| p + 1).ok_or_else(|| malformed("unterminated string"))
}

/// The length of the value of an element of type `ty` at the start of `rest`.
fn value_len(ty: u8, rest: &[u8]) -> Result<usize> {
    match ty {
        DOUBLE | DATETIME | INT64 | 0x11 => fixed(rest, 8),
        STRING | 0x0D | 0x0E => string_len(rest),
        DOCUMENT | ARRAY | 0x0F => {
            let n = read_i32(rest, 0)?;
            if n < 5 {
                return Err(malformed("embedded document shorter than 5 bytes"));
            }
            fixed(rest, n as usize)
        }
        BINARY => length_prefixed(rest, 1, 0),
        0x06 | NULL | 0xFF | 0x7F => Ok(0),
        OBJECT_ID => fixed(rest, 12),
        BOOL => fixed(rest, 1),
        0x0B => {
            let a = cstring_len(rest)?;
            Ok(a + cstring_len(&rest[a..])?)
        }
        0x0C => {
            // A namespace string, then a 12-byte ObjectId after it.
            let ns = string_len(rest)?;
            Ok(ns + fixed(&rest[ns..], 12)?)
        }
        INT32 => fixed(rest, 4),
        DECIMAL128 => fixed(rest, 16),
        other => Err(malformed(&format!("unknown element type 0x{other:02x}"))),
    }
}

/// Reads a BSON string value.
pub(crate) fn read_str(ty: u8, value: &[u8]) -> Result<&str> {
    if ty != STRING {
        return Err(decode_error("string", ty));
    }
    let bytes = value.get(4..value.len().saturating_sub(1)).ok_or_else(|| malformed("truncated string"))?;
    std::str::from_utf8(bytes).map_err(|_| malformed("string is not valid UTF-8"))
}

/// Reads the elements of an embedded document or array value.
pub(crate) fn sub_elements<'a>(ty: u8, want: u8, value: &'a [u8]) -> Result<Elements<'a>> {
    if ty != want {
        return Err(decode_error(type_name(want), ty));
    }
    Elements::new(value)
}

/// Checks an embedded document's element type (used by generated decoders).
#[inline]
pub fn embedded_elements(ty: u8, value: &[u8]) -> Result<Elements<'_>> {
    sub_elements(ty, DOCUMENT, value)
}

#[cfg(test)]
mod tests {
    // Random cases from the kit's seeded generator, compiled with it.
    #[cfg(feature = "conformance")]
    use super::{begin_document, cname, end_document, Elements, Encode};
    #[cfg(feature = "conformance")]
    use crate::conformance::Rng;
    #[cfg(feature = "conformance")]
    use crate::core::value::Value;

    /// The name length read eight bytes at a time is the position of the first NUL, for
    /// every placement of zero and non-zero bytes (0x01 and 0x80, the bytes the word trick
    /// could confuse, among them) in inputs of 0 to 19 bytes.
    #[test]
    fn name_lengths_are_the_first_nul() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let bytes = [0u8, 1, 0x7f, 0x80, 0x81, 0xff, b'a'];
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 20) as usize;
            let input: Vec<u8> = (0..len).map(|i| bytes[((state >> (i * 3 % 60)) % 7) as usize]).collect();
            let expected = input.iter().position(|&b| b == 0);
            assert_eq!(super::name_len(&input).ok(), expected, "{input:?}");
        }
    }

    /// The first element named `name` as the iterator finds it (what `find` must give).
    #[cfg(feature = "conformance")]
    fn first_named<'a>(doc: &'a [u8], name: &[u8]) -> crate::error::Result<Option<(u8, &'a [u8])>> {
        for el in Elements::new(doc)? {
            let el = el?;
            if el.name == name {
                return Ok(Some((el.ty, el.value)));
            }
        }
        Ok(None)
    }

    #[cfg(feature = "conformance")]
    fn value(rng: &mut Rng) -> Value {
        match rng.below(7) {
            0 => Value::Null,
            1 => Value::Int32(rng.next() as i32),
            2 => Value::Int64(rng.next() as i64),
            3 => Value::String("s".repeat(rng.below(5))),
            4 => Value::Bool(rng.one_in(2)),
            5 => Value::Array((0..rng.below(3)).map(|i| Value::Int32(i as i32)).collect()),
            _ => Value::Document(vec![("author".into(), Value::Int64(1))]),
        }
    }

    /// Random documents (names repeated, prefixes of each other, one nested under a name
    /// searched for), some cut short or with a byte changed: `find` answers as the iterator
    /// does, errors included.
    #[test]
    #[cfg(feature = "conformance")]
    fn find_agrees_with_the_iterator() {
        let names = ["a", "au", "author", "authors", "authored", "authorities", "n", "", "b"];
        let mut rng = Rng::new(0xf1d);
        for case in 0..5_000 {
            let mut doc = Vec::new();
            let start = begin_document(&mut doc);
            for _ in 0..rng.below(6) {
                value(&mut rng).encode(&cname(rng.pick(&names)).unwrap(), &mut doc).unwrap();
            }
            end_document(&mut doc, start).unwrap();
            if rng.one_in(4) && doc.len() > 5 {
                let at = 4 + rng.below(doc.len() - 5);
                doc[at] = rng.next() as u8;
            }
            for name in names {
                let (found, expected) =
                    (Elements::new(&doc).and_then(|e| e.find(name.as_bytes())), first_named(&doc, name.as_bytes()));
                match (found, expected) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "case {case}, {name:?} in {doc:?}"),
                    (a, b) => assert_eq!(a.is_err(), b.is_err(), "case {case}, {name:?} in {doc:?}"),
                }
            }
        }
    }
}
