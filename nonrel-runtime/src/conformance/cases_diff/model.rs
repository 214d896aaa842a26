//! The differential harness's models, its random source and the values it draws.
#![allow(missing_docs)]

use super::Areas;
use crate::backend::capability::Runs;
use crate::engine::lookup::{kinds, Emulated};
use crate::{Backend, Blob, DateTime, Decimal, Key, Utc, Value};
use std::collections::BTreeMap;

/// A part embedded in a [`DiffItem`], alone and in a list.
#[derive(crate::Embedded, Debug, Clone, PartialEq)]
pub struct DiffPart {
    pub label: String,
    pub qty: i64,
}

/// A record with a natural key and every kind of field the harness queries.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_diff_items", index = "parts.label")]
pub struct DiffItem {
    #[field(key)]
    pub id: i64,
    /// Counted (`index(counted)`): on the embedded backend a count over a range adds up
    /// blocks; the other backends ignore it. The answers must not differ.
    #[field(index(counted))]
    pub n: i64,
    /// Drawn from the same values as `n`, without an index.
    pub n_plain: i64,
    pub small: i32,
    #[field(index(counted))]
    pub score: f64,
    pub flag: bool,
    #[field(index(exact, iexact, istartswith, endswith, icontains))]
    pub name: String,
    /// Drawn from the same values as `name`, without an index.
    pub name_plain: String,
    #[field(unique)]
    pub code: Option<String>,
    pub maybe: Option<i64>,
    #[field(index)]
    pub tags: Vec<String>,
    pub nums: Vec<i64>,
    pub attrs: BTreeMap<String, i64>,
    pub data: Blob,
    #[field(index(exact, counted, year, month, day, week_day))]
    pub when: DateTime<Utc>,
    pub price: Decimal,
    pub main: DiffPart,
    pub parts: Vec<DiffPart>,
    /// Any value: scalars, documents (with `$` keys in the injection area), lists of them.
    pub doc: Value,
}

/// A record with an automatic key.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_diff_notes")]
pub struct DiffNote {
    #[field(key)]
    pub id: Option<Key<DiffNote>>,
    #[field(index(counted))]
    pub rank: i64,
    pub text: String,
    pub weight: Option<f64>,
}

/// A backend that runs every lookup [`DiffItem`] declares (every backend, through the
/// declarations).
pub trait RunsDiffLookups:
    Backend
    + Runs<Emulated<kinds::iexact, DiffItem_fields::name>>
    + Runs<Emulated<kinds::istartswith, DiffItem_fields::name>>
    + Runs<Emulated<kinds::endswith, DiffItem_fields::name>>
    + Runs<Emulated<kinds::icontains, DiffItem_fields::name>>
    + Runs<Emulated<kinds::year, DiffItem_fields::when>>
    + Runs<Emulated<kinds::month, DiffItem_fields::when>>
    + Runs<Emulated<kinds::day, DiffItem_fields::when>>
    + Runs<Emulated<kinds::week_day, DiffItem_fields::when>>
{
}

impl<B> RunsDiffLookups for B where
    B: Backend
        + Runs<Emulated<kinds::iexact, DiffItem_fields::name>>
        + Runs<Emulated<kinds::istartswith, DiffItem_fields::name>>
        + Runs<Emulated<kinds::endswith, DiffItem_fields::name>>
        + Runs<Emulated<kinds::icontains, DiffItem_fields::name>>
        + Runs<Emulated<kinds::year, DiffItem_fields::when>>
        + Runs<Emulated<kinds::month, DiffItem_fields::when>>
        + Runs<Emulated<kinds::day, DiffItem_fields::when>>
        + Runs<Emulated<kinds::week_day, DiffItem_fields::when>>
{
}

pub use crate::conformance::Rng;

