//! The whole conformance suite on the template backend: one test per case, each on a fresh,
//! empty database.

nonrel_runtime::conformance_tests!(nonrel_runtime::Database::new(nonrel_memory::Memory::new()));
nonrel_runtime::conformance_transaction_tests!(nonrel_runtime::Database::new(nonrel_memory::Memory::new()));
