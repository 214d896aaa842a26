//! Cursor pagination: pages of a query, with opaque, URL-safe cursors to the next and
//! previous pages.
//!
//! A page is read from a position, not by skipping rows: a cursor holds the ordering values
//! and the key of a row, and the next page is the rows strictly after it in the query's order
//! (its ordering terms, then the key, which breaks ties). So page 1,000 costs what page 1
//! costs where an index serves the order (the embedded backend starts its index scan at the
//! cursor's value; MongoDB gets a range filter on the sort keys), and rows added or removed
//! meanwhile do not shift pages.
//!
//! A cursor is bound to its query: it carries a fingerprint of the model, the filters and the
//! ordering, and a keyed checksum (SipHash-2-4) over everything, so a cursor from another
//! query, a tampered cursor and a truncated one are each a clear [`ErrorKind::InvalidCursor`]
//! error. Cursors are base64url without padding: safe in a URL as they are. They are opaque,
//! not secret: anyone can decode the values they hold.

use crate::backend::{Backend, Row};
use crate::core::codec::{begin_document, end_document, Decode, Elements, Encode};
use crate::core::value::Value;
use crate::engine::keyed::row_sort_key;
use crate::error::{Error, ErrorKind, Result};

pub use crate::plan::seek::Seek;
use crate::plan::Plan;
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;

/// The generic seek, for any backend: the plan without its limit, filtered in memory.
pub(crate) async fn seek_in_memory<B: Backend>(
    backend: &B,
    model: &'static ModelDesc,
    plan: Plan,
    seek: Seek,
    max_in: usize,
) -> Result<Vec<Row>> {
    let limit = plan.limit.unwrap_or(usize::MAX);
    let all =
        crate::engine::keyed::query(backend, model, Plan { limit: None, offset: 0, ..plan.clone() }, max_in).await?;
    let mut rows = Vec::new();
    for row in all {
        if seek.wants(&plan, &row_sort_key(&row, &plan.order)?, row.key.as_ref()) {
            rows.push(row);
        }
    }
    if seek.backward {
        let extra = rows.len().saturating_sub(limit);
        rows.drain(..extra);
    } else {
        rows.truncate(limit);
    }
    Ok(rows)
}

pub(crate) fn top_level(path: &str) -> String {
    path.split('.').next().unwrap_or(path).to_owned()
}

const VERSION: u8 = 1;
/// The checksum's key. Cursors are checked, not secret; see the module docs.
const MAC_KEY: (u64, u64) = (0x6e6f_6e72_656c_2d70, 0x6167_652d_6375_7273);

/// The fingerprint of what a cursor may be used with: the model, the filters and the order.
pub(crate) fn fingerprint(m: &ModelDesc, plan: &Plan) -> u64 {
    let text = format!("{}\u{0}{}\u{0}{:?}\u{0}{:?}", m.name, m.collection, plan.filters, plan.order);
    siphash24(MAC_KEY.1, MAC_KEY.0, text.as_bytes())
}

/// The cursor of a row: version, fingerprint, `{k: key, v: [ordering values]}`, checksum.
pub(crate) fn cursor_for(m: &ModelDesc, plan: &Plan, fingerprint: u64, row: &Row) -> Result<String> {
    let key = row
        .key
        .as_ref()
        .ok_or_else(|| Error::new(ErrorKind::InvalidKey, "a record without a key has no cursor").with_model(m.name))?;
    let values = row_sort_key(row, &plan.order)?;
    let mut bytes = vec![VERSION];
    bytes.extend_from_slice(&fingerprint.to_be_bytes());
    let start = begin_document(&mut bytes);
    key.encode(b"k\0", &mut bytes)?;
    Value::Array(values).encode(b"v\0", &mut bytes)?;
    end_document(&mut bytes, start)?;
    let mac = siphash24(MAC_KEY.0, MAC_KEY.1, &bytes);
    bytes.extend_from_slice(&mac.to_be_bytes());
    Ok(crate::core::codec::base64::URL.encode(&bytes))
}

pub(crate) fn invalid(m: &ModelDesc, why: &str) -> Error {
    Error::new(ErrorKind::InvalidCursor, format!("the page cursor {why}")).with_model(m.name)
}

