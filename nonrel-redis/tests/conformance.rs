//! The whole conformance suite on Redis: one test per case, each under a fresh key prefix
//! on the server of `REDIS_URL`.

mod support;

nonrel_runtime::conformance_tests!(nonrel_runtime::Database::new(support::fresh().await));
nonrel_runtime::conformance_transaction_tests!(nonrel_runtime::Database::new(support::fresh().await));
