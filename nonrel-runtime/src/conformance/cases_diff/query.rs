//! Queries the harness draws, as data: each one builds the typed query, answers itself on
//! the oracle with MongoDB's semantics, and prints as Rust.
#![allow(missing_docs)]

use super::model::{refused_key, DiffItem, DiffNote, Draw};
use crate::core::codec::Encode;
use crate::plan::Ordered;
use crate::{Blob, Condition, DateTime, Decimal, Field, Query, Utc, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::{self, Debug};

/// A comparison with an operand of the field's type.
#[derive(Debug, Clone)]
pub enum Cmp<T> {
    Eq(T),
    Ne(T),
    In(Vec<T>),
    Gt(T),
    Gte(T),
    Lt(T),
    Lte(T),
    Range(T, T),
    IsNull(bool),
}

impl<T: Clone + PartialOrd + Encode + Ordered> Cmp<T> {
    fn draw(d: &mut Draw, mut value: impl FnMut(&mut Draw) -> T, nullable: bool) -> Self {
        match d.rng.below(if nullable { 9 } else { 8 }) {
            0 => Cmp::Eq(value(d)),
            1 => Cmp::Ne(value(d)),
            2 => Cmp::In((0..d.rng.below(4)).map(|_| value(d)).collect()),
            3 => Cmp::Gt(value(d)),
            4 => Cmp::Gte(value(d)),
            5 => Cmp::Lt(value(d)),
            6 => Cmp::Lte(value(d)),
            7 => Cmp::Range(value(d), value(d)),
            _ => Cmp::IsNull(d.rng.one_in(2)),
        }
    }

    fn condition<M, F>(&self, f: Field<M, T, F>) -> Condition<M> {
        match self.clone() {
            Cmp::Eq(v) => f.eq(v),
            Cmp::Ne(v) => f.ne(v),
            Cmp::In(vs) => f.is_in(vs),
            Cmp::Gt(v) => f.gt(v),
            Cmp::Gte(v) => f.gte(v),
            Cmp::Lt(v) => f.lt(v),
            Cmp::Lte(v) => f.lte(v),
            Cmp::Range(lo, hi) => f.range(lo, hi),
            Cmp::IsNull(b) => f.isnull(b),
        }
    }

    /// MongoDB's answer for the values at the path (one per list element through a list;
    /// `None` for null or missing): any value may satisfy a bound, and each bound of a range
    /// on its own (`$gte` and `$lte` on a list match through different elements).
    fn holds(&self, leaves: &[Option<T>]) -> bool {
        let any = |ok: &dyn Fn(&T) -> bool| leaves.iter().flatten().any(ok);
        match self {
            Cmp::Eq(v) => any(&|x| x == v),
            Cmp::Ne(v) => !any(&|x| x == v),
            Cmp::In(vs) => any(&|x| vs.contains(x)),
            Cmp::Gt(v) => any(&|x| x > v),
            Cmp::Gte(v) => any(&|x| x >= v),
            Cmp::Lt(v) => any(&|x| x < v),
            Cmp::Lte(v) => any(&|x| x <= v),
            Cmp::Range(lo, hi) => any(&|x| x >= lo) && any(&|x| x <= hi),
            Cmp::IsNull(b) => (leaves.is_empty() || leaves.iter().any(Option::is_none)) == *b,
        }
    }
}

impl<T: Debug> fmt::Display for Cmp<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cmp::Eq(v) => write!(f, "eq({v:?})"),
            Cmp::Ne(v) => write!(f, "ne({v:?})"),
            Cmp::In(vs) => write!(f, "is_in({vs:?})"),
            Cmp::Gt(v) => write!(f, "gt({v:?})"),
            Cmp::Gte(v) => write!(f, "gte({v:?})"),
            Cmp::Lt(v) => write!(f, "lt({v:?})"),
            Cmp::Lte(v) => write!(f, "lte({v:?})"),
            Cmp::Range(lo, hi) => write!(f, "range({lo:?}, {hi:?})"),
            Cmp::IsNull(b) => write!(f, "isnull({b})"),
        }
    }
}

/// A lookup on a text path: a comparison, or a substring lookup.
#[derive(Debug, Clone)]
pub enum TextOp {
    Cmp(Cmp<String>),
    StartsWith(String),
    Contains(String),
}

