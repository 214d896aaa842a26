//! `_search`, `_mget` and `_bulk` answers read in one pass over their text: each `_source` is
//! written as its stored document (BSON) while the bytes are scanned, with no serde visitor
//! in between.
//!
//! The reader takes the answers' common shape only and gives up (`None`) on anything else: a
//! string holding an escape, a name starting with `$` first in an object inside a source (a
//! type wrapper), a name twice in one object, a number an `i64` or a finite double does not
//! hold as written (or `-0`), a `null` where a member is expected, an item or document with
//! an `error`, nesting deeper than [`DEPTH`], text that is not JSON. The caller then reads the
//! answer with serde (the [`Source`](crate::convert::Source) visitor for sources), which gives
//! the same values and the errors that name the field; tests compare both readers on random
//! answers.

use crate::convert::{ty, KEY_FIELD};
use nonrel_runtime::codec::{begin_document, end_document, IndexName};

/// The deepest nesting read here (the serde reader takes the rest).
const DEPTH: usize = 64;

/// The most members of one object read here (names are checked against each other).
const MEMBERS: usize = 256;

/// One hit of a `_search` answer.
#[derive(Debug, PartialEq)]
pub(crate) struct ScannedHit<'a> {
    pub id: &'a str,
    /// The stored document of its `_source` (its `_key` left out), if it has one.
    pub source: Option<Vec<u8>>,
    pub seq_no: i64,
    pub primary_term: i64,
    /// The text of its sort values.
    pub sort: Option<&'a str>,
}

/// The hits of a `_search` answer, or `None` when the answer is not of the shape read here.
pub(crate) fn search_hits(body: &[u8]) -> Option<Vec<ScannedHit<'_>>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut s = Scan { text, b: body, pos: 0, names: Vec::with_capacity(32) };
    let mut hits = None;
    s.object(|s, name| {
        if name == "hits" {
            if hits.is_some() {
                return None;
            }
            hits = Some(s.hits()?);
            Some(())
        } else {
            s.skip(1)
        }
    })?;
    s.ws();
    if s.pos != s.b.len() {
        return None;
    }
    hits
}

/// One document of an `_mget` answer.
#[derive(Debug, PartialEq)]
pub(crate) struct ScannedDoc {
    pub found: bool,
    /// The stored document of its `_source` (its `_key` left out), if it has one.
    pub source: Option<Vec<u8>>,
    pub seq_no: i64,
    pub primary_term: i64,
}

/// The documents of an `_mget` answer, or `None` when the answer is not of the shape read
/// here (a document with an `error`, among others).
pub(crate) fn mget_docs(body: &[u8]) -> Option<Vec<ScannedDoc>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut s = Scan { text, b: body, pos: 0, names: Vec::with_capacity(16) };
    let mut docs = None;
    s.object(|s, name| {
        if name != "docs" {
            return s.skip(1);
        }
        let mut out = Vec::new();
        s.array(|s, _| {
            let mut doc = ScannedDoc { found: false, source: None, seq_no: 0, primary_term: 0 };
            s.object(|s, name| {
                match name {
                    "found" if s.peek()? == b't' => {
                        s.literal(b"true")?;
                        doc.found = true;
                    }
                    "found" => {
                        s.literal(b"false")?;
                        doc.found = false;
                    }
                    "_seq_no" => doc.seq_no = s.int()?,
                    "_primary_term" => doc.primary_term = s.int()?,
                    "_source" => {
                        let mut out = Vec::with_capacity(256);
                        s.document(&mut out, None, 3)?;
                        doc.source = Some(out);
                    }
                    // The error is read by serde.
                    "error" => return None,
                    _ => s.skip(3)?,
                }
                Some(())
            })?;
            out.push(doc);
            Some(())
        })?;
        docs = Some(out);
        Some(())
    })?;
    s.ws();
    if s.pos != s.b.len() {
        return None;
    }
    docs
}

/// What one item of a `_bulk` answer says of its write.
#[derive(Debug, PartialEq)]
pub(crate) struct ScannedItem<'a> {
    pub status: u16,
    pub result: Option<&'a str>,
    pub seq_no: Option<i64>,
    pub primary_term: Option<i64>,
}

