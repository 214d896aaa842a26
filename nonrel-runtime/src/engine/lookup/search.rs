//! Full-text `search`: a record matches when every word of the query is among the words of
//! the field's value. Words are the runs of alphanumeric characters (`char::is_alphanumeric`)
//! of the lowercased text (`str::to_lowercase`); the query is split the same way.
//!
//! A backend with native full-text search (Elasticsearch) runs it as an analyzed match and can
//! order by relevance ([`Field::relevance`]); elsewhere the field declares
//! `#[field(index(search))]`: every save writes `_ix_<f>_words`, the value's distinct words, and
//! a search reads one index entry per query word. Relevance ordering exists only natively.

use super::{emulated, kinds, Emulated, RunsLookup, TextLookups};
use crate::backend::capability::{Runs, Yes};
use crate::core::value::Value;
use crate::plan::lookup::Lookup;
use crate::plan::Direction;
use crate::plan::{Condition, Field, Filter, Op, Order};
use crate::schema::lookup::words::words;
use std::marker::PhantomData;

/// The ordering path of relevance (a backend with native full-text search sorts by its
/// score, most relevant first); never a field name (fields cannot start with `$`).
pub const RELEVANCE: &str = "$relevance";

/// The filters on the declared index field that answer `search(query)` on `path`: one per
/// query word; a query without words matches every record whose field holds text.
pub(super) fn onto_words(_path: &str, query: &str, on: impl Fn(&str, Op) -> Filter) -> Vec<Filter> {
    let w = words(query);
    if w.is_empty() {
        return vec![on("words", Op::IsNull(false))];
    }
    w.into_iter().map(|w| on("words", Op::Has(Value::String(w)))).collect()
}

/// The requirement of ordering by relevance on field `F`: native full-text search.
pub struct Relevance<F>(PhantomData<fn() -> F>);

/// The backend's declaration for `search` ranks by relevance: only [`Yes`].
#[diagnostic::on_unimplemented(
    message = "the `{B}` backend cannot order by relevance: it has no native full-text search",
    label = "relevance ordering needs a backend with native full-text search",
    note = "`search` runs here through the field's `#[field(index(search))]`, which matches but does not rank; \
            order by a field, or use a backend with native full-text search (Elasticsearch, OpenSearch)"
)]
pub trait RanksByRelevance<B> {}

impl<B> RanksByRelevance<B> for Yes {}

impl<B: RunsLookup<kinds::search>, F> Runs<Relevance<F>> for B where B::Via: RanksByRelevance<B> {}

impl<M, T, F> Field<M, T, F> {
    /// Full-text search: every word of `query` (lowercased, split on characters that are not
    /// letters or digits) is among the words of the field's value. Native on Elasticsearch
    /// and OpenSearch; elsewhere the field must declare `#[field(index(search))]`.
    pub fn search(self, query: impl Into<String>) -> Condition<M, Emulated<kinds::search, F>>
    where
        T: TextLookups,
    {
        emulated(self.into_path(), Ok(Lookup::Search(query.into())))
    }

    /// Orders by the relevance of the query's `search` on this field, most relevant first
    /// (ties by key): only on a backend with native full-text search.
    pub fn relevance(self) -> Order<M, Relevance<F>>
    where
        T: TextLookups,
    {
        Order::new(RELEVANCE.into(), Direction::Desc).require()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_reads_one_entry_per_distinct_word() {
        let on = |suffix: &str, op: Op| Filter { path: format!("_ix_body_{suffix}").into(), op };
        let f = onto_words("body", "Fox fox DOG", on);
        let ops: Vec<&Op> = f.iter().map(|f| &f.op).collect();
        assert_eq!(ops, [&Op::Has(Value::String("fox".into())), &Op::Has(Value::String("dog".into()))]);
        assert_eq!(onto_words("body", "!", on)[0].op, Op::IsNull(false));
    }
}
