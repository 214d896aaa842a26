//! The whole conformance suite on Elasticsearch/OpenSearch: one test per case, each on a
//! fresh set of indexes.

mod support;

nonrel_runtime::conformance_tests!(support::fresh().await);
