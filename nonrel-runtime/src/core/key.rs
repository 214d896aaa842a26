//! Key values: int, string and ObjectId keys as stored, in their URL-safe forms and their
//! storage order. Typed keys are in [`schema::key`](crate::schema::key).

use crate::core::codec::decode_error;
use crate::core::codec::{self, header, put_str, Decode, Encode};
use crate::error::{echo, Error, ErrorKind, Result};
use std::fmt;

/// How a model's keys are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Assigned by the backend on first save: an int on the embedded backend, an ObjectId
    /// on MongoDB.
    Auto,
    /// A natural integer key.
    Int,
    /// A natural string key.
    Str,
}

/// The value of a key, untyped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyValue {
    /// An integer key.
    Int(i64),
    /// A string key.
    Str(String),
    /// A MongoDB ObjectId.
    ObjectId(ObjectId),
}

const TAG_INT: u8 = 0x10;
const TAG_STR: u8 = 0x20;
const TAG_OID: u8 = 0x30;

/// Characters kept as they are in a URL-safe string key (RFC 3986 unreserved).
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// An integer key's storage bytes: its tag, then the number with the sign bit flipped, big
/// endian (so the bytes sort like the numbers).
#[inline(always)]
fn int_storage(n: i64) -> [u8; 9] {
    let mut b = [TAG_INT; 9];
    b[1..].copy_from_slice(&((n as u64) ^ (1 << 63)).to_be_bytes());
    b
}

/// An ObjectId key's storage bytes: its tag, then the id's twelve bytes.
#[inline(always)]
fn oid_storage(o: &ObjectId) -> [u8; 13] {
    let mut b = [TAG_OID; 13];
    b[1..].copy_from_slice(&o.0);
    b
}

impl KeyValue {
    /// Bytes that sort like the keys themselves (used as the embedded store's record key).
    pub fn to_storage(&self) -> Vec<u8> {
        // Made at its size: the tag and the value's bytes.
        let mut v = Vec::with_capacity(match self {
            KeyValue::Int(_) => 9,
            KeyValue::Str(s) => s.len() + 1,
            KeyValue::ObjectId(_) => 13,
        });
        self.write_storage(&mut v);
        v
    }

    /// Writes the bytes of [`KeyValue::to_storage`] into `out`, replacing what it held (so
    /// one buffer serves many keys).
    #[inline(always)]
    pub(crate) fn write_storage(&self, out: &mut Vec<u8>) {
        out.clear();
        match self {
            KeyValue::Int(n) => out.extend_from_slice(&int_storage(*n)),
            KeyValue::Str(s) => {
                out.reserve(s.len() + 1);
                out.push(TAG_STR);
                out.extend_from_slice(s.as_bytes());
            }
            KeyValue::ObjectId(o) => out.extend_from_slice(&oid_storage(o)),
        }
    }

    /// Calls `f` with the bytes of [`KeyValue::to_storage`], built on the stack for integer
    /// and ObjectId keys (a point read then allocates nothing for its key).
    #[inline]
    pub(crate) fn with_storage<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            KeyValue::Int(n) => f(&int_storage(*n)),
            KeyValue::ObjectId(o) => f(&oid_storage(o)),
            KeyValue::Str(_) => f(&self.to_storage()),
        }
    }

    /// Reads bytes written by [`KeyValue::to_storage`].
    pub fn from_storage(bytes: &[u8]) -> Result<KeyValue> {
        let bad = || Error::new(ErrorKind::InvalidKey, "stored key bytes are malformed");
        match bytes.split_first() {
            Some((&TAG_INT, rest)) => {
                let n = u64::from_be_bytes(rest.try_into().map_err(|_| bad())?) ^ (1 << 63);
                Ok(KeyValue::Int(n as i64))
            }
            Some((&TAG_STR, rest)) => std::str::from_utf8(rest).map(|s| KeyValue::Str(s.to_owned())).map_err(|_| bad()),
            Some((&TAG_OID, rest)) => Ok(KeyValue::ObjectId(ObjectId(rest.try_into().map_err(|_| bad())?))),
            _ => Err(bad()),
        }
    }

    /// The key as a URL-safe string: digits for ints, 24 hex digits for ObjectIds,
    /// percent-encoding of everything but `A-Z a-z 0-9 - . _ ~` for strings.
    pub fn to_url_safe(&self) -> String {
        match self {
            KeyValue::Int(n) => n.to_string(),
            KeyValue::ObjectId(o) => o.to_hex(),
            KeyValue::Str(s) => {
                let mut out = String::with_capacity(s.len());
                for &b in s.as_bytes() {
                    if unreserved(b) {
                        out.push(b as char);
                    } else {
                        out.push_str(&format!("%{b:02X}"));
                    }
                }
                out
            }
        }
    }

    /// Parses a URL-safe string for a model whose keys are of `kind`.
    pub fn parse(kind: KeyKind, s: &str) -> Result<KeyValue> {
        match kind {
            KeyKind::Int => parse_int(s).map(KeyValue::Int),
            KeyKind::Str => percent_decode(s).map(KeyValue::Str),
            KeyKind::Auto => match ObjectId::from_hex(s) {
                Some(id) => Ok(KeyValue::ObjectId(id)),
                None => parse_int(s)
                    .map(KeyValue::Int)
                    .map_err(|_| invalid(format!("{} is neither an integer nor a 24-digit hex ObjectId", echo(s)))),
            },
        }
    }

    /// Whether this value can be a key of the given kind.
    pub fn fits(&self, kind: KeyKind) -> bool {
        matches!(
            (kind, self),
            (KeyKind::Int, KeyValue::Int(_))
                | (KeyKind::Str, KeyValue::Str(_))
                | (KeyKind::Auto, KeyValue::Int(_) | KeyValue::ObjectId(_))
        )
    }
}

