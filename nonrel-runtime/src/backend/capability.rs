//! Backend capabilities: what a backend declares beyond the [`Backend`] trait.
//!
//! A backend declares each capability as an associated type of [`Backend`], [`Yes`] or [`No`],
//! and offers transactions by implementing [`Transactions`]. A plan that needs more than every
//! backend runs carries a requirement type `R`, and the query builder takes
//! [`Runs<R>`](Runs) as a bound. Every `Runs` impl is a blanket impl over those declarations,
//! never an impl for one backend, so a backend written in another crate gets the same checks:
//! a query the chosen backend cannot run is a compile error whose message names the backend,
//! what the plan needs and the declaration that fixes it.
//!
//! | declaration | embedded (redb) | MongoDB |
//! |---|---|---|
//! | [`Backend::Joins`] | [`No`]: declare a denormalized copy or an in-memory join | [`Yes`] (`$lookup`) |
//! | [`Backend::CaseInsensitive`] | [`No`]: declare the lookup's index | [`Yes`] |
//! | [`Backend::Regex`] | [`No`]: declare the pattern (`endswith`: declare it) | [`Yes`] |
//! | [`Backend::DateParts`] | [`No`]: declare the lookup's index | [`Yes`] |
//! | [`Transactions`] | implemented (write transactions) | implemented (session transactions) |
//! | [`Backend::FullText`] (full-text `search`) | [`No`]: declare `index(search)` | [`No`]: declare `index(search)` |
//! | [`Backend::MAX_IN_VALUES`] | unlimited | 10,000 |
//! | [`Backend::query_seek`] | index ranges | range filters |
//!
//! A lookup the backend does not run natively ([`No`]) runs through the field's declared
//! index ([`Declared`](crate::engine::lookup::Declared), whose message names the fix); a join across
//! a `Ref` through a declared copy or in-memory join
//! ([`DeclaredJoin`](crate::DeclaredJoin)).
//!
//! ```
//! use nonrel_runtime::capability::{No, Support, Yes};
//! use nonrel_runtime::Backend;
//! assert!(!<<nonrel_runtime::Redb as Backend>::Joins as Support>::NATIVE);
//! assert!(<Yes as Support>::NATIVE && !<No as Support>::NATIVE);
//! ```

use crate::backend::{Backend, PutItem, Row, WriteMode};
use crate::error::Result;
use crate::plan::{Native, Plan};
use crate::schema::key::KeyValue;
use crate::schema::lookup::LookupKind;
use crate::schema::model::ModelDesc;
use std::future::Future;

/// A capability's declared value: [`Yes`] or [`No`].
pub trait Support: sealed::Sealed + Send + Sync + 'static {
    /// Whether the backend does it natively.
    const NATIVE: bool;
}

/// The backend does it natively.
#[derive(Debug)]
pub enum Yes {}

/// The backend does not do it natively: the runtime emulates it through what the model
/// declares.
#[derive(Debug)]
pub enum No {}

impl Support for Yes {
    const NATIVE: bool = true;
}

impl Support for No {
    const NATIVE: bool = false;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Yes {}
    impl Sealed for super::No {}
}

/// Backend `Self` can run a plan with requirement `R` ([`Condition`](crate::Condition) and
/// [`Order`](crate::Order) carry one; [`Native`] for what every backend runs).
///
/// Each requirement type implements this for every backend whose declarations satisfy it (a
/// blanket impl over [`Support`] and the traits the derive generates for declarations on the
/// model). The unmet bound's `on_unimplemented` message names what to declare.
#[diagnostic::on_unimplemented(
    message = "the `{Self}` backend cannot run this query: it needs `{R}`",
    label = "not supported by this backend"
)]
pub trait Runs<R>: Backend {}

impl<B: Backend> Runs<Native> for B {}

/// Transactions: what a backend implements to offer
/// [`Database::transaction`](crate::api::database::Database::transaction). One `Session` is one
/// attempt. An operation or a commit that meets a concurrent write returns an error of kind
/// [`ErrorKind::Conflict`](crate::error::ErrorKind::Conflict), and the runtime retries.
///
/// ```
/// use nonrel_runtime::capability::Transactions;
/// fn offers_transactions<B: Transactions>() {}
/// offers_transactions::<nonrel_runtime::Redb>();
/// fn session_is_send<B: Transactions>() -> impl Send { std::marker::PhantomData::<B::Session> }
/// let _ = session_is_send::<nonrel_runtime::Redb>();
/// ```
#[diagnostic::on_unimplemented(
    message = "the `{Self}` backend has no transactions",
    label = "`transaction` needs a backend with transactions",
    note = "use the embedded backend or MongoDB (a replica set), or do without the transaction"
)]
pub trait Transactions: Backend {
    /// The state of one attempt.
    type Session: Send + 'static;

    /// Starts an attempt.
    fn begin(&self) -> impl Future<Output = Result<Self::Session>> + Send;

    /// Reads one record inside the attempt (seeing the attempt's own writes).
    fn tx_get(
        &self,
        session: &mut Self::Session,
        model: &'static ModelDesc,
        key: KeyValue,
    ) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// Writes one record inside the attempt; returns its key (assigned when absent).
    fn tx_put(
        &self,
        session: &mut Self::Session,
        model: &'static ModelDesc,
        item: PutItem,
        mode: WriteMode,
    ) -> impl Future<Output = Result<KeyValue>> + Send;

    /// Deletes records by key inside the attempt; returns how many existed.
    fn tx_delete(
        &self,
        session: &mut Self::Session,
        model: &'static ModelDesc,
        keys: Vec<KeyValue>,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Runs a query inside the attempt (seeing the attempt's own writes).
    fn tx_query(
        &self,
        session: &mut Self::Session,
        model: &'static ModelDesc,
        plan: Plan,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send;

    /// Commits the attempt: all of its writes, or none and an error.
    fn commit(&self, session: Self::Session) -> impl Future<Output = Result<()>> + Send;

    /// Drops the attempt; none of its writes are kept.
    fn abort(&self, session: Self::Session) -> impl Future<Output = ()> + Send;
}

/// Whether backend `B` runs lookup `kind` natively (its declaration of the capability the
/// lookup needs); otherwise it runs only through a declared index.
pub(crate) fn runs_natively<B: Backend>(kind: LookupKind) -> bool {
    match kind {
        LookupKind::IExact | LookupKind::IStartsWith | LookupKind::IContains => <B::CaseInsensitive as Support>::NATIVE,
        LookupKind::EndsWith | LookupKind::Regex => <B::Regex as Support>::NATIVE,
        LookupKind::Year | LookupKind::Month | LookupKind::Day | LookupKind::WeekDay => {
            <B::DateParts as Support>::NATIVE
        }
        LookupKind::Search => <B::FullText as Support>::NATIVE,
    }
}
