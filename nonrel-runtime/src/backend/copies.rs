//! What a backend that writes denormalized copies and the outbox in its own atomic write
//! ([`Backend::COPIES_IN_WRITE`](crate::backend::Backend::COPIES_IN_WRITE),
//! [`Backend::OUTBOX_IN_WRITE`](crate::backend::Backend::OUTBOX_IN_WRITE)) computes: the
//! copies of a record about to be written, and the outbox entry noting a fan-out.

use crate::backend::{PutItem, UpdateOp};
use crate::core::codec::{self, begin_document, cname, end_document, Decode, Elements, Encode};
use crate::core::key::{KeyKind, KeyValue};
use crate::core::value::Value;
use crate::error::Result;
use crate::plan::eval::values_at;
use crate::plan::to_value;
use crate::schema::copies::{copies_held_by, copies_of, CopyDesc};
use crate::schema::model::{KeyDesc, ModelDesc};
use std::sync::atomic::{AtomicU64, Ordering};

/// The key a stored `Ref` holds at `path`, if any.
pub(crate) fn ref_key(doc: &[u8], path: &str) -> Result<Option<KeyValue>> {
    if !path.contains('.') {
        return top_level_ref_key(doc, path.as_bytes());
    }
    Ok(ref_key_of(values_at(doc, path)?.into_iter().next()))
}

/// [`ref_key`] of a top-level field `name` (no dot): its first element of that name, as
/// `values_at` reads it; a key is read as one, without a `Value` first.
fn top_level_ref_key(doc: &[u8], name: &[u8]) -> Result<Option<KeyValue>> {
    match Elements::new(doc)?.find(name)? {
        // The usual automatic key, read in place.
        Some((codec::INT64, value)) if value.len() == 8 => {
            Ok(Some(KeyValue::Int(i64::from_le_bytes(value.try_into().expect("eight bytes")))))
        }
        Some((ty, value)) if matches!(ty, codec::INT32 | codec::INT64 | codec::STRING | codec::OBJECT_ID) => {
            KeyValue::decode(ty, value).map(Some)
        }
        Some((ty, value)) => Ok(ref_key_of(Some(Value::from_element(ty, value)?))),
        None => Ok(None),
    }
}

/// The key a `Ref`'s stored value names, if any.
fn ref_key_of(value: Option<Value>) -> Option<KeyValue> {
    match value {
        Some(Value::Int32(n)) => Some(KeyValue::Int(n.into())),
        Some(Value::Int64(n)) => Some(KeyValue::Int(n)),
        Some(Value::String(s)) => Some(KeyValue::Str(s)),
        Some(Value::ObjectId(o)) => Some(KeyValue::ObjectId(o)),
        _ => None,
    }
}

/// The value a copy of `field` holds for a related document (null when it has none).
pub(crate) fn copied_value(related: Option<&Vec<u8>>, field: &str) -> Result<Value> {
    let Some(doc) = related else { return Ok(Value::Null) };
    Ok(values_at(doc, field)?.into_iter().next().unwrap_or(Value::Null))
}

