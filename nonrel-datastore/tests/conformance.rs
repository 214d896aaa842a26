//! The whole conformance suite on the Datastore emulator: one test per case, each in a
//! project of its own (a fresh, empty database).

mod support;

nonrel_runtime::conformance_tests!(support::fresh());
nonrel_runtime::conformance_transaction_tests!(support::fresh());
