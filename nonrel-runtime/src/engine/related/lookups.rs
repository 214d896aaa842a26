//! Emulated lookups across a `Ref`:
//! `Post::author().join(User::username()).iexact("ANN")`.
//!
//! The condition is on the related model, so it is rewritten onto the index fields the
//! related model declares (`#[field(index(iexact))]` on `User::username`) before it runs,
//! like any condition of that model: the related records are found through their index,
//! never by a scan. It always runs as a join (two steps, or MongoDB's `$lookup`), even where
//! the holder keeps a denormalized copy of the field: a copy has no index fields of its own.

use super::{Join, Joined, Via};
use crate::backend::capability::Runs;
use crate::engine::lookup::{kinds, DateLookups, Emulated, TextLookups};
use crate::plan::Condition;
use crate::schema::model::Model;
use std::marker::PhantomData;

/// The requirement of emulated lookup `L` across `Ref` field `A` on related field `R`: the
/// backend follows the `Ref` ([`Join`]: MongoDB, or a declared copy or in-memory join) and
/// runs `L` on `R` ([`Emulated`]: natively, or because `R` declares it).
///
/// ```
/// use nonrel_runtime::{Database, Key, Model, Ref};
/// #[derive(Model)]
/// struct User { #[field(key)] id: Option<Key<User>>, #[field(index(iexact))] username: String }
/// #[derive(Model)]
/// #[model(join_in_memory(author))]
/// struct Post { #[field(key)] id: Option<Key<Post>>, title: String, author: Ref<User> }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// let db = Database::in_memory()?;
/// let ann = db.save(&mut User { id: None, username: "Ann".into() }).await?;
/// db.save(&mut Post { id: None, title: "Hi".into(), author: ann.into() }).await?;
/// // The users are found through `username`'s `iexact` index, then the posts by `author`.
/// let posts = db.query::<Post>().filter(Post::author().join(User::username()).iexact("ANN")).all().await?;
/// assert_eq!(posts[0].title, "Hi");
/// # Ok(()) }
/// ```
pub struct JoinLookup<A, R, L>(PhantomData<Markers<A, R, L>>);

/// The marker types a [`JoinLookup`] carries (never values).
type Markers<A, R, L> = fn() -> (A, R, L);

impl<B: Runs<Join<A, R>> + Runs<Emulated<L, R>>, A, R, L> Runs<JoinLookup<A, R, L>> for B {}

impl<M: Model, T: Model, V, F, G> Joined<M, T, V, F, G> {
    /// The condition on `M`: `related`, on the related model, run as a join.
    fn emulated<L>(self, related: Condition<T, Emulated<L, G>>) -> Condition<M, JoinLookup<F, G, L>> {
        let mut c = Condition::from_filter(related.filter.map_err(|e| e.with_model(T::DESC.name)));
        c.via = Some(Via { reference: self.reference, related: T::DESC, lookups: T::LOOKUPS });
        c
    }

    /// Equal to `s`, ignoring case (see [`JoinLookup`]).
    pub fn iexact(mut self, s: impl Into<String>) -> Condition<M, JoinLookup<F, G, kinds::iexact>>
    where
        V: TextLookups,
    {
        let c = self.take().iexact(s);
        self.emulated(c)
    }

    /// Starts with `s`, ignoring case.
    pub fn istartswith(mut self, s: impl Into<String>) -> Condition<M, JoinLookup<F, G, kinds::istartswith>>
    where
        V: TextLookups,
    {
        let c = self.take().istartswith(s);
        self.emulated(c)
    }

    /// Ends with `s` (case-sensitive).
    pub fn endswith(mut self, s: impl Into<String>) -> Condition<M, JoinLookup<F, G, kinds::endswith>>
    where
        V: TextLookups,
    {
        let c = self.take().endswith(s);
        self.emulated(c)
    }

    /// Contains `s`, ignoring case.
    pub fn icontains(mut self, s: impl Into<String>) -> Condition<M, JoinLookup<F, G, kinds::icontains>>
    where
        V: TextLookups,
    {
        let c = self.take().icontains(s);
        self.emulated(c)
    }

    /// Matches the regular expression `pattern` (declared on the related field where the
    /// backend has no native regular expressions).
    pub fn regex(mut self, pattern: impl Into<String>) -> Condition<M, JoinLookup<F, G, kinds::regex>>
    where
        V: TextLookups,
    {
        let c = self.take().regex(pattern);
        self.emulated(c)
    }

    /// In year `year` (UTC).
    pub fn year(mut self, year: i32) -> Condition<M, JoinLookup<F, G, kinds::year>>
    where
        V: DateLookups,
    {
        let c = self.take().year(year);
        self.emulated(c)
    }

    /// In month `month`, 1 to 12 (UTC).
    pub fn month(mut self, month: u32) -> Condition<M, JoinLookup<F, G, kinds::month>>
    where
        V: DateLookups,
    {
        let c = self.take().month(month);
        self.emulated(c)
    }

    /// On day `day` of the month, 1 to 31 (UTC).
    pub fn day(mut self, day: u32) -> Condition<M, JoinLookup<F, G, kinds::day>>
    where
        V: DateLookups,
    {
        let c = self.take().day(day);
        self.emulated(c)
    }

    /// On day `week_day` of the week, 1 (Sunday) to 7 (Saturday) (UTC).
    pub fn week_day(mut self, week_day: u32) -> Condition<M, JoinLookup<F, G, kinds::week_day>>
    where
        V: DateLookups,
    {
        let c = self.take().week_day(week_day);
        self.emulated(c)
    }
}