/// The document with `copies` set: earlier values of those names removed, then appended.
pub(crate) fn set_copies(doc: &[u8], copies: &[(&'static str, Value)]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(doc.len() + 32 * copies.len());
    let start = begin_document(&mut out);
    for el in Elements::new(doc)? {
        let el = el?;
        if !copies.iter().any(|(name, _)| name.as_bytes() == el.name) {
            out.extend_from_slice(el.raw);
        }
    }
    for (name, value) in copies {
        value.encode(&cname(name)?, &mut out)?;
    }
    end_document(&mut out, start)?;
    Ok(out)
}

/// Groups copies by the `Ref` they follow, so each related model is read once.
pub(crate) fn by_reference(
    copies: &[&'static CopyDesc],
) -> Vec<(&'static str, &'static ModelDesc, Vec<&'static CopyDesc>)> {
    let mut groups: Vec<(&'static str, &'static ModelDesc, Vec<&'static CopyDesc>)> = Vec::new();
    for c in copies {
        match groups.iter_mut().find(|(r, _, _)| *r == c.reference) {
            Some((_, _, list)) => list.push(c),
            None => groups.push((c.reference, c.related, vec![c])),
        }
    }
    groups
}

/// Writes the declared copies into documents about to be written from the related records
/// `read` gives: a backend that reads them in the write's own atomic step
/// ([`Backend::COPIES_IN_WRITE`]) leaves no moment where a rename commits between the read
/// and the write, so no re-read follows ([`Copied::check`]).
pub(crate) fn set_copies_from<'d>(
    m: &'static ModelDesc,
    docs: impl Iterator<Item = &'d mut Vec<u8>>,
    mut read: impl FnMut(&'static ModelDesc, &KeyValue) -> Result<Option<Vec<u8>>>,
) -> Result<()> {
    let copies: Vec<&'static CopyDesc> = copies_held_by(m).collect();
    if copies.is_empty() {
        return Ok(());
    }
    let groups = by_reference(&copies);
    for doc in docs {
        let mut values = Vec::with_capacity(copies.len());
        for (reference, related, group) in &groups {
            let related_doc = match ref_key(doc, reference)? {
                Some(key) => read(related, &key)?,
                None => None,
            };
            for (c, v) in group.iter().zip(copied_values(related_doc.as_ref(), group)?) {
                values.push((c.copy, v));
            }
        }
        *doc = set_copies(doc, &values).map_err(|e| e.with_model(m.name))?;
    }
    Ok(())
}

/// Whether update operations set a `Ref` of `m` whose related fields `m` copies.
pub(crate) fn sets_copied_ref(m: &ModelDesc, ops: &[UpdateOp]) -> bool {
    copies_held_by(m).any(|c| ops.iter().any(|o| o.path == c.reference))
}

/// The values of `group`'s copies for a related document.
pub(crate) fn copied_values(doc: Option<&Vec<u8>>, group: &[&'static CopyDesc]) -> Result<Vec<Value>> {
    group.iter().map(|c| copied_value(doc, c.field)).collect()
}

/// Whether update operations change a field of `m` that other models copy.
pub(crate) fn touches_copies(m: &ModelDesc, ops: &[UpdateOp]) -> bool {
    copies_of(m).any(|c| ops.iter().any(|o| o.path == c.field || o.path.starts_with(&format!("{}.", c.field))))
}

/// The outbox: one record per related record whose copies may be stale, keyed by its model
/// and key. Not registered, so checks and rebuilds do not treat it as a model.
pub(crate) static OUTBOX: ModelDesc = ModelDesc {
    name: "Outbox",
    collection: "nonrel_outbox",
    key: KeyDesc { field: "id", kind: KeyKind::Str },
    fields: &[],
    indexes: &[],
    compound_indexes: &[],
    counters: &[],
    has_extra: true,
};

/// A value no other entry written by this process holds, and unlikely in another: each
/// write's entry is distinct, so removing an entry by its document never removes a newer one.
fn token() -> i64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (seed ^ (u64::from(std::process::id()) << 40) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) as i64
}

/// The outbox entry noting that the copies of record `key` of `m` may be stale.
pub(crate) fn entry(m: &ModelDesc, key: &KeyValue) -> Result<PutItem> {
    let hex: String = key.to_storage().iter().map(|b| format!("{b:02x}")).collect();
    let id = KeyValue::Str(format!("{}/{}/{hex}", m.collection, m.name));
    let mut doc = Vec::with_capacity(96);
    let start = begin_document(&mut doc);
    m.collection.encode(b"c\0", &mut doc)?;
    m.name.encode(b"m\0", &mut doc)?;
    to_value(key)?.encode(b"k\0", &mut doc)?;
    token().encode(b"t\0", &mut doc)?;
    end_document(&mut doc, start)?;
    Ok(PutItem { key: Some(id), doc })
}