impl TextOp {
    fn draw(d: &mut Draw, nullable: bool) -> Self {
        match d.rng.below(4) {
            0 => TextOp::StartsWith(d.text()),
            1 => TextOp::Contains(d.text()),
            _ => TextOp::Cmp(Cmp::draw(d, |d| d.text(), nullable)),
        }
    }

    fn condition<M, F>(&self, f: Field<M, String, F>) -> Condition<M> {
        match self {
            TextOp::Cmp(c) => c.condition(f),
            TextOp::StartsWith(p) => f.startswith(p.clone()),
            TextOp::Contains(p) => f.contains(p.clone()),
        }
    }

    fn holds(&self, leaves: &[Option<String>]) -> bool {
        let any = |ok: &dyn Fn(&str) -> bool| leaves.iter().flatten().any(|s| ok(s));
        match self {
            TextOp::Cmp(c) => c.holds(leaves),
            TextOp::StartsWith(p) => any(&|s| s.starts_with(p.as_str())),
            TextOp::Contains(p) => any(&|s| s.contains(p.as_str())),
        }
    }
}

impl fmt::Display for TextOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextOp::Cmp(c) => write!(f, "{c}"),
            TextOp::StartsWith(p) => write!(f, "startswith({p:?})"),
            TextOp::Contains(p) => write!(f, "contains({p:?})"),
        }
    }
}

/// A lookup on a list field: an element, the whole list, absence.
#[derive(Debug, Clone)]
pub enum ListOp<T> {
    Contains(T),
    Eq(Vec<T>),
    Ne(Vec<T>),
    In(Vec<Vec<T>>),
    IsNull(bool),
}

impl<T: Clone + PartialEq + Encode> ListOp<T> {
    fn draw(d: &mut Draw, mut value: impl FnMut(&mut Draw) -> T) -> Self {
        let mut list = |d: &mut Draw| (0..d.rng.below(3)).map(|_| value(d)).collect::<Vec<T>>();
        match d.rng.below(6) {
            0 => ListOp::Eq(list(d)),
            1 => ListOp::Ne(list(d)),
            2 => ListOp::In(vec![list(d), list(d)]),
            3 => ListOp::IsNull(d.rng.one_in(2)),
            _ => ListOp::Contains(list(d).pop().unwrap_or_else(|| value(d))),
        }
    }

    fn condition<M, F>(&self, f: Field<M, Vec<T>, F>) -> Condition<M> {
        match self.clone() {
            ListOp::Contains(v) => f.contains(v),
            ListOp::Eq(v) => f.eq(v),
            ListOp::Ne(v) => f.ne(v),
            ListOp::In(vs) => f.is_in(vs),
            ListOp::IsNull(b) => f.isnull(b),
        }
    }

    /// MongoDB: a list equals a value when an element does or the whole list does; a list
    /// (even empty) is never null.
    fn holds(&self, list: &[T]) -> bool {
        match self {
            ListOp::Contains(v) => list.contains(v),
            ListOp::Eq(v) => list == v.as_slice(),
            ListOp::Ne(v) => list != v.as_slice(),
            ListOp::In(vs) => vs.iter().any(|v| list == v.as_slice()),
            ListOp::IsNull(b) => !b,
        }
    }
}

impl<T: Debug> fmt::Display for ListOp<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListOp::Contains(v) => write!(f, "contains({v:?})"),
            ListOp::Eq(v) => write!(f, "eq(vec!{v:?})"),
            ListOp::Ne(v) => write!(f, "ne(vec!{v:?})"),
            ListOp::In(vs) => write!(f, "is_in({vs:?})"),
            ListOp::IsNull(b) => write!(f, "isnull({b})"),
        }
    }
}

/// A lookup on a `Value` field: its operands are compared literally, whatever their keys.
#[derive(Debug, Clone)]
pub enum ValueOp {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    IsNull(bool),
}

impl ValueOp {
    fn draw(d: &mut Draw) -> Self {
        match d.rng.below(7) {
            0..=2 => ValueOp::Eq(d.value()),
            3 => ValueOp::Ne(d.value()),
            4 | 5 => ValueOp::In((0..d.rng.below(4)).map(|_| d.value()).collect()),
            _ => ValueOp::IsNull(d.rng.one_in(2)),
        }
    }