/// The items of a `_bulk` answer, each the write of its action (`index`, `create`, `update`,
/// `delete`, the first present in that order; `None` for an item naming none), or `None`
/// when the answer is not of the shape read here (an item with an `error`, among others).
/// `expected`: the number of items the request wrote (the room made for them).
pub(crate) fn bulk_items(body: &[u8], expected: usize) -> Option<Vec<Option<ScannedItem<'_>>>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut s = Scan { text, b: body, pos: 0, names: Vec::with_capacity(16) };
    let mut items = None;
    s.object(|s, name| {
        if name != "items" {
            return s.skip(1);
        }
        let mut out = Vec::with_capacity(expected);
        s.array(|s, _| {
            // By action: index, create, update, delete.
            let mut actions: [Option<ScannedItem<'_>>; 4] = [None, None, None, None];
            s.object(|s, name| {
                let slot = match name {
                    "index" => 0,
                    "create" => 1,
                    "update" => 2,
                    "delete" => 3,
                    _ => return s.skip(2),
                };
                actions[slot] = Some(s.bulk_item()?);
                Some(())
            })?;
            out.push(actions.into_iter().flatten().next());
            Some(())
        })?;
        items = Some(out);
        Some(())
    })?;
    s.ws();
    if s.pos != s.b.len() {
        return None;
    }
    items
}

/// Whether a byte ends a run of plain string bytes: `"`, `\` or a control character.
const fn special() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
}
static SPECIAL: [bool; 256] = special();

/// A name's bit of 64, from its length and last byte (equal names have equal bits).
fn name_bit(name: &str) -> u64 {
    let last = name.as_bytes().last().copied().unwrap_or(0);
    1 << ((name.len().wrapping_mul(7) ^ usize::from(last)) % 64)
}

