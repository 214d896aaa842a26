//! The conformance suite: one set of cases every backend must pass.
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
mod cases_covering;
mod cases_depth;
mod cases_diff;
mod cases_gaps;
mod cases_inc;
mod cases_joins;
mod cases_literal;
mod cases_lookups;
mod cases_maintenance;
mod cases_order;
mod cases_page;
mod cases_parse;
mod cases_plans;
mod cases_prefetch;
mod cases_related;
mod cases_seek_values;
mod cases_serial;
mod cases_sort_values;
mod cases_tx;
mod cases_unknown;
pub mod models;

pub use cases::*;
pub use cases_cascade::*;
pub use cases_covering::*;
pub use cases_depth::*;
pub use cases_diff::*;
pub use cases_gaps::*;
pub use cases_inc::*;
pub use cases_joins::*;
pub use cases_literal::*;
pub use cases_lookups::*;
pub use cases_maintenance::*;
pub use cases_order::*;
pub use cases_page::*;
pub use cases_parse::*;
pub use cases_plans::*;
pub use cases_prefetch::*;
pub use cases_related::*;
pub use cases_seek_values::*;
pub use cases_serial::*;
pub use cases_sort_values::*;
pub use cases_tx::*;
pub use cases_unknown::*;

/// Makes one `#[tokio::test]` per conformance case, each on a database from `$fresh`
/// (an expression, possibly `.await`ing, evaluated once per case).
///
/// `conformance_tests!(without_harnesses: fresh)` leaves out the long-running cases that no
/// JOIN or related selection takes part in (the differential harness, maintenance beside live
/// writes, and the ordering cases' page walks), for a second run of the suite on a backend that
/// already runs them under other settings (MongoDB's JOIN strategies).
#[macro_export]
macro_rules! conformance_tests {
    (without_harnesses: $fresh:expr) => {
        $crate::conformance_tests!(@short $fresh);
    };
    ($fresh:expr) => {
        $crate::conformance_tests!(@short $fresh);
        $crate::conformance_tests!(@cases $fresh; differential_operations,
            rebuild_beside_writes_undoes_nothing, integrity_check_beside_writes,
            copy_refresh_beside_writes_undoes_nothing, cascades_beside_writes_undo_nothing,
            copies_never_end_older_than_their_record);
        $crate::conformance_tests!(@cases $fresh;
            results_without_order_by_come_in_key_order, ties_on_an_ordering_are_broken_by_key,
            string_and_object_id_keys_order_alike, negative_zero_and_nan_compare_as_on_mongodb,
            ordering_by_a_list_uses_its_smallest_or_largest_element,
            decimals_compare_exactly_with_other_numbers, documents_sort_and_page_in_mongodb_order,
            document_ranges_follow_mongodb_order);
    };
    (@short $fresh:expr) => {
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
            field_groups_are_stored_flat, subclass_queries_see_only_their_records,
            saving_through_the_base_keeps_subclass_fields, unknown_class_loads_as_the_base,
            models_to_json_and_back, dump_and_load_round_trip, malformed_dump_lines_load_nothing);
        $crate::conformance_tests!(@cases $fresh;
            emulated_text_lookups, emulated_date_lookups, emulated_lookups_follow_saves_and_updates,
            emulated_lookup_bad_values);
        $crate::conformance_tests!(@cases $fresh;
            joins_on_denormalized_copies, denormalized_copies_follow_their_records,
            integrity_check_reports_stale_copies, rebuild_backfills_new_copies, two_step_joins,
            select_related_loads_related_records);
        $crate::conformance_tests!(@cases $fresh;
            pages_walk_forward_and_back, pages_resume_after_changes, bad_cursors_are_clear_errors,
            declared_cascades_delete_dependents, cascades_follow_trees_and_cycles);
        $crate::conformance_tests!(@cases $fresh;
            joins_and_related_compose_with_the_query, several_related_selections);
        $crate::conformance_tests!(@cases $fresh; covering_indexes_answer_with_current_records);
        $crate::conformance_tests!(@cases $fresh;
            deleted_related_records_leave_dangling_copies, subclass_deletes_only_its_own_records,
            polymorphic_queries_honour_only_and_defer, unique_fields_without_a_value_never_clash);
        $crate::conformance_tests!(@cases $fresh;
            select_related_follows_optional_refs, prefetch_related_follows_lists_of_refs,
            prefetch_reverse_groups_referring_records, every_kind_of_reference_on_one_query);
        $crate::conformance_tests!(@cases $fresh; every_query_path_reads_declared_lookup_indexes);
        $crate::conformance_tests!(@cases $fresh; list_values_through_indexes,
            ordering_twice_by_one_field_keeps_the_first);
        $crate::conformance_tests!(@cases $fresh; operator_like_values_are_literal, updates_store_operator_like_values_literally, text_needles_are_literal, unreadable_map_keys_are_refused);
        $crate::conformance_tests!(@cases $fresh; empty_string_keys_are_refused, dump_records_that_do_not_decode_load_nothing, damaged_bson_in_dump_lines_is_a_bad_line);
        $crate::conformance_tests!(@cases $fresh; inc_counts_null_as_missing, inc_of_a_non_number_is_a_clear_error,
            unknown_fields_survive_at_every_depth, unknown_fields_survive_in_polymorphic_models,
            embedded_extra_fields_hold_their_level);
        $crate::conformance_tests!(@cases $fresh; list_ranges_match_each_bound_on_any_element);
        $crate::conformance_tests!(@cases $fresh; records_nested_too_deep_are_refused_on_save, updates_nested_too_deep_are_refused);
    };
    (@cases $fresh:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let db = $fresh;
            $crate::conformance::$case(&db).await;
        }
    )*};
}

/// Makes one `#[tokio::test]` per transaction case, for backends with the
/// [`Transactions`](crate::backend::capability::Transactions) capability.
#[macro_export]
macro_rules! conformance_transaction_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@cases $fresh;
            concurrent_increments_are_exact, transactions_see_their_writes_and_roll_back,
            transactions_that_keep_conflicting_give_up, transaction_unique_violation_writes_nothing,
            cascades_in_transactions_are_atomic, transactions_keep_denormalized_copies,
            subclass_deletes_in_transactions);
        $crate::conformance_tests!(@cases $fresh; transaction_queries_read_declared_lookup_indexes);
        $crate::conformance_tests!(@cases $fresh; differential_transactions);
        $crate::conformance_tests!(@cases $fresh; transactions_refuse_records_nested_too_deep);
    };
}
