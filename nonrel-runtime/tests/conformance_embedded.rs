//! The conformance suite on the embedded backend, in memory and on a file.

mod in_memory {
    nonrel_runtime::conformance_tests!(nonrel_runtime::Database::in_memory().expect("in-memory database"));
    nonrel_runtime::conformance_transaction_tests!(nonrel_runtime::Database::in_memory().expect("in-memory database"));
}

mod on_file {
    nonrel_runtime::conformance_tests!({
        let dir = tempfile::tempdir().expect("temp dir");
        let db = nonrel_runtime::Database::open(dir.path().join("conformance.db")).expect("open");
        // The open handle keeps the file; removing the directory now leaves nothing behind.
        drop(dir);
        db
    });
    nonrel_runtime::conformance_transaction_tests!({
        let dir = tempfile::tempdir().expect("temp dir");
        let db = nonrel_runtime::Database::open(dir.path().join("transactions.db")).expect("open");
        drop(dir);
        db
    });
}