/// The exact powers of ten of a double.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Where the run of plain string bytes from `i` ends (the position of a `"`, `\` or control
/// character), eight bytes at a time.
fn plain_end(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let v = u64::from_le_bytes(chunk.try_into().ok()?);
        // A byte's high bit is set where it is zero (after the xor) or below 0x20; the lowest
        // flag is exact (a borrow only runs upward from a flagged byte).
        let quote = v ^ (ONES * u64::from(b'"'));
        let backslash = v ^ (ONES * u64::from(b'\\'));
        let flags = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (v.wrapping_sub(ONES * 0x20) & !v);
        let flags = flags & HIGH;
        if flags != 0 {
            return Some(i + (flags.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while !SPECIAL[usize::from(*b.get(i)?)] {
        i += 1;
    }
    Some(i)
}

struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
    pos: usize,
    /// The names of the objects being read, innermost last (checked for repeats).
    names: Vec<&'a str>,
}

enum Num {
    Int(i64),
    Float(f64),
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string at the next `"`, without escapes.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = plain_end(self.b, start)?;
        if self.b[end] != b'"' {
            return None;
        }
        self.pos = end + 1;
        self.text.get(start..end)
    }

    /// The members of an object, each value read by `member` (given its name), with no name
    /// twice.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        let first = self.names.len();
        // A bit per name, set from its length and ends: names are compared only when the
        // bit of one was set before.
        let mut seen = 0u64;
        loop {
            let name = self.string()?;
            let bit = name_bit(name);
            if (seen & bit != 0 && self.names[first..].contains(&name)) || self.names.len() - first >= MEMBERS {
                return None;
            }
            seen |= bit;
            self.names.push(name);
            self.eat(b':')?;
            member(self, name)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    self.names.truncate(first);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The items of an array, each read by `item`.
    fn array(&mut self, mut item: impl FnMut(&mut Self, usize) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        for i in 0.. {
            item(self, i)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => break,
                _ => return None,
            }
        }
        self.pos += 1;
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.pos..self.pos + word.len())? == word {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A number: an integer of at most 18 digits (not `-0`), or a finite double.
    fn number(&mut self) -> Option<Num> {
        self.ws();
        let start = self.pos;
        let negative = self.b.get(self.pos) == Some(&b'-');
        self.pos += usize::from(negative);
        let digits = self.pos;
        // Every digit of the integer and fraction parts, while 19 fit.
        let mut m: u64 = 0;
        match self.b.get(self.pos)? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                while let Some(d @ b'0'..=b'9') = self.b.get(self.pos) {
                    m = m.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                    self.pos += 1;
                }
            }
            _ => return None,
        }
        let int_digits = self.pos - digits;
        let mut float = false;
        let mut fraction = 0;
        if self.b.get(self.pos) == Some(&b'.') {
            float = true;
            self.pos += 1;
            let at = self.pos;
            while let Some(d @ b'0'..=b'9') = self.b.get(self.pos) {
                m = m.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                self.pos += 1;
            }
            fraction = self.pos - at;
            if fraction == 0 {
                return None;
            }
        }
        let mut exponent: i64 = 0;
        if let Some(b'e' | b'E') = self.b.get(self.pos) {
            float = true;
            self.pos += 1;
            let minus = self.b.get(self.pos) == Some(&b'-');
            if let Some(b'+' | b'-') = self.b.get(self.pos) {
                self.pos += 1;
            }
            let at = self.pos;
            while let Some(d @ b'0'..=b'9') = self.b.get(self.pos) {
                exponent = (exponent * 10 + i64::from(d - b'0')).min(1 << 20);
                self.pos += 1;
            }
            if self.pos == at {
                return None;
            }
            if minus {
                exponent = -exponent;
            }
        }
        if float {
            // Exactly, when the digits and the power of ten are exact doubles: one rounding
            // of their product or quotient is the correctly rounded value (as the parsers
            // give it); else parsed.
            let e = exponent - i64::try_from(fraction).ok()?;
            let f = if int_digits + fraction <= 19 && m < 1 << 53 && (-22..=22).contains(&e) {
                let f = m as f64;
                let f = if e < 0 { f / POW10[e.unsigned_abs() as usize] } else { f * POW10[e as usize] };
                if negative {
                    -f
                } else {
                    f
                }
            } else {
                self.text.get(start..self.pos)?.parse().ok()?
            };
            return f.is_finite().then_some(Num::Float(f));
        }
        if int_digits > 18 || (negative && m == 0) {
            return None;
        }
        let n = i64::try_from(m).ok()?;
        Some(Num::Int(if negative { -n } else { n }))
    }

    fn int(&mut self) -> Option<i64> {
        match self.number()? {
            Num::Int(n) => Some(n),
            Num::Float(_) => None,
        }
    }

    /// Skips one value, checking it is JSON of the shape read here.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(|s, _| s.skip(depth + 1)),
            b'[' => self.array(|s, _| s.skip(depth + 1)),
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }

    /// The skipped value's text.
    fn raw(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.pos;
        self.skip(2)?;
        self.text.get(start..self.pos)
    }

    /// The `hits` object: its `total` checked as serde reads it, its `hits` read.
    fn hits(&mut self) -> Option<Vec<ScannedHit<'a>>> {
        let mut hits = None;
        self.object(|s, name| match name {
            "hits" => {
                let mut out = Vec::with_capacity(16);
                s.array(|s, _| {
                    out.push(s.hit()?);
                    Some(())
                })?;
                hits = Some(out);
                Some(())
            }
            "total" => {
                if s.peek()? == b'n' {
                    return s.literal(b"null");
                }
                let mut value = false;
                s.object(|s, name| {
                    if name == "value" {
                        value = s.int()? >= 0;
                        value.then_some(())
                    } else {
                        s.skip(3)
                    }
                })?;
                value.then_some(())
            }
            _ => s.skip(2),
        })?;
        hits
    }

    fn hit(&mut self) -> Option<ScannedHit<'a>> {
        let mut hit = ScannedHit { id: "", source: None, seq_no: 0, primary_term: 0, sort: None };
        let mut id = None;
        self.object(|s, name| {
            match name {
                "_id" => id = Some(s.string()?),
                "_seq_no" => hit.seq_no = s.int()?,
                "_primary_term" => hit.primary_term = s.int()?,
                "_source" => {
                    let mut out = Vec::with_capacity(256);
                    s.document(&mut out, None, 4)?;
                    hit.source = Some(out);
                }
                "sort" => {
                    if s.peek()? == b'n' {
                        return None;
                    }
                    hit.sort = Some(s.raw()?);
                }
                _ => s.skip(3)?,
            }
            Some(())
        })?;
        hit.id = id?;
        Some(hit)
    }

    /// One action's item of a `_bulk` answer.
    fn bulk_item(&mut self) -> Option<ScannedItem<'a>> {
        let mut status = None;
        let mut item = ScannedItem { status: 0, result: None, seq_no: None, primary_term: None };
        self.object(|s, name| {
            match name {
                "status" => status = Some(u16::try_from(s.int()?).ok()?),
                "result" if s.peek()? == b'n' => s.literal(b"null")?,
                "result" => item.result = Some(s.string()?),
                "_seq_no" if s.peek()? == b'n' => s.literal(b"null")?,
                "_seq_no" => item.seq_no = Some(s.int()?),
                "_primary_term" if s.peek()? == b'n' => s.literal(b"null")?,
                "_primary_term" => item.primary_term = Some(s.int()?),
                // The reason is read by serde.
                "error" if s.peek()? == b'n' => s.literal(b"null")?,
                "error" => return None,
                _ => s.skip(4)?,
            }
            Some(())
        })?;
        item.status = status?;
        Some(item)
    }

    /// An object as a document appended to `out`: the whole source (`at: None`, its `_key`
    /// left out), or the value of the element whose type byte is at `out[at]`.
    fn document(&mut self, out: &mut Vec<u8>, at: Option<usize>, depth: usize) -> Option<()> {
        if depth > DEPTH {
            return None;
        }
        let start = begin_document(out);
        let mut first = true;
        self.object(|s, name| {
            if at.is_none() && name == KEY_FIELD {
                // The key's sortable form, never returned; not a member the names check
                // counts either (the serde reader ignores it the same way).
                s.names.pop();
                return s.skip(depth + 1);
            }
            if at.is_some() && first && name.starts_with('$') {
                return None;
            }
            first = false;
            let el = out.len();
            out.push(ty::NULL);
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            s.element(out, el, depth + 1)
        })?;
        end_document(out, start).ok()?;
        if let Some(at) = at {
            out[at] = ty::DOCUMENT;
        }
        Some(())
    }

    /// One value as the element whose type byte is at `out[at]`.
    fn element(&mut self, out: &mut Vec<u8>, at: usize, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => {
                let v = self.string()?;
                out[at] = ty::STRING;
                out.extend_from_slice(&i32::try_from(v.len() + 1).ok()?.to_le_bytes());
                out.extend_from_slice(v.as_bytes());
                out.push(0);
            }
            b'{' => self.document(out, Some(at), depth)?,
            b'[' => {
                if depth > DEPTH {
                    return None;
                }
                out[at] = ty::ARRAY;
                let start = begin_document(out);
                self.array(|s, i| {
                    let item = out.len();
                    out.push(ty::NULL);
                    out.extend_from_slice(IndexName::new(i).as_bytes());
                    s.element(out, item, depth + 1)
                })?;
                end_document(out, start).ok()?;
            }
            b't' => {
                self.literal(b"true")?;
                out[at] = ty::BOOL;
                out.push(1);
            }
            b'f' => {
                self.literal(b"false")?;
                out[at] = ty::BOOL;
                out.push(0);
            }
            b'n' => self.literal(b"null")?,
            _ => match self.number()? {
                Num::Int(n) => {
                    out[at] = ty::INT64;
                    out.extend_from_slice(&n.to_le_bytes());
                }
                Num::Float(f) => {
                    out[at] = ty::DOUBLE;
                    out.extend_from_slice(&f.to_le_bytes());
                }
            },
        }
        Some(())
    }
}