    fn condition<M, F>(&self, f: Field<M, Value, F>) -> Condition<M> {
        match self.clone() {
            ValueOp::Eq(v) => f.eq(v),
            ValueOp::Ne(v) => f.ne(v),
            ValueOp::In(vs) => f.is_in(vs),
            ValueOp::IsNull(b) => f.isnull(b),
        }
    }

    /// MongoDB's equality: the stored value, or for a list, one of its elements, equals the
    /// operand (documents key by key, in order).
    fn holds(&self, stored: &Value) -> bool {
        let equal = |v: &Value| stored == v || matches!(stored, Value::Array(items) if items.contains(v));
        match self {
            ValueOp::Eq(v) => equal(v),
            ValueOp::Ne(v) => !equal(v),
            ValueOp::In(vs) => vs.iter().any(equal),
            ValueOp::IsNull(b) => equal(&Value::Null) == *b,
        }
    }
}

impl fmt::Display for ValueOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueOp::Eq(v) => write!(f, "eq({v:?})"),
            ValueOp::Ne(v) => write!(f, "ne({v:?})"),
            ValueOp::In(vs) => write!(f, "is_in({vs:?})"),
            ValueOp::IsNull(b) => write!(f, "isnull({b})"),
        }
    }
}

/// An emulated lookup a field declares.
#[derive(Debug, Clone)]
pub enum Emulated {
    IExact(String),
    IStartsWith(String),
    EndsWith(String),
    IContains(String),
    Year(i32),
    Month(u32),
    Day(u32),
    WeekDay(u32),
}

/// One condition on a [`DiffItem`].
#[derive(Debug, Clone)]
pub enum Cond {
    N(Cmp<i64>),
    NPlain(Cmp<i64>),
    Small(Cmp<i32>),
    Score(Cmp<f64>),
    Flag(bool, bool),
    Name(TextOp),
    NamePlain(TextOp),
    Code(TextOp),
    Maybe(Cmp<i64>),
    Tags(ListOp<String>),
    Nums(ListOp<i64>),
    Attr(String, Cmp<i64>),
    Attrs(bool, BTreeMap<String, i64>),
    Data(Blob),
    When(Cmp<DateTime<Utc>>),
    Price(Cmp<Decimal>),
    MainLabel(TextOp),
    MainQty(Cmp<i64>),
    PartsLabel(TextOp),
    PartsQty(Cmp<i64>),
    ElemMatch(TextOp, Cmp<i64>),
    Emulated(Emulated),
    Doc(ValueOp),
    /// Any branch holds, each branch all its conditions (`(a & b) | c`).
    Or(Vec<Vec<Cond>>),
    /// Not all of the conditions hold (`!(a & b)`).
    Not(Vec<Cond>),
}

/// A comparison on a path through a list: a range there only when list ranges are in the
/// run (MongoDB matches each bound on any element, possibly different ones).
fn through_list<T>(c: Cmp<T>, d: &Draw) -> Cmp<T> {
    match c {
        Cmp::Range(lo, _) if !d.areas.list_ranges => Cmp::Gte(lo),
        c => c,
    }
}

impl Cond {
    /// A condition: now and then an OR of up to three branches, or a NOT, of one or two
    /// plain conditions each.
    pub fn draw(d: &mut Draw) -> Self {
        let conjunction = |d: &mut Draw| (0..d.rng.pick(&[1, 1, 2])).map(|_| Cond::draw_plain(d)).collect::<Vec<_>>();
        match d.rng.below(14) {
            0 => Cond::Or((0..d.rng.pick(&[0, 1, 2, 2, 2, 3])).map(|_| conjunction(d)).collect()),
            1 => Cond::Not(conjunction(d)),
            _ => Cond::draw_plain(d),
        }
    }

