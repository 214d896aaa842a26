//! Backend capabilities as marker traits (F20).
//!
//! A plan that needs more than the [`Backend`] trait requires one of these as a bound, so a
//! query the chosen backend cannot run is a compile error whose message names the backend,
//! what the plan needs and the declaration that fixes it, rather than a run-time failure.
//!
//! | capability | embedded (redb) | MongoDB |
//! |---|---|---|
//! | [`Joins`] | no: declare a denormalized copy or an in-memory join | yes (`$lookup`) |
//! | [`NativeCaseInsensitive`] | no: declare the lookup's index | yes |
//! | [`NativeRegex`] | no: declare the pattern (`endswith`: declare it) | yes |
//! | [`NativeDateParts`] | no: declare the lookup's index | yes |
//! | [`Transactions`] | yes (write transactions) | yes (session transactions) |
//!
//! Emulated lookups (F14) check these through [`RunsLookup`](crate::lookup::RunsLookup): a
//! backend with the capability runs the lookup natively, the embedded backend runs it when the
//! field declares it ([`Declared`](crate::lookup::Declared), whose message names the fix).

use crate::backend::Backend;
use crate::query::Native;

/// Backend `Self` can run a plan with requirement `R` ([`Condition`](crate::Condition) and
/// [`Order`](crate::Order) carry one; [`Native`] for what every backend runs).
///
/// Each requirement type implements this for the backends that satisfy it, natively (a
/// blanket impl over a capability trait above) or through a declaration on the model (an
/// impl bounded on a trait the derive generates for the declaration). The unmet bound's
/// `on_unimplemented` message names what to declare.
#[diagnostic::on_unimplemented(
    message = "the `{Self}` backend cannot run this query: it needs `{R}`",
    label = "not supported by this backend"
)]
pub trait Runs<R>: Backend {}

impl<B: Backend> Runs<Native> for B {}

/// The backend runs lookups across a `Ref` (JOINs) natively.
#[diagnostic::on_unimplemented(
    message = "the `{Self}` backend cannot join across a `Ref`",
    label = "this query follows a `Ref` to another model",
    note = "declare a denormalized copy on the model, e.g. `#[model(denormalize(author.username))]`, \
            or an in-memory join, or use a backend with joins (MongoDB)"
)]
pub trait Joins: Backend {}

/// The backend matches case-insensitively (`iexact`, `istartswith`, `icontains`) natively.
#[diagnostic::on_unimplemented(
    message = "the `{Self}` backend has no native case-insensitive matching",
    label = "this lookup needs an index on this backend",
    note = "declare the lookup on the field, e.g. `#[field(index(icontains))]`"
)]
pub trait NativeCaseInsensitive: Backend {}

/// The backend matches regular expressions (`regex`, and `endswith`) natively.
#[diagnostic::on_unimplemented(
    message = "the `{Self}` backend has no native regular expressions",
    label = "this regex lookup needs a declared pattern on this backend",
    note = "declare the pattern on the field, e.g. `#[field(index(regex = \"^a.*z$\"))]`"
)]
pub trait NativeRegex: Backend {}

/// The backend extracts date parts (`year`, `month`, `day`, `week_day`) natively.
#[diagnostic::on_unimplemented(
    message = "the `{Self}` backend cannot extract date parts natively",
    label = "this date-part lookup needs an index on this backend",
    note = "declare the lookup on the field, e.g. `#[field(index(month))]`"
)]
pub trait NativeDateParts: Backend {}

/// The backend runs atomic multi-record transactions.
#[diagnostic::on_unimplemented(
    message = "the `{Self}` backend has no transactions",
    label = "`transaction` needs a backend with transactions",
    note = "use the embedded backend or MongoDB (a replica set), or do without the transaction"
)]
pub trait Transactions: crate::transaction::TransactionBackend {}

impl Transactions for crate::Embedded {}

#[cfg(feature = "mongodb")]
mod mongo_impls {
    use super::*;
    use crate::Mongo;

    impl Joins for Mongo {}
    impl NativeCaseInsensitive for Mongo {}
    impl NativeRegex for Mongo {}
    impl NativeDateParts for Mongo {}
    impl Transactions for Mongo {}
}
