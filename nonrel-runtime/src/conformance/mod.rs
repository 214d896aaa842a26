//! The conformance suite: one set of cases every backend must pass (F23).
//!
//! A backend's tests call [`conformance_tests!`](crate::conformance_tests) with an async
//! expression that opens a fresh, empty database; the macro makes one `#[tokio::test]` per
//! case.
//!
//! ```ignore
//! nonrel_runtime::conformance_tests!(nonrel_runtime::Database::in_memory().unwrap());
//! ```

mod cases;
mod cases_cascade;
mod cases_page;
mod cases_tx;
pub mod models;

pub use cases::*;
pub use cases_cascade::*;
pub use cases_page::*;
pub use cases_tx::*;

/// Makes one `#[tokio::test]` per conformance case, each on a database from `$fresh`
/// (an expression, possibly `.await`ing, evaluated once per case).
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@cases $fresh;
            round_trips_every_field_type, assigns_distinct_automatic_keys, natural_keys,
            keys_are_url_safe_and_typed, save_is_an_upsert, insert_rejects_an_existing_key,
            batch_operations, delete_without_fetching, lookups, lookups_agree_with_and_without_index,
            lookups_into_embedded_models_and_lists, ordering_limit_offset, counts,
            unique_violation, unknown_fields_survive_with_extra, unknown_fields_survive_without_extra,
            wrong_shape_is_a_clear_error, bad_values_are_rejected_and_nothing_is_written,
            structured_rows, integrity_check_and_rebuild, large_in_lookups_are_split, atomic_updates,
            conditions_on_one_list_element, only_and_defer);
        $crate::conformance_tests!(@cases $fresh;
            pages_walk_forward_and_back, pages_resume_after_changes, bad_cursors_are_clear_errors,
            declared_cascades_delete_dependents, cascades_follow_trees_and_cycles);
    };
    (@cases $fresh:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let db = $fresh;
            $crate::conformance::$case(&db).await;
        }
    )*};
}

/// Makes one `#[tokio::test]` per transaction case (F9), for backends with the
/// [`Transactions`](crate::capability::Transactions) capability.
#[macro_export]
macro_rules! conformance_transaction_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@cases $fresh;
            concurrent_increments_are_exact, transactions_see_their_writes_and_roll_back,
            transactions_that_keep_conflicting_give_up, transaction_unique_violation_writes_nothing,
            cascades_in_transactions_are_atomic);
    };
}
