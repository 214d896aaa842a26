//! The conformance suite on the MongoDB backend, against the server the test command started.

mod support;

nonrel_runtime::conformance_tests!(support::fresh_mongo().await);

mod transactions {
    use super::support;
    nonrel_runtime::conformance_transaction_tests!(support::fresh_mongo().await);
}
