//! Lists and sets (BSON arrays) and string-keyed maps (BSON documents).

use super::{begin_document, cname, end_document, header, sub_elements, Decode, Encode, IndexName, ARRAY, DOCUMENT};
use crate::error::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

/// Writes any sequence as a BSON array.
pub(crate) fn encode_seq<'a, T: Encode + 'a>(
    items: impl Iterator<Item = &'a T>,
    name: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    header(out, ARRAY, name);
    let start = begin_document(out);
    for (i, item) in items.enumerate() {
        item.encode(IndexName::new(i).as_bytes(), out).map_err(|e| e.with_field(&format!("[{i}]")))?;
    }
    end_document(out, start)
}

/// Decodes an element of a collection, one nesting level deeper when it is a document or an
/// array (as a field is), so every reader counts levels as [`MAX_DEPTH`](super::MAX_DEPTH)
/// is defined.
fn decode_element<T: Decode>(el: &super::Element<'_>) -> Result<T> {
    let value = || T::decode(el.ty, el.value);
    if matches!(el.ty, ARRAY | DOCUMENT) {
        super::nested(value)
    } else {
        value()
    }
}

/// Reads a BSON array into any collection.
fn decode_seq<T: Decode, C: FromIterator<T>>(ty: u8, value: &[u8]) -> Result<C> {
    let mut i = 0;
    sub_elements(ty, ARRAY, value)?
        .map(|el| {
            let el = el?;
            let item = decode_element::<T>(&el).map_err(|e| e.with_field(&format!("[{i}]")));
            i += 1;
            item
        })
        .collect()
}

/// Why a map key cannot be stored, if it cannot: an empty key, a key containing `.` or NUL,
/// or one starting with `$`. A lookup reads `.` as a path step and `$` as an operator, and a
/// document key cannot hold NUL, so such a key could be stored but never found again.
fn map_key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("is empty")
    } else if key.contains('.') {
        Some("contains `.`, which a lookup reads as a path step")
    } else if key.starts_with('$') {
        Some("starts with `$`, which MongoDB reads as an operator")
    } else if key.contains('\0') {
        Some("contains a NUL byte, which a document key cannot hold")
    } else {
        None
    }
}

/// The error for a map key that cannot be stored or looked up (`kind` says which).
pub(crate) fn bad_map_key(key: &str, kind: ErrorKind) -> Option<Error> {
    let problem = map_key_problem(key)?;
    let shown: String = format!("{key:?}").chars().take(80).collect();
    let msg =
        format!("map key {shown} {problem}; map keys must be non-empty, without `.` or NUL, not starting with `$`");
    Some(Error::new(kind, msg))
}

fn check_map_key(key: &str, kind: ErrorKind) -> Result<()> {
    bad_map_key(key, kind).map_or(Ok(()), Err)
}

fn encode_map<'a, V: Encode + 'a>(
    entries: impl Iterator<Item = (&'a String, &'a V)>,
    name: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    header(out, DOCUMENT, name);
    let start = begin_document(out);
    for (k, v) in entries {
        check_map_key(k, ErrorKind::Encode)?;
        v.encode(&cname(k)?, out).map_err(|e| e.with_field(k))?;
    }
    end_document(out, start)
}

fn decode_map<V: Decode, C: FromIterator<(String, V)>>(ty: u8, value: &[u8]) -> Result<C> {
    sub_elements(ty, DOCUMENT, value)?
        .map(|el| {
            let el = el?;
            let key = std::str::from_utf8(el.name).map_err(|_| super::malformed("key is not UTF-8"))?;
            check_map_key(key, ErrorKind::Decode)?;
            let v = decode_element::<V>(&el).map_err(|e| e.with_field(key))?;
            Ok((key.to_owned(), v))
        })
        .collect()
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        encode_seq(self.iter(), name, out)
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        decode_seq(ty, value)
    }

    fn when_missing() -> Option<Self> {
        Some(Vec::new())
    }
}

impl<T: Encode> Encode for BTreeSet<T> {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        encode_seq(self.iter(), name, out)
    }
}

impl<T: Decode + Ord> Decode for BTreeSet<T> {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        decode_seq(ty, value)
    }

    fn when_missing() -> Option<Self> {
        Some(BTreeSet::new())
    }
}

impl<T: Encode, S> Encode for HashSet<T, S> {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        encode_seq(self.iter(), name, out)
    }
}

impl<T: Decode + Eq + Hash, S: BuildHasher + Default> Decode for HashSet<T, S> {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        decode_seq(ty, value)
    }

    fn when_missing() -> Option<Self> {
        Some(HashSet::default())
    }
}

impl<V: Encode> Encode for BTreeMap<String, V> {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        encode_map(self.iter(), name, out)
    }
}

impl<V: Decode> Decode for BTreeMap<String, V> {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        decode_map(ty, value)
    }

    fn when_missing() -> Option<Self> {
        Some(BTreeMap::new())
    }
}

impl<V: Encode, S> Encode for HashMap<String, V, S> {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        encode_map(self.iter(), name, out)
    }
}

impl<V: Decode, S: BuildHasher + Default> Decode for HashMap<String, V, S> {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        decode_map(ty, value)
    }

    fn when_missing() -> Option<Self> {
        Some(HashMap::default())
    }
}