pub(crate) fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidKey, msg)
}

fn parse_int(s: &str) -> Result<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("{} is not an integer key", echo(s))));
    }
    s.parse().map_err(|_| invalid(format!("{} is out of range for an integer key", echo(s))))
}

fn percent_decode(s: &str) -> Result<String> {
    if s.is_empty() {
        return Err(invalid("a string key cannot be empty".into()));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                let hex = hex.ok_or_else(|| invalid(format!("{} has a malformed %-escape at byte {i}", echo(s))))?;
                out.push(u8::from_str_radix(hex, 16).expect("hex digits"));
                i += 3;
            }
            b if unreserved(b) => {
                out.push(b);
                i += 1;
            }
            _ => {
                let c = s[i..].chars().next().unwrap_or_default();
                return Err(invalid(format!("{} has the character {c:?}, which is not URL-safe", echo(s))));
            }
        }
    }
    String::from_utf8(out).map_err(|_| invalid(format!("{} does not decode to UTF-8 text", echo(s))))
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_url_safe())
    }
}

impl Encode for KeyValue {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self {
            KeyValue::Int(n) => n.encode(name, out),
            KeyValue::Str(s) => {
                header(out, codec::STRING, name);
                put_str(out, s);
                Ok(())
            }
            KeyValue::ObjectId(o) => o.encode(name, out),
        }
    }
}

impl Decode for KeyValue {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        match ty {
            codec::INT32 | codec::INT64 => i64::decode(ty, value).map(KeyValue::Int),
            codec::STRING => String::decode(ty, value).map(KeyValue::Str),
            codec::OBJECT_ID => ObjectId::decode(ty, value).map(KeyValue::ObjectId),
            _ => Err(decode_error("a key (int, string or objectId)", ty)),
        }
    }
}

/// A MongoDB ObjectId: 4 bytes of seconds, 5 of process randomness, 3 of counter.
///
/// ```
/// use nonrel_runtime::ObjectId;
/// let a = ObjectId::new();
/// assert_eq!(ObjectId::parse(&a.to_hex()).unwrap(), a);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 12]);

impl ObjectId {
    /// A fresh, process-unique id.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, RandomState};
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::sync::OnceLock;
        static RANDOM: OnceLock<[u8; 5]> = OnceLock::new();
        static COUNTER: OnceLock<AtomicU32> = OnceLock::new();
        let random = RANDOM.get_or_init(|| {
            let h = RandomState::new().hash_one(std::process::id());
            h.to_le_bytes()[..5].try_into().expect("5 bytes")
        });
        let seed = || AtomicU32::new(RandomState::new().hash_one(0u8) as u32);
        let count = COUNTER.get_or_init(seed).fetch_add(1, Ordering::Relaxed);
        let secs =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0);
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&secs.to_be_bytes());
        b[4..9].copy_from_slice(random);
        b[9..].copy_from_slice(&count.to_be_bytes()[1..]);
        ObjectId(b)
    }

    /// The id of these 12 bytes.
    pub const fn from_bytes(bytes: [u8; 12]) -> Self {
        ObjectId(bytes)
    }

    /// The 12 bytes.
    pub const fn bytes(&self) -> [u8; 12] {
        self.0
    }

    /// 24 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(24);
        for b in self.0 {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
        out
    }

    /// Parses 24 hex digits.
    pub fn parse(s: &str) -> Result<Self> {
        Self::from_hex(s).ok_or_else(|| invalid(format!("{} is not a 24-digit hex ObjectId", echo(s))))
    }

    /// The ObjectId of exactly 24 hex digits (either case), in one pass.
    fn from_hex(s: &str) -> Option<Self> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let digits: &[u8; 24] = s.as_bytes().try_into().ok()?;
        let mut b = [0u8; 12];
        for (byte, pair) in b.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(ObjectId(b))
    }
}

