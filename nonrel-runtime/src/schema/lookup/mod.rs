//! Declared lookups: what a model declares on its fields (read at run time from
//! [`Model::LOOKUPS`](crate::schema::model::Model::LOOKUPS)), and the index fields computed
//! from a field's value on every save.

pub(crate) mod compute;
pub(crate) mod words;

pub use compute::{encode_date_lookups, encode_text_lookups, DateLookupNames, TextLookupNames};

/// The kinds of emulated lookup, for declarations read at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    /// `iexact`
    IExact,
    /// `istartswith`
    IStartsWith,
    /// `endswith`
    EndsWith,
    /// `icontains`
    IContains,
    /// `regex`
    Regex,
    /// `year`
    Year,
    /// `month`
    Month,
    /// `day`
    Day,
    /// `week_day`
    WeekDay,
    /// `search`: every word of the query is a word of the value (full-text).
    Search,
}

impl LookupKind {
    /// The lookup's name, as users write it.
    pub fn name(self) -> &'static str {
        match self {
            LookupKind::IExact => "iexact",
            LookupKind::IStartsWith => "istartswith",
            LookupKind::EndsWith => "endswith",
            LookupKind::IContains => "icontains",
            LookupKind::Regex => "regex",
            LookupKind::Year => "year",
            LookupKind::Month => "month",
            LookupKind::Day => "day",
            LookupKind::WeekDay => "week_day",
            LookupKind::Search => "search",
        }
    }
}

/// A lookup a model declares on one of its fields (generated into [`Model::LOOKUPS`](crate::schema::model::Model::LOOKUPS)).
///
/// ```
/// use nonrel_runtime::{lookup::LookupKind, Key, Model};
/// #[derive(Model)]
/// struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index(icontains, regex = "^[a-z]+$"))] title: String }
/// assert!(Post::LOOKUPS.iter().any(|l| l.field == "title" && l.kind == LookupKind::IContains));
/// assert!(Post::LOOKUPS.iter().any(|l| l.pattern == Some("^[a-z]+$")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupDesc {
    /// The stored name of the field.
    pub field: &'static str,
    /// The lookup.
    pub kind: LookupKind,
    /// For `regex`, the declared pattern.
    pub pattern: Option<&'static str>,
}