const INTS: [i64; 12] = [0, 1, -1, 2, 3, 7, -7, 42, 100, -100, 1_000_000_007, -(1 << 40)];
const LIST_INTS: [i64; 8] = [0, 1, -1, 2, 7, 42, i64::MAX, i64::MIN];
const SMALLS: [i32; 7] = [0, 1, -1, 2, 5, -5, 1000];
const FLOATS: [f64; 9] = [0.0, 1.5, -1.5, 2.0, 1e-9, -1e300, 3.25, 0.1, 1e300];
const TEXTS: [&str; 26] = [
    "",
    "a",
    "A",
    "ab",
    "aB",
    "Ab",
    "abc",
    "abd",
    "b",
    "ä",
    "Ä",
    "äb",
    "straße",
    "STRASSE",
    "日本",
    "日本語",
    "a b",
    " a",
    "%",
    ".*",
    "a.b",
    "\\",
    "(",
    "[x",
    "a+b",
    "İ",
];
/// Text that MongoDB's regular expressions are known to mishandle (NUL, a final newline).
const REGEX_TEXTS: [&str; 4] = ["a\0b", "\0", "ab\n", "a\nb"];
const MAP_KEYS: [&str; 4] = ["k", "K", "k2", "long_key"];
/// Keys no map may hold (refused when saved and when looked up): empty, with `.` or NUL,
/// or starting with `$`.
const BAD_KEYS: [&str; 6] = ["a.b", "k.k2", "$ne", "$gt", "", "a\0b"];
/// Keys holding `$` that a map may hold.
const DOLLAR_KEYS: [&str; 3] = ["a$", "k$ne", "x$"];
const DATES: [&str; 8] = [
    "2024-03-05T10:00:00Z",
    "2024-02-29T23:59:59.999Z",
    "2023-12-31T00:00:00Z",
    "1969-07-20T20:17:40Z",
    "2024-03-05T10:00:00.001Z",
    "2000-01-01T00:00:00Z",
    "2024-12-01T06:00:00Z",
    "1970-01-01T00:00:00Z",
];
const DECIMALS: [&str; 8] = ["0", "1.5", "1.50", "-1.5", "100", "0.001", "-7", "79228162514264337593543950335"];
const CODES: [&str; 5] = ["c", "C", "", "é", "c "];

/// Whether no map may hold `key` (refused on every backend, when saved and looked up).
pub fn refused_key(key: &str) -> bool {
    key.is_empty() || key.starts_with('$') || key.contains('.') || key.contains('\0')
}

impl DiffItem {
    /// Whether a save of this record is refused (a map key no map may hold).
    pub fn refused(&self) -> bool {
        self.attrs.keys().any(|k| refused_key(k))
    }
}

/// Draws the harness's values, leaving out the areas the run skips.
pub struct Draw<'a> {
    pub rng: &'a mut Rng,
    pub areas: &'a Areas,
}