    /// A condition on one field.
    fn draw_plain(d: &mut Draw) -> Self {
        match d.rng.below(28) {
            0 | 1 => Cond::N(Cmp::draw(d, |d| d.int(), false)),
            2 => Cond::NPlain(Cmp::draw(d, |d| d.int(), false)),
            3 => Cond::Small(Cmp::draw(d, |d| d.small(), false)),
            4 | 5 => Cond::Score(Cmp::draw(d, |d| d.float(), false)),
            6 => Cond::Flag(d.rng.one_in(2), d.rng.one_in(2)),
            7 | 8 => Cond::Name(TextOp::draw(d, false)),
            9 => Cond::NamePlain(TextOp::draw(d, false)),
            10 => Cond::Code(TextOp::draw(d, true)),
            11 => Cond::Maybe(Cmp::draw(d, |d| d.int(), true)),
            12 => Cond::Tags(ListOp::draw(d, |d| d.text())),
            13 => Cond::Nums(ListOp::draw(d, |d| d.list_int())),
            14 => Cond::Attr(d.path_key(), Cmp::draw(d, |d| d.int(), true)),
            15 => Cond::Attrs(d.rng.one_in(2), d.map()),
            16 => Cond::Data(d.blob()),
            17 => Cond::When(Cmp::draw(d, |d| d.date(), false)),
            18 => Cond::Price(Cmp::draw(d, |d| d.decimal(), false)),
            19 => Cond::MainLabel(TextOp::draw(d, false)),
            20 => Cond::MainQty(Cmp::draw(d, |d| d.int(), false)),
            21 => Cond::PartsLabel(match TextOp::draw(d, false) {
                TextOp::Cmp(c) => TextOp::Cmp(through_list(c, d)),
                t => t,
            }),
            22 => Cond::PartsQty(through_list(Cmp::draw(d, |d| d.int(), false), d)),
            23 => Cond::ElemMatch(TextOp::draw(d, false), Cmp::draw(d, |d| d.int(), false)),
            24 | 25 => Cond::Doc(ValueOp::draw(d)),
            _ => Cond::Emulated(Emulated::draw(d)),
        }
    }

    /// Whether the query is refused when it runs (a map key no map may hold).
    pub fn refused(&self) -> bool {
        match self {
            Cond::Attr(k, _) => refused_key(k),
            Cond::Attrs(_, m) => m.keys().any(|k| refused_key(k)),
            Cond::Or(branches) => branches.iter().flatten().any(Cond::refused),
            Cond::Not(conds) => conds.iter().any(Cond::refused),
            _ => false,
        }
    }

    /// The typed condition (emulated lookups carry their requirement, which the harness's
    /// bound on the backend covers).
    pub fn condition(&self) -> Condition<DiffItem> {
        match self {
            Cond::N(c) => c.condition(DiffItem::n()),
            Cond::NPlain(c) => c.condition(DiffItem::n_plain()),
            Cond::Small(c) => c.condition(DiffItem::small()),
            Cond::Score(c) => c.condition(DiffItem::score()),
            Cond::Flag(true, b) => DiffItem::flag().eq(*b),
            Cond::Flag(false, b) => DiffItem::flag().ne(*b),
            Cond::Name(t) => t.condition(DiffItem::name()),
            Cond::NamePlain(t) => t.condition(DiffItem::name_plain()),
            Cond::Code(t) => t.condition(DiffItem::code()),
            Cond::Maybe(c) => c.condition(DiffItem::maybe()),
            Cond::Tags(l) => l.condition(DiffItem::tags()),
            Cond::Nums(l) => l.condition(DiffItem::nums()),
            Cond::Attr(k, c) => c.condition(DiffItem::attrs().get(k)),
            Cond::Attrs(true, m) => DiffItem::attrs().eq(m.clone()),
            Cond::Attrs(false, m) => DiffItem::attrs().ne(m.clone()),
            Cond::Data(b) => DiffItem::data().eq(b.clone()),
            Cond::When(c) => c.condition(DiffItem::when()),
            Cond::Price(c) => c.condition(DiffItem::price()),
            Cond::MainLabel(t) => t.condition(DiffItem::main().label()),
            Cond::MainQty(c) => c.condition(DiffItem::main().qty()),
            Cond::PartsLabel(t) => t.condition(DiffItem::parts().label()),
            Cond::PartsQty(c) => c.condition(DiffItem::parts().qty()),
            Cond::ElemMatch(t, c) => DiffItem::parts().elem_match(|p| [t.condition(p.label()), c.condition(p.qty())]),
            Cond::Emulated(e) => e.condition(),
            Cond::Doc(v) => v.condition(DiffItem::doc()),
            Cond::Or(branches) => {
                crate::query::any(branches.iter().map(|b| crate::query::all(b.iter().map(Cond::condition))))
            }
            Cond::Not(conds) => !crate::query::all(conds.iter().map(Cond::condition)),
        }
    }

