//! The conformance suite on the MongoDB backend with every other JOIN and related-selection
//! strategy than the defaults (which `conformance_mongo` runs): each form gives the same
//! results. The long-running harnesses (differential, maintenance beside writes) run once, in
//! `conformance_mongo`: they do not exercise JOIN strategies.

mod support;

use nonrel_runtime::mongo::{JoinStrategy, RelatedStrategy};
use nonrel_runtime::{Database, Mongo};

/// A fresh database whose handle runs joins and related selections as given.
async fn fresh(joins: JoinStrategy, related: RelatedStrategy) -> Database<Mongo> {
    let db = support::fresh_mongo().await;
    Database::new(db.backend().clone().with_join_strategy(joins).with_related_strategy(related))
}

/// Joins by `$lookup` on the parent collection; related records by key reads.
mod lookup_from_parent {
    use super::*;
    nonrel_runtime::conformance_tests!(without_harnesses: fresh(JoinStrategy::Lookup, RelatedStrategy::KeyRead).await);
}

/// Two-step joins; related records by `$lookup`.
mod two_step_and_lookup {
    use super::*;
    nonrel_runtime::conformance_tests!(without_harnesses: fresh(JoinStrategy::TwoStep, RelatedStrategy::Lookup).await);
}

/// Two-step joins with related records by key reads (the forms before `$lookup`).
mod two_step_and_key_reads {
    use super::*;
    nonrel_runtime::conformance_tests!(without_harnesses: fresh(JoinStrategy::TwoStep, RelatedStrategy::KeyRead).await);
}
