//! The conformance suite on a Redis cluster (`REDIS_CLUSTER_URLS`): every collection lives in
//! one hash slot, so each write is still one atomic script on the node that owns it.
//! The suite runs on the default layout (a hash tag per collection), the transaction cases on
//! the one-slot layout.

mod support;

nonrel_runtime::conformance_tests!(nonrel_runtime::Database::new(support::fresh_cluster().await));
// Transactions span collections: the cases run on the one-slot layout.
nonrel_runtime::conformance_transaction_tests!(nonrel_runtime::Database::new(
    support::fresh_cluster().await.in_one_slot()
));