/// The position a cursor holds, checked against the query.
pub(crate) fn open(m: &ModelDesc, plan: &Plan, fingerprint: u64, cursor: &str) -> Result<(Vec<Value>, KeyValue)> {
    let bytes = crate::core::codec::base64::URL
        .decode(cursor)
        .ok_or_else(|| invalid(m, "is not a cursor: it has characters no cursor has"))?;
    let damaged = || invalid(m, "is damaged or truncated");
    if bytes.len() < 1 + 8 + 5 + 8 {
        return Err(damaged());
    }
    let (body, mac) = bytes.split_at(bytes.len() - 8);
    if siphash24(MAC_KEY.0, MAC_KEY.1, body).to_be_bytes() != mac {
        return Err(damaged());
    }
    if body[0] != VERSION {
        return Err(invalid(m, "has a format this version does not read"));
    }
    if body[1..9] != fingerprint.to_be_bytes() {
        return Err(invalid(
            m,
            "belongs to another query: the model, filters and ordering must be the ones it was made with",
        ));
    }
    let (mut key, mut values) = (None, None);
    for el in Elements::new(&body[9..]).map_err(|_| damaged())? {
        let el = el.map_err(|_| damaged())?;
        match el.name {
            b"k" => key = KeyValue::decode(el.ty, el.value).ok(),
            b"v" => values = Value::from_element(el.ty, el.value).ok(),
            _ => return Err(damaged()),
        }
    }
    match (key, values) {
        (Some(key), Some(Value::Array(values))) if values.len() == plan.order.len() => Ok((values, key)),
        _ => Err(damaged()),
    }
}

/// SipHash-2-4 of `data` under the key `(k0, k1)`.
pub(crate) fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    fn compress(m: u64, v: &mut [u64; 4]) {
        v[3] ^= m;
        round(v);
        round(v);
        v[0] ^= m;
    }
    let chunks = data.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        compress(u64::from_le_bytes(c.try_into().expect("8 bytes")), &mut v);
    }
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    last[7] = data.len() as u8;
    compress(u64::from_le_bytes(last), &mut v);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_matches_the_reference_vectors() {
        // The paper's key 00..0f and messages 00, 00 01, ...: the first outputs of its table.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(siphash24(k0, k1, &[]), 0x726f_db47_dd0e_0e31);
        let fifteen: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(k0, k1, &fifteen), 0xa129_ca61_49be_45e5);
    }

    /// Cursors whose checksum is right but whose body is mutated (bit flips, truncations,
    /// length edits) are errors, never panics; `NONREL_FUZZ_CASES` runs more.
    #[test]
    fn signed_damaged_cursor_bodies_never_panic() {
        static M: ModelDesc = ModelDesc {
            name: "M",
            collection: "m",
            key: crate::schema::model::KeyDesc { field: "id", kind: crate::KeyKind::Int },
            fields: &[],
            indexes: &[],
            compound_indexes: &[],
            counters: &[],
            has_extra: false,
        };
        let plan = Plan { order: vec![], ..Plan::default() };
        let row = Row { key: Some(KeyValue::Str("k".into())), doc: vec![5, 0, 0, 0, 0], ..Row::default() };
        let good = crate::core::codec::base64::URL.decode(&cursor_for(&M, &plan, 7, &row).unwrap()).unwrap();
        let body = &good[..good.len() - 8];
        assert!(open(&M, &plan, 7, &sign(body)).is_ok());
        let cases = std::env::var("NONREL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for case in 0..cases {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut b = body.to_vec();
            let at = (state >> 8) as usize % b.len();
            match state % 4 {
                0 => b[at] ^= 1 << ((state >> 40) % 8),
                1 => b.truncate(at),
                2 if at + 4 <= b.len() => b[at..at + 4].copy_from_slice(&((state >> 32) as i32 % 64).to_le_bytes()),
                _ => b.insert(at, (state >> 24) as u8),
            }
            let result = std::panic::catch_unwind(|| open(&M, &plan, 7, &sign(&b)).map(drop));
            assert!(result.is_ok(), "case {case}: body {b:02x?}");
        }
    }

    fn sign(body: &[u8]) -> String {
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(&siphash24(MAC_KEY.0, MAC_KEY.1, body).to_be_bytes());
        crate::core::codec::base64::URL.encode(&bytes)
    }

    #[test]
    fn base64url_round_trips() {
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            let s = crate::core::codec::base64::URL.encode(&bytes);
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(crate::core::codec::base64::URL.decode(&s), Some(bytes));
        }
        assert_eq!(crate::core::codec::base64::URL.encode(b"foob"), "Zm9vYg");
        assert_eq!(crate::core::codec::base64::URL.decode("Zm9v+g"), None);
    }
}