    /// The oracle's answer for one record.
    pub fn holds(&self, r: &DiffItem) -> bool {
        let labels = || r.parts.iter().map(|p| Some(p.label.clone())).collect::<Vec<_>>();
        match self {
            Cond::N(c) => c.holds(&[Some(r.n)]),
            Cond::NPlain(c) => c.holds(&[Some(r.n_plain)]),
            Cond::Small(c) => c.holds(&[Some(r.small)]),
            Cond::Score(c) => c.holds(&[Some(r.score)]),
            Cond::Flag(eq, b) => (r.flag == *b) == *eq,
            Cond::Name(t) => t.holds(&[Some(r.name.clone())]),
            Cond::NamePlain(t) => t.holds(&[Some(r.name_plain.clone())]),
            Cond::Code(t) => t.holds(std::slice::from_ref(&r.code)),
            Cond::Maybe(c) => c.holds(&[r.maybe]),
            Cond::Tags(l) => l.holds(&r.tags),
            Cond::Nums(l) => l.holds(&r.nums),
            Cond::Attr(k, c) => c.holds(&[r.attrs.get(k).copied()]),
            Cond::Attrs(eq, m) => (&r.attrs == m) == *eq,
            Cond::Data(b) => &r.data == b,
            Cond::When(c) => c.holds(&[Some(r.when)]),
            Cond::Price(c) => c.holds(&[Some(r.price)]),
            Cond::MainLabel(t) => t.holds(&[Some(r.main.label.clone())]),
            Cond::MainQty(c) => c.holds(&[Some(r.main.qty)]),
            Cond::PartsLabel(t) => t.holds(&labels()),
            Cond::PartsQty(c) => c.holds(&r.parts.iter().map(|p| Some(p.qty)).collect::<Vec<_>>()),
            Cond::ElemMatch(t, c) => {
                r.parts.iter().any(|p| t.holds(&[Some(p.label.clone())]) && c.holds(&[Some(p.qty)]))
            }
            Cond::Emulated(e) => e.holds(r),
            Cond::Doc(v) => v.holds(&r.doc),
            Cond::Or(branches) => branches.iter().any(|b| b.iter().all(|c| c.holds(r))),
            Cond::Not(conds) => !conds.iter().all(|c| c.holds(r)),
        }
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cond::N(c) => write!(f, "DiffItem::n().{c}"),
            Cond::NPlain(c) => write!(f, "DiffItem::n_plain().{c}"),
            Cond::Small(c) => write!(f, "DiffItem::small().{c}"),
            Cond::Score(c) => write!(f, "DiffItem::score().{c}"),
            Cond::Flag(true, b) => write!(f, "DiffItem::flag().eq({b})"),
            Cond::Flag(false, b) => write!(f, "DiffItem::flag().ne({b})"),
            Cond::Name(t) => write!(f, "DiffItem::name().{t}"),
            Cond::NamePlain(t) => write!(f, "DiffItem::name_plain().{t}"),
            Cond::Code(t) => write!(f, "DiffItem::code().{t}"),
            Cond::Maybe(c) => write!(f, "DiffItem::maybe().{c}"),
            Cond::Tags(l) => write!(f, "DiffItem::tags().{l}"),
            Cond::Nums(l) => write!(f, "DiffItem::nums().{l}"),
            Cond::Attr(k, c) => write!(f, "DiffItem::attrs().get({k:?}).{c}"),
            Cond::Attrs(true, m) => {
                write!(f, "DiffItem::attrs().eq(BTreeMap::from({:?}))", m.iter().collect::<Vec<_>>())
            }
            Cond::Attrs(false, m) => {
                write!(f, "DiffItem::attrs().ne(BTreeMap::from({:?}))", m.iter().collect::<Vec<_>>())
            }
            Cond::Data(b) => write!(f, "DiffItem::data().eq({b:?})"),
            Cond::When(c) => write!(f, "DiffItem::when().{c}"),
            Cond::Price(c) => write!(f, "DiffItem::price().{c}"),
            Cond::MainLabel(t) => write!(f, "DiffItem::main().label().{t}"),
            Cond::MainQty(c) => write!(f, "DiffItem::main().qty().{c}"),
            Cond::PartsLabel(t) => write!(f, "DiffItem::parts().label().{t}"),
            Cond::PartsQty(c) => write!(f, "DiffItem::parts().qty().{c}"),
            Cond::ElemMatch(t, c) => write!(f, "DiffItem::parts().elem_match(|p| [p.label().{t}, p.qty().{c}])"),
            Cond::Emulated(e) => write!(f, "DiffItem::{e}"),
            Cond::Doc(v) => write!(f, "DiffItem::doc().{v}"),
            Cond::Or(branches) if branches.is_empty() => write!(f, "any::<DiffItem, _>([])"),
            Cond::Or(branches) => {
                for (i, b) in branches.iter().enumerate() {
                    write!(f, "{}({})", if i > 0 { " | " } else { "" }, Conjunction(b))?;
                }
                Ok(())
            }
            Cond::Not(conds) => write!(f, "!({})", Conjunction(conds)),
        }
    }
}