impl Draw<'_> {
    pub fn int(&mut self) -> i64 {
        self.rng.pick(&INTS)
    }

    pub fn list_int(&mut self) -> i64 {
        self.rng.pick(&LIST_INTS)
    }

    pub fn small(&mut self) -> i32 {
        self.rng.pick(&SMALLS)
    }

    pub fn float(&mut self) -> f64 {
        if self.areas.negative_zero && self.rng.one_in(8) {
            return -0.0;
        }
        self.rng.pick(&FLOATS)
    }

    pub fn text(&mut self) -> String {
        if self.areas.regex_needles && self.rng.one_in(10) {
            return self.rng.pick(&REGEX_TEXTS).to_owned();
        }
        self.rng.pick(&TEXTS).to_owned()
    }

    pub fn texts(&mut self, max: usize) -> Vec<String> {
        let n = self.rng.below(max + 1);
        (0..n).map(|_| self.text()).collect()
    }

    /// A key of a stored map: now and then one no map may hold, when map keys are in the run.
    pub fn map_key(&mut self) -> String {
        if self.areas.map_keys && self.rng.one_in(30) {
            return self.rng.pick(&BAD_KEYS).to_owned();
        }
        self.good_key()
    }

    fn good_key(&mut self) -> String {
        if self.areas.injection && self.rng.one_in(6) {
            return self.rng.pick(&DOLLAR_KEYS).to_owned();
        }
        self.rng.pick(&MAP_KEYS).to_owned()
    }

    /// A key to look up with `get`: one no map may hold more often than in a stored map.
    pub fn path_key(&mut self) -> String {
        if self.areas.map_keys && self.rng.one_in(6) {
            return self.rng.pick(&BAD_KEYS).to_owned();
        }
        self.good_key()
    }

    /// A value for [`DiffItem::doc`]: in the injection area, mostly documents that would act
    /// as operators if sent bare (alone, nested, in lists).
    pub fn value(&mut self) -> Value {
        if self.areas.injection && !self.rng.one_in(3) {
            return self.rng.pick(&operator_values());
        }
        self.rng.pick(&plain_values())
    }

    pub fn map(&mut self) -> BTreeMap<String, i64> {
        let n = self.rng.below(3);
        (0..n).map(|_| (self.map_key(), self.int())).collect()
    }

    pub fn date(&mut self) -> DateTime<Utc> {
        self.rng.pick(&DATES).parse().expect("a date-time")
    }

    pub fn decimal(&mut self) -> Decimal {
        self.rng.pick(&DECIMALS).parse().expect("a decimal")
    }

    pub fn blob(&mut self) -> Blob {
        Blob(self.rng.pick(&[&[][..], &[0], &[0, 255], &[1, 2, 3]]).to_vec())
    }

    pub fn part(&mut self) -> DiffPart {
        DiffPart { label: self.text(), qty: self.int() }
    }

    /// One of a few codes, so that saves clash on the unique field now and then.
    pub fn clashing_code(&mut self) -> Option<String> {
        (!self.rng.one_in(3)).then(|| self.rng.pick(&CODES).to_owned())
    }

    pub fn item(&mut self, id: i64, code: Option<String>) -> DiffItem {
        DiffItem {
            id,
            n: self.int(),
            n_plain: self.int(),
            small: self.small(),
            score: self.float(),
            flag: self.rng.one_in(2),
            name: self.text(),
            name_plain: self.text(),
            code,
            maybe: (!self.rng.one_in(3)).then(|| self.int()),
            tags: self.texts(3),
            nums: (0..self.rng.below(4)).map(|_| self.list_int()).collect(),
            attrs: self.map(),
            data: self.blob(),
            when: self.date(),
            price: self.decimal(),
            main: self.part(),
            parts: (0..self.rng.below(4)).map(|_| self.part()).collect(),
            doc: self.value(),
        }
    }

    pub fn note(&mut self) -> DiffNote {
        DiffNote {
            id: None,
            rank: self.rng.below(5) as i64 - 2,
            text: self.text(),
            weight: (!self.rng.one_in(3)).then(|| self.float()),
        }
    }

    /// A key in the harness's small key space, so that writes meet existing records.
    pub fn id(&mut self) -> i64 {
        self.rng.below(32) as i64 - 4
    }
}

fn doc(fields: &[(&str, Value)]) -> Value {
    Value::Document(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
}

fn plain_values() -> [Value; 8] {
    let seven = Value::Int64(7);
    [
        Value::Null,
        seven.clone(),
        Value::Int64(8),
        Value::String("x".into()),
        doc(&[("a", seven.clone())]),
        Value::Array(vec![seven.clone(), Value::String("x".into())]),
        Value::Array(vec![doc(&[("a", seven)]), Value::Null]),
        Value::Array(Vec::new()),
    ]
}

/// Documents of `$` keys (each an operator if read as one), nested and in lists.
fn operator_values() -> [Value; 14] {
    let seven = Value::Int64(7);
    let ne = doc(&[("$ne", seven.clone())]);
    [
        ne.clone(),
        doc(&[("$ne", Value::Int64(8))]),
        doc(&[("$gt", Value::Int64(0))]),
        doc(&[("$gt", Value::Null)]),
        doc(&[("$exists", Value::Bool(true))]),
        doc(&[("$in", Value::Array(vec![seven.clone(), Value::String("x".into())]))]),
        doc(&[("$eq", seven.clone())]),
        doc(&[("$regex", Value::String(".*".into()))]),
        doc(&[("$not", doc(&[("$eq", Value::Int64(0))]))]),
        doc(&[("$where", Value::String("return true".into()))]),
        doc(&[("a", ne.clone())]),
        Value::Array(vec![ne.clone()]),
        Value::Array(vec![ne, seven]),
        Value::Array(vec![doc(&[("$gt", Value::Int64(0))]), Value::Null]),
    ]
}
