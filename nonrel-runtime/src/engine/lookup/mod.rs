//! The engine side of [`lookup`](crate::lookup); its documentation is there.

mod rewrite;
pub(crate) mod search;
mod update;

pub use crate::plan::lookup::Lookup;
pub use crate::schema::lookup::words::words;
pub use crate::schema::lookup::{
    encode_date_lookups, encode_text_lookups, DateLookupNames, LookupDesc, LookupKind, TextLookupNames,
};
pub(crate) use rewrite::rewrite;
pub use search::{RanksByRelevance, Relevance, RELEVANCE};
pub(crate) use update::derived_updates;

use crate::backend::capability::{No, Runs, Yes};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Condition, Field, Op};
use chrono::{DateTime, Utc};
use std::marker::PhantomData;

/// One lookup kind per type, named as users write the lookup (they appear in compile errors).
#[allow(non_camel_case_types)]
pub mod kinds {
    /// `iexact`: equal, ignoring case.
    pub enum iexact {}
    /// `istartswith`: starts with, ignoring case.
    pub enum istartswith {}
    /// `endswith`: ends with (case-sensitive).
    pub enum endswith {}
    /// `icontains`: contains, ignoring case.
    pub enum icontains {}
    /// `regex`: matches a pattern.
    pub enum regex {}
    /// `year`: the date's year.
    pub enum year {}
    /// `month`: the date's month, 1 to 12.
    pub enum month {}
    /// `day`: the date's day of the month, 1 to 31.
    pub enum day {}
    /// `week_day`: the date's day of the week, 1 (Sunday) to 7 (Saturday).
    pub enum week_day {}
    /// `search`: full-text, every word of the query among the value's words.
    pub enum search {}
}

/// The requirement of a condition with emulated lookup `L` on the field with marker `F`: the
/// backend runs `L` natively, or `F` declares it (see the [module docs](crate::lookup)).
pub struct Emulated<L, F>(PhantomData<fn() -> (L, F)>);

/// Field marker `Self` declares lookup `L` (implemented by `#[derive(Model)]` for each lookup
/// in `#[field(index(...))]`), so backend `B` can run it through the field's index.
#[diagnostic::on_unimplemented(
    message = "the `{B}` backend cannot run the `{L}` lookup on field `{Self}`: the field does not declare it",
    label = "`{L}` needs its index on this backend",
    note = "declare it on the field: `#[field(index({L}))]` (a `regex` declares each pattern: \
            `#[field(index(regex = \"^a.*z$\"))]`), then `rebuild_indexes_of::<Model>()` fills \
            it for records saved before"
)]
pub trait Declared<L, B> {}

/// How backend `Self` runs lookup `L`: natively ([`Yes`](crate::backend::capability::Yes), from the
/// backend's declaration of the capability) or through the field's declared index
/// ([`No`](crate::backend::capability::No)).
///
/// One `Runs` impl covers every emulated lookup and dispatches through this, so when a
/// declaration is missing the unmet bound is [`Declared`], whose message names the fix.
///
/// Every backend has it for every lookup, from its capability declarations (`search` from
/// [`Backend::FullText`](crate::backend::Backend::FullText)).
pub trait RunsLookup<L>: crate::backend::Backend {
    /// The backend's declaration for the capability `L` needs.
    type Via;
}

/// Lookup `L` on field `F` can run on backend `B` this way.
pub trait Satisfies<L, F, B> {}

impl<L, F, B> Satisfies<L, F, B> for Yes {}

impl<L, F: Declared<L, B>, B> Satisfies<L, F, B> for No {}

impl<B: RunsLookup<L>, L, F> Runs<Emulated<L, F>> for B where B::Via: Satisfies<L, F, B> {}

macro_rules! emulated {
    ($capability:ident: $($kind:ident),*) => {$(
        impl<B: crate::backend::Backend> RunsLookup<kinds::$kind> for B {
            type Via = B::$capability;
        }
    )*};
}

emulated!(CaseInsensitive: iexact, istartswith, icontains);
emulated!(Regex: endswith, regex);
emulated!(DateParts: year, month, day, week_day);
emulated!(FullText: search);