/// Conditions joined by `&`, as Rust.
struct Conjunction<'a>(&'a [Cond]);

impl fmt::Display for Conjunction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            write!(f, "{}{c}", if i > 0 { " & " } else { "" })?;
        }
        Ok(())
    }
}

impl Emulated {
    fn draw(d: &mut Draw) -> Self {
        match d.rng.below(8) {
            0 => Emulated::IExact(d.text()),
            1 => Emulated::IStartsWith(d.text()),
            2 => Emulated::EndsWith(d.text()),
            3 => Emulated::IContains(d.text()),
            4 => Emulated::Year(d.rng.pick(&[1969, 1970, 2000, 2023, 2024])),
            5 => Emulated::Month(1 + d.rng.below(12) as u32),
            6 => Emulated::Day(d.rng.pick(&[1, 5, 20, 29, 31])),
            _ => Emulated::WeekDay(1 + d.rng.below(7) as u32),
        }
    }

    fn condition(&self) -> Condition<DiffItem> {
        match self.clone() {
            Emulated::IExact(s) => DiffItem::name().iexact(s).require(),
            Emulated::IStartsWith(s) => DiffItem::name().istartswith(s).require(),
            Emulated::EndsWith(s) => DiffItem::name().endswith(s).require(),
            Emulated::IContains(s) => DiffItem::name().icontains(s).require(),
            Emulated::Year(y) => DiffItem::when().year(y).require(),
            Emulated::Month(m) => DiffItem::when().month(m).require(),
            Emulated::Day(n) => DiffItem::when().day(n).require(),
            Emulated::WeekDay(n) => DiffItem::when().week_day(n).require(),
        }
    }

    /// Unicode lowercase of both sides, as the README defines; date parts in UTC, week days
    /// from 1 (Sunday).
    fn holds(&self, r: &DiffItem) -> bool {
        use chrono::Datelike;
        let name = r.name.to_lowercase();
        match self {
            Emulated::IExact(s) => name == s.to_lowercase(),
            Emulated::IStartsWith(s) => name.starts_with(&s.to_lowercase()),
            Emulated::EndsWith(s) => r.name.ends_with(s.as_str()),
            Emulated::IContains(s) => name.contains(&s.to_lowercase()),
            Emulated::Year(y) => r.when.year() == *y,
            Emulated::Month(m) => r.when.month() == *m,
            Emulated::Day(n) => r.when.day() == *n,
            Emulated::WeekDay(n) => r.when.weekday().number_from_sunday() == *n,
        }
    }
}

impl fmt::Display for Emulated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Emulated::IExact(s) => write!(f, "name().iexact({s:?})"),
            Emulated::IStartsWith(s) => write!(f, "name().istartswith({s:?})"),
            Emulated::EndsWith(s) => write!(f, "name().endswith({s:?})"),
            Emulated::IContains(s) => write!(f, "name().icontains({s:?})"),
            Emulated::Year(y) => write!(f, "when().year({y})"),
            Emulated::Month(m) => write!(f, "when().month({m})"),
            Emulated::Day(n) => write!(f, "when().day({n})"),
            Emulated::WeekDay(n) => write!(f, "when().week_day({n})"),
        }
    }
}

/// A field [`DiffItem`] queries order by.
#[derive(Debug, Clone, Copy)]
pub enum Sort {
    N,
    NPlain,
    Score,
    Flag,
    Name,
    Code,
    Maybe,
    When,
    Price,
    MainQty,
    Attr,
}

/// One value a record sorts by (MongoDB's order: null first, then the field's own).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortValue {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Date(DateTime<Utc>),
    Dec(Decimal),
}

impl Sort {
    const ALL: [Sort; 11] = [
        Sort::N,
        Sort::NPlain,
        Sort::Score,
        Sort::Flag,
        Sort::Name,
        Sort::Code,
        Sort::Maybe,
        Sort::When,
        Sort::Price,
        Sort::MainQty,
        Sort::Attr,
    ];

