//! Lists and sets (BSON arrays) and string-keyed maps (BSON documents).

use super::{begin_document, cname, end_document, header, sub_elements, Decode, Encode, IndexName, ARRAY, DOCUMENT};
use crate::error::Result;
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

/// Reads a BSON array into any collection.
fn decode_seq<T: Decode, C: FromIterator<T>>(ty: u8, value: &[u8]) -> Result<C> {
    let mut i = 0;
    sub_elements(ty, ARRAY, value)?
        .map(|el| {
            let el = el?;
            let item = T::decode(el.ty, el.value).map_err(|e| e.with_field(&format!("[{i}]")));
            i += 1;
            item
        })
        .collect()
}

fn encode_map<'a, V: Encode + 'a>(
    entries: impl Iterator<Item = (&'a String, &'a V)>,
    name: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    header(out, DOCUMENT, name);
    let start = begin_document(out);
    for (k, v) in entries {
        v.encode(&cname(k)?, out).map_err(|e| e.with_field(k))?;
    }
    end_document(out, start)
}

fn decode_map<V: Decode, C: FromIterator<(String, V)>>(ty: u8, value: &[u8]) -> Result<C> {
    sub_elements(ty, DOCUMENT, value)?
        .map(|el| {
            let el = el?;
            let key = std::str::from_utf8(el.name).map_err(|_| super::malformed("key is not UTF-8"))?;
            let v = V::decode(el.ty, el.value).map_err(|e| e.with_field(key))?;
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