/// Text fields: `iexact`, `istartswith`, `endswith`, `icontains` and `regex` apply.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not text, so `iexact`, `istartswith`, `endswith`, `icontains` and `regex` do not apply",
    label = "not a text field"
)]
pub trait TextLookups {}

impl TextLookups for String {}

/// Date-time fields: `year`, `month`, `day` and `week_day` apply.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a date-time, so `year`, `month`, `day` and `week_day` do not apply",
    label = "not a `DateTime<Utc>` field"
)]
pub trait DateLookups {}

impl DateLookups for DateTime<Utc> {}

fn emulated<M, L, F>(path: std::borrow::Cow<'static, str>, lookup: Result<Lookup>) -> Condition<M, Emulated<L, F>> {
    Condition::new(path, lookup.map(Op::Lookup)).require()
}

fn in_range(what: &str, n: u32, low: u32, high: u32) -> Result<u32> {
    if (low..=high).contains(&n) {
        return Ok(n);
    }
    Err(Error::new(ErrorKind::Encode, format!("{what} must be {low} to {high}, got {n}")))
}

impl<M, T, F> Field<M, T, F> {
    /// Equal to `s`, ignoring case (Unicode lowercase).
    pub fn iexact(self, s: impl Into<String>) -> Condition<M, Emulated<kinds::iexact, F>>
    where
        T: TextLookups,
    {
        emulated(self.into_path(), Ok(Lookup::IExact(s.into())))
    }

    /// Starts with `s`, ignoring case.
    pub fn istartswith(self, s: impl Into<String>) -> Condition<M, Emulated<kinds::istartswith, F>>
    where
        T: TextLookups,
    {
        emulated(self.into_path(), Ok(Lookup::IStartsWith(s.into())))
    }

    /// Ends with `s` (case-sensitive).
    pub fn endswith(self, s: impl Into<String>) -> Condition<M, Emulated<kinds::endswith, F>>
    where
        T: TextLookups,
    {
        emulated(self.into_path(), Ok(Lookup::EndsWith(s.into())))
    }

    /// Contains `s`, ignoring case.
    pub fn icontains(self, s: impl Into<String>) -> Condition<M, Emulated<kinds::icontains, F>>
    where
        T: TextLookups,
    {
        emulated(self.into_path(), Ok(Lookup::IContains(s.into())))
    }

    /// Matches the regular expression `pattern`. On a backend without native regular
    /// expressions the pattern must be one the field declares (`index(regex = "...")`),
    /// else running the query is an [`ErrorKind::Unsupported`] error naming it.
    pub fn regex(self, pattern: impl Into<String>) -> Condition<M, Emulated<kinds::regex, F>>
    where
        T: TextLookups,
    {
        emulated(self.into_path(), Ok(Lookup::Regex(pattern.into())))
    }
}

impl<M, T, F> Field<M, T, F> {
    /// In year `year` (UTC).
    pub fn year(self, year: i32) -> Condition<M, Emulated<kinds::year, F>>
    where
        T: DateLookups,
    {
        emulated(self.into_path(), Ok(Lookup::Year(year)))
    }

    /// In month `month`, 1 to 12 (UTC); another number is an error when the query runs.
    pub fn month(self, month: u32) -> Condition<M, Emulated<kinds::month, F>>
    where
        T: DateLookups,
    {
        emulated(self.into_path(), in_range("month", month, 1, 12).map(Lookup::Month))
    }

    /// On day `day` of the month, 1 to 31 (UTC).
    pub fn day(self, day: u32) -> Condition<M, Emulated<kinds::day, F>>
    where
        T: DateLookups,
    {
        emulated(self.into_path(), in_range("day", day, 1, 31).map(Lookup::Day))
    }

    /// On day `week_day` of the week, 1 (Sunday) to 7 (Saturday) (UTC).
    pub fn week_day(self, week_day: u32) -> Condition<M, Emulated<kinds::week_day, F>>
    where
        T: DateLookups,
    {
        emulated(self.into_path(), in_range("week_day", week_day, 1, 7).map(Lookup::WeekDay))
    }
}