    fn value(self, r: &DiffItem) -> SortValue {
        let or_null = |v: Option<SortValue>| v.unwrap_or(SortValue::Null);
        match self {
            Sort::N => SortValue::Int(r.n),
            Sort::NPlain => SortValue::Int(r.n_plain),
            Sort::Score => SortValue::Float(r.score),
            Sort::Flag => SortValue::Bool(r.flag),
            Sort::Name => SortValue::Text(r.name.clone()),
            Sort::Code => or_null(r.code.clone().map(SortValue::Text)),
            Sort::Maybe => or_null(r.maybe.map(SortValue::Int)),
            Sort::When => SortValue::Date(r.when),
            Sort::Price => SortValue::Dec(r.price),
            Sort::MainQty => SortValue::Int(r.main.qty),
            Sort::Attr => or_null(r.attrs.get("k").copied().map(SortValue::Int)),
        }
    }

    fn order(self, desc: bool) -> crate::Order<DiffItem> {
        macro_rules! dir {
            ($f:expr) => {
                if desc {
                    $f.desc()
                } else {
                    $f.asc()
                }
            };
        }
        match self {
            Sort::N => dir!(DiffItem::n()),
            Sort::NPlain => dir!(DiffItem::n_plain()),
            Sort::Score => dir!(DiffItem::score()),
            Sort::Flag => dir!(DiffItem::flag()),
            Sort::Name => dir!(DiffItem::name()),
            Sort::Code => dir!(DiffItem::code()),
            Sort::Maybe => dir!(DiffItem::maybe()),
            Sort::When => dir!(DiffItem::when()),
            Sort::Price => dir!(DiffItem::price()),
            Sort::MainQty => dir!(DiffItem::main().qty()),
            Sort::Attr => dir!(DiffItem::attrs().get("k")),
        }
    }

    fn text(self) -> &'static str {
        match self {
            Sort::N => "n()",
            Sort::NPlain => "n_plain()",
            Sort::Score => "score()",
            Sort::Flag => "flag()",
            Sort::Name => "name()",
            Sort::Code => "code()",
            Sort::Maybe => "maybe()",
            Sort::When => "when()",
            Sort::Price => "price()",
            Sort::MainQty => "main().qty()",
            Sort::Attr => "attrs().get(\"k\")",
        }
    }
}

/// A query on [`DiffItem`]: conditions, ordering, window.
#[derive(Debug, Clone, Default)]
pub struct ItemQuery {
    pub conds: Vec<Cond>,
    pub order: Vec<(Sort, bool)>,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
}

impl ItemQuery {
    /// A query of up to three conditions and two ordering terms; `window` adds an offset
    /// and a limit now and then.
    pub fn draw(d: &mut Draw, window: bool) -> Self {
        let conds = (0..d.rng.pick(&[0, 1, 1, 1, 2, 2, 3])).map(|_| Cond::draw(d)).collect();
        let order = (0..d.rng.pick(&[0, 0, 1, 1, 1, 2])).map(|_| (d.rng.pick(&Sort::ALL), d.rng.one_in(2))).collect();
        let mut q = ItemQuery { conds, order, offset: None, limit: None };
        if window && (d.areas.key_order || !q.order.is_empty()) {
            q.offset = d.rng.one_in(4).then(|| d.rng.below(6));
            q.limit = d.rng.one_in(3).then(|| d.rng.below(8));
        }
        q
    }

    /// Whether the query is refused when it runs.
    pub fn refused(&self) -> bool {
        self.conds.iter().any(Cond::refused)
    }

    /// The typed query.
    pub fn query(&self) -> Query<DiffItem> {
        let mut q = Query::new();
        for c in &self.conds {
            q = q.filter(c.condition());
        }
        for (s, desc) in &self.order {
            q = q.order_by(s.order(*desc));
        }
        if let Some(n) = self.offset {
            q = q.offset(n);
        }
        if let Some(n) = self.limit {
            q = q.limit(n);
        }
        q
    }

    /// The oracle's answer: matching records sorted by the ordering, then by key (the map
    /// is in key order), then the window.
    pub fn answer(&self, records: &BTreeMap<i64, DiffItem>) -> Vec<DiffItem> {
        let mut out: Vec<&DiffItem> = records.values().filter(|r| self.conds.iter().all(|c| c.holds(r))).collect();
        out.sort_by(|a, b| self.compare(a, b));
        let skip = self.offset.unwrap_or(0);
        out.into_iter().skip(skip).take(self.limit.unwrap_or(usize::MAX)).cloned().collect()
    }