impl Default for ObjectId {
    fn default() -> Self {
        ObjectId::new()
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Encode for ObjectId {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        header(out, codec::OBJECT_ID, name);
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

impl Decode for ObjectId {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        if ty != codec::OBJECT_ID {
            return Err(decode_error("objectId", ty));
        }
        Ok(ObjectId(codec::fixed_bytes(value)?))
    }
}

/// Reads a stored `_id` element (used by generated decoders).
#[doc(hidden)]
pub fn decode_id(el: &crate::core::codec::Element<'_>) -> Result<KeyValue> {
    KeyValue::decode(el.ty, el.value).map_err(|e| e.with_field("_id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_on_the_stack_is_the_storage() {
        let keys = [
            KeyValue::Int(i64::MIN),
            KeyValue::Int(-1),
            KeyValue::Int(0),
            KeyValue::Int(i64::MAX),
            KeyValue::ObjectId(ObjectId::new()),
            KeyValue::Str(String::new()),
            KeyValue::Str("k\0é".into()),
        ];
        for k in &keys {
            assert_eq!(k.with_storage(<[u8]>::to_vec), k.to_storage(), "{k:?}");
        }
    }

    /// The order results come in without `order_by` is `KeyValue`'s: the embedded backend
    /// reads keys in their storage bytes' order and MongoDB in `_id` order (numbers, then
    /// strings by their bytes, then ObjectIds by theirs); all three must agree.
    #[test]
    fn key_order_is_the_storage_byte_order() {
        let oid = |b: u8, last: u8| KeyValue::ObjectId(ObjectId::from_bytes([b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]));
        let s = |s: &str| KeyValue::Str(s.into());
        let sorted = [
            KeyValue::Int(i64::MIN),
            KeyValue::Int(-300),
            KeyValue::Int(-1),
            KeyValue::Int(0),
            KeyValue::Int(1),
            KeyValue::Int(256),
            KeyValue::Int(i64::MAX),
            s(""),
            s("0"),
            s("10"),
            s("9"),
            s("A"),
            s("a"),
            s("a\u{0}"),
            s("a b"),
            s("aa"),
            s("a\u{7f}"),
            s("b"),
            s("é"),
            s("ź"),
            s("\u{10000}"),
            oid(0, 0),
            oid(0, 1),
            oid(0, 255),
            oid(0x7f, 0),
            oid(0x80, 0),
            oid(0xff, 0),
        ];
        for a in &sorted {
            for b in &sorted {
                assert_eq!(a.cmp(b), a.to_storage().cmp(&b.to_storage()), "{a:?} against {b:?}");
            }
        }
        assert!(sorted.windows(2).all(|w| w[0] < w[1]));
    }

    /// `ObjectId::parse` against the rule it states, checked by the standard library's hex
    /// reading: every 24-digit hex string in either case reads back to its bytes, and every
    /// other string (a digit too few or too many, one non-hex byte anywhere, multibyte text)
    /// is refused; `KeyValue::parse` then falls back to an integer as before.
    #[test]
    fn object_ids_parse_exactly_24_hex_digits() {
        let reference = |s: &str| -> Option<[u8; 12]> {
            if s.len() != 24 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let mut b = [0u8; 12];
            for (i, byte) in b.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
            }
            Some(b)
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet: Vec<char> = "0123456789abcdefABCDEFgxG/:@`- é".chars().collect();
        for round in 0..20_000 {
            let mut bytes = [0u8; 12];
            bytes.iter_mut().for_each(|b| *b = next() as u8);
            let hex = ObjectId::from_bytes(bytes).to_hex();
            let text = match round % 4 {
                0 => hex.clone(),
                1 => hex.to_uppercase(),
                2 => {
                    // One character replaced, or the length changed by one.
                    let mut chars: Vec<char> = hex.chars().collect();
                    let at = (next() % 24) as usize;
                    match next() % 3 {
                        0 => chars[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                        1 => {
                            chars.remove(at);
                        }
                        _ => chars.insert(at, alphabet[(next() % alphabet.len() as u64) as usize]),
                    }
                    chars.into_iter().collect()
                }
                _ => (0..(next() % 30)).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect(),
            };
            let got = ObjectId::parse(&text).ok().map(|o| o.0);
            assert_eq!(got, reference(&text), "{text:?}");
            if round % 4 < 2 {
                assert_eq!(got, Some(bytes));
                assert_eq!(KeyValue::parse(KeyKind::Auto, &text).unwrap(), KeyValue::ObjectId(ObjectId(bytes)));
            }
        }
        // Not 24 hex digits: an integer, or an error naming both forms.
        assert_eq!(KeyValue::parse(KeyKind::Auto, "123").unwrap(), KeyValue::Int(123));
        let err = KeyValue::parse(KeyKind::Auto, "65f0c1d2e3f4a5b6c7d8e9fg").unwrap_err();
        assert!(err.to_string().contains("neither an integer nor a 24-digit hex ObjectId"), "{err}");
        assert!(ObjectId::parse("65f0c1d2e3f4a5b6c7d8e9f").is_err());
    }
}
