//! Fields read and written by generated code, naming the field in every error, and the
//! fields a query did not load (`only`/`defer`), which decode as their type's default.

use crate::core::codec::{self, Element};
use crate::error::{Error, ErrorKind, Result};

thread_local! {
    static PROJECTION: std::cell::RefCell<Option<super::Projection>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (which decodes query results) knowing which fields the query did not load.
/// Inlined, so decoding everything (no projection, the usual case) costs a test.
#[inline]
pub(crate) fn with_projection<R>(projection: Option<&super::Projection>, f: impl FnOnce() -> R) -> R {
    match projection {
        None => f(),
        Some(p) => with_projection_set(p, f),
    }
}

/// [`with_projection`] with a projection to note.
fn with_projection_set<R>(projection: &super::Projection, f: impl FnOnce() -> R) -> R {
    PROJECTION.with(|p| *p.borrow_mut() = Some(projection.clone()));
    let out = f();
    PROJECTION.with(|p| *p.borrow_mut() = None);
    out
}

/// Whether the query being decoded left `field` out.
fn not_loaded(field: &str) -> bool {
    PROJECTION.with(|p| p.borrow().as_ref().is_some_and(|p| !p.loads(field.as_bytes())))
}

/// Decodes a field, naming it in any error.
#[inline]
pub fn decode_field<T: super::Describe>(el: &Element<'_>, field: &str) -> Result<T> {
    let value = || T::decode(el.ty, el.value);
    let value = if matches!(el.ty, codec::DOCUMENT | codec::ARRAY) { codec::nested(value) } else { value() };
    value.map_err(|e| e.with_field(field))
}

/// The next element's value when it is the field `cname` (the name and its NUL), read in
/// one step where it holds its type's usual BSON type, else as [`decode_field`] reads it;
/// `None`, nothing consumed, when the next element is another (used by generated code).
#[inline(always)]
pub fn decode_next<T: super::Describe>(
    elements: &mut codec::Elements<'_>,
    cname: &[u8],
    field: &str,
) -> Option<Result<T>> {
    if let Some(value) = T::decode_next(elements, cname) {
        return Some(Ok(value));
    }
    decode_named(elements, cname, field)
}

/// [`decode_next`] for an element its type does not read in one step: out of line, so a
/// decoder of many fields stays small where every field is read in one step.
#[inline(never)]
fn decode_named<T: super::Describe>(
    elements: &mut codec::Elements<'_>,
    cname: &[u8],
    field: &str,
) -> Option<Result<T>> {
    elements.next_named(cname).map(|el| decode_field(&el?, field))
}

/// A field's value: the one read, else its value when it is absent from a document.
#[inline(always)]
pub fn missing_field<T: super::Describe>(slot: Option<T>, field: &str) -> Result<T> {
    match slot {
        Some(v) => Ok(v),
        None => absent_field(field),
    }
}

/// A field's value when it is absent from a document (out of line: decoders read most
/// fields).
#[cold]
#[inline(never)]
fn absent_field<T: super::Describe>(field: &str) -> Result<T> {
    match T::when_missing() {
        Some(v) => Ok(v),
        None if not_loaded(field) => T::placeholder().ok_or_else(|| {
            let msg = "was not loaded (only/defer) and its type has no default";
            Error::new(ErrorKind::Decode, msg).with_field(field)
        }),
        None => Err(Error::new(ErrorKind::Decode, "missing from the stored document").with_field(field)),
    }
}

/// Encodes a field, naming it in any error.
#[inline]
pub fn encode_field<T: super::Describe>(v: &T, name: &[u8], field: &str, out: &mut Vec<u8>) -> Result<()> {
    v.encode(name, out).map_err(|e| e.with_field(field))
}