    fn compare(&self, a: &DiffItem, b: &DiffItem) -> Ordering {
        for (s, desc) in &self.order {
            let o = s.value(a).partial_cmp(&s.value(b)).unwrap_or(Ordering::Equal);
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

impl fmt::Display for ItemQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Query::<DiffItem>::new()")?;
        for c in &self.conds {
            write!(f, ".filter({c})")?;
        }
        for (s, desc) in &self.order {
            write!(f, ".order_by(DiffItem::{}.{}())", s.text(), if *desc { "desc" } else { "asc" })?;
        }
        if let Some(n) = self.offset {
            write!(f, ".offset({n})")?;
        }
        if let Some(n) = self.limit {
            write!(f, ".limit({n})")?;
        }
        Ok(())
    }
}

/// A query on [`DiffNote`]: a condition on its indexed rank or its optional weight, an
/// optional order.
#[derive(Debug, Clone)]
pub struct NoteQuery {
    pub rank: Option<Cmp<i64>>,
    pub weight: Option<Cmp<f64>>,
    pub text: Option<String>,
    pub order: Option<(bool, bool)>,
}

impl NoteQuery {
    pub fn draw(d: &mut Draw) -> Self {
        NoteQuery {
            rank: d.rng.one_in(2).then(|| Cmp::draw(d, |d| d.rng.below(5) as i64 - 2, false)),
            weight: d.rng.one_in(3).then(|| Cmp::draw(d, |d| d.float(), true)),
            text: d.rng.one_in(4).then(|| d.text()),
            order: (d.rng.one_in(2) || !d.areas.key_order).then(|| (d.rng.one_in(2), d.rng.one_in(2))),
        }
    }

    pub fn query(&self) -> Query<DiffNote> {
        let mut q = Query::new();
        if let Some(c) = &self.rank {
            q = q.filter(c.condition(DiffNote::rank()));
        }
        if let Some(c) = &self.weight {
            q = q.filter(c.condition(DiffNote::weight()));
        }
        if let Some(p) = &self.text {
            q = q.filter(DiffNote::text().startswith(p.clone()));
        }
        match self.order {
            Some((true, desc)) => q.order_by(if desc { DiffNote::rank().desc() } else { DiffNote::rank().asc() }),
            Some((false, desc)) => q.order_by(if desc { DiffNote::weight().desc() } else { DiffNote::weight().asc() }),
            None => q,
        }
    }

    pub fn answer(&self, notes: &BTreeMap<crate::Key<DiffNote>, DiffNote>) -> Vec<DiffNote> {
        let mut out: Vec<&DiffNote> = notes
            .values()
            .filter(|r| self.rank.as_ref().is_none_or(|c| c.holds(&[Some(r.rank)])))
            .filter(|r| self.weight.as_ref().is_none_or(|c| c.holds(&[r.weight])))
            .filter(|r| self.text.as_ref().is_none_or(|p| r.text.starts_with(p.as_str())))
            .collect();
        let value = |r: &DiffNote, rank: bool| match rank {
            true => SortValue::Int(r.rank),
            false => r.weight.map_or(SortValue::Null, SortValue::Float),
        };
        if let Some((rank, desc)) = self.order {
            out.sort_by(|a, b| {
                let o = value(a, rank).partial_cmp(&value(b, rank)).unwrap_or(Ordering::Equal);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
        out.into_iter().cloned().collect()
    }
}

impl fmt::Display for NoteQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Query::<DiffNote>::new()")?;
        if let Some(c) = &self.rank {
            write!(f, ".filter(DiffNote::rank().{c})")?;
        }
        if let Some(c) = &self.weight {
            write!(f, ".filter(DiffNote::weight().{c})")?;
        }
        if let Some(p) = &self.text {
            write!(f, ".filter(DiffNote::text().startswith({p:?}))")?;
        }
        if let Some((rank, desc)) = self.order {
            let field = if rank { "rank" } else { "weight" };
            write!(f, ".order_by(DiffNote::{field}().{}())", if desc { "desc" } else { "asc" })?;
        }
        Ok(())
    }
}
