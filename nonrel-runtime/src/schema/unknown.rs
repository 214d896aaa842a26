//! Fields the program does not know, kept at every depth by a save that does not replace:
//! inside embedded models, `Option`s and `Box`es of them, lists of them (matched by
//! position: element `i` of the stored list keeps its unknown fields in element `i` of the
//! saved one), and embedded models inside those, to any depth.
//!
//! This is the byte-level merge backends that rewrite whole documents use; MongoDB says the
//! same in an update pipeline (`mongo::pipeline`).

use crate::core::codec::{self, begin_document, end_document, header, Element, Elements};
use crate::error::Result;
use crate::schema::model::{FieldDesc, Shape};

/// Whether a document of `fields` holds an embedded model anywhere.
pub(crate) fn has_embedded(fields: &[FieldDesc]) -> bool {
    fields.iter().any(|f| !f.shape.is_plain())
}

/// `new` with the unknown fields the stored `old` has inside the embedded models of
/// `fields` kept (the top level's own unknown fields are the caller's).
pub(crate) fn merge_embedded(fields: &[FieldDesc], old: &[u8], new: &[u8]) -> Result<Vec<u8>> {
    merge_document(fields, false, old, new, false)
}

/// `new` with the unknown fields of the stored `old` kept: at the top level unless the model
/// has an `Extra` field, and inside its embedded models.
pub(crate) fn keep_unknown(model: &crate::schema::model::ModelDesc, old: &[u8], new: &[u8]) -> Result<Vec<u8>> {
    // The usual case, a stored document of only fields the model names and no embedded
    // model to merge into: the merge would copy `new` element by element.
    if !has_embedded(model.fields) && only_known(model.fields, old)? {
        return Ok(new.to_vec());
    }
    merge_document(model.fields, model.has_extra, old, new, true)
}

/// Whether every field of the document `doc` is one of `fields`.
fn only_known(fields: &[FieldDesc], doc: &[u8]) -> Result<bool> {
    for (i, el) in Elements::new(doc)?.enumerate() {
        let el = el?;
        // A document the model wrote holds its fields in the model's order: the field at
        // the same position is tried first.
        let here = fields.get(i).is_some_and(|f| f.name.as_bytes() == el.name);
        if !here && !fields.iter().any(|f| f.name.as_bytes() == el.name) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A document of `fields`: `new`'s elements, those with embedded models merged with the
/// same element of `old`; then, with `keep` (a level without an `Extra` field), the
/// elements of `old` that `fields` does not name and `new` does not have.
fn merge_document(fields: &[FieldDesc], has_extra: bool, old: &[u8], new: &[u8], keep: bool) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(old.len().max(new.len()) + 16);
    let start = begin_document(&mut out);
    for el in Elements::new(new)? {
        let el = el?;
        let shape = fields.iter().find(|f| f.name.as_bytes() == el.name).map_or(Shape::Plain, |f| f.shape);
        match if shape.is_plain() { None } else { find(old, el.name)? } {
            Some(before) => merge_element(shape, &before, &el, &mut out)?,
            None => out.extend_from_slice(el.raw),
        }
    }
    if keep && !has_extra {
        for el in Elements::new(old)? {
            let el = el?;
            let known = fields.iter().any(|f| f.name.as_bytes() == el.name);
            if !known && find(new, el.name)?.is_none() {
                out.extend_from_slice(el.raw);
            }
        }
    }
    end_document(&mut out, start)?;
    Ok(out)
}

/// Writes `new` (an element of shape `shape`) merged with the stored `old` of the same name.
fn merge_element(shape: Shape, old: &Element<'_>, new: &Element<'_>, out: &mut Vec<u8>) -> Result<()> {
    let mut name = new.name.to_vec();
    name.push(0);
    match shape {
        Shape::Nested { fields, has_extra } if old.ty == codec::DOCUMENT && new.ty == codec::DOCUMENT => {
            header(out, codec::DOCUMENT, &name);
            out.extend_from_slice(&merge_document(fields(), has_extra, old.value, new.value, true)?);
        }
        Shape::List(inner) if old.ty == codec::ARRAY && new.ty == codec::ARRAY => {
            header(out, codec::ARRAY, &name);
            let list = begin_document(out);
            let stored: Vec<Element<'_>> = Elements::new(old.value)?.collect::<Result<_>>()?;
            // Element names are the positions, so `new`'s elements are written as they are.
            for (i, el) in Elements::new(new.value)?.enumerate() {
                let el = el?;
                match stored.get(i) {
                    Some(before) => merge_element(*inner, before, &el, out)?,
                    None => out.extend_from_slice(el.raw),
                }
            }
            end_document(out, list)?;
        }
        _ => out.extend_from_slice(new.raw),
    }
    Ok(())
}

/// The element of `doc` named `name`.
fn find<'a>(doc: &'a [u8], name: &[u8]) -> Result<Option<Element<'a>>> {
    for el in Elements::new(doc)? {
        let el = el?;
        if el.name == name {
            return Ok(Some(el));
        }
    }
    Ok(None)
}
