//! The implementation behind [`group`](crate::group); its documentation is there.

use crate::core::codec::Elements;
use crate::error::Result;
use crate::schema::model::{FieldDesc, IndexDesc};

/// A group of fields stored flat in the models that hold it: implemented by
/// `#[derive(Fields)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a field group",
    label = "#[field(flatten)] needs a type with #[derive(Fields)]",
    note = "embed a #[derive(Embedded)] type without `flatten` to store it as a sub-document"
)]
pub trait FieldGroup: Sized + Send + Sync + 'static {
    /// The group's stored fields.
    const FIELDS: &'static [FieldDesc];
    /// The indexes the group's fields declare.
    const INDEXES: &'static [IndexDesc];

    /// Writes the group's fields as elements of the document being encoded.
    fn encode_fields(&self, out: &mut Vec<u8>) -> Result<()>;

    /// Reads the group from its elements (laid end to end, as collected by the model's
    /// decoder).
    fn decode_fields(raw: &[u8]) -> Result<Self>;

    /// Whether an element of this name belongs to the group.
    fn knows(name: &[u8]) -> bool {
        Self::FIELDS.iter().any(|f| f.name.as_bytes() == name)
    }
}

/// Implemented by the derive for a model holding group `G` with `#[field(flatten)]`, so
/// the group's descriptor trait applies to it.
pub trait Flattens<G> {}

/// The elements of a group, laid end to end (used by generated decoders).
#[doc(hidden)]
pub fn group_elements(raw: &[u8]) -> Elements<'_> {
    Elements::concatenated(raw)
}

/// A placeholder for const arrays being filled.
const NO_FIELD: FieldDesc = FieldDesc { name: "", rust_name: "", ty: "", shape: crate::schema::model::Shape::Plain };
const NO_INDEX: IndexDesc = IndexDesc { path: "", unique: false, covering: false, counted: false };

/// The field descriptions of a model and its groups, as one array (used by generated code).
#[doc(hidden)]
pub const fn concat_fields<const N: usize>(parts: &[&[FieldDesc]]) -> [FieldDesc; N] {
    concat(parts, NO_FIELD)
}

/// The index descriptions of a model and its groups, as one array (used by generated code).
#[doc(hidden)]
pub const fn concat_indexes<const N: usize>(parts: &[&[IndexDesc]]) -> [IndexDesc; N] {
    concat(parts, NO_INDEX)
}

/// `parts` one after another in an array of exactly `N` (`fill` is only a placeholder).
const fn concat<T: Copy, const N: usize>(parts: &[&[T]], fill: T) -> [T; N] {
    let mut out = [fill; N];
    let (mut p, mut k) = (0, 0);
    while p < parts.len() {
        let mut i = 0;
        while i < parts[p].len() {
            out[k] = parts[p][i];
            k += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(k == N, "the parts hold exactly N elements");
    out
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn position(fields: &[FieldDesc], name: &str) -> Option<usize> {
    let mut i = 0;
    while i < fields.len() {
        if same(fields[i].name, name) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Whether no two fields share a stored name (checked at compile time for models with
/// groups, whose names the derive cannot see).
#[doc(hidden)]
pub const fn distinct_names(fields: &[FieldDesc]) -> bool {
    let mut i = 0;
    while i < fields.len() {
        match position(fields, fields[i].name) {
            Some(first) if first != i => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

/// Whether `fields` stores every field of `base` (checked at compile time for subclasses).
#[doc(hidden)]
pub const fn covers(fields: &[FieldDesc], base: &[FieldDesc]) -> bool {
    let mut i = 0;
    while i < base.len() {
        if position(fields, base[i].name).is_none() {
            return false;
        }
        i += 1;
    }
    true
}
