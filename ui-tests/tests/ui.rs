//! Compile-pass and compile-fail cases for the derives and the typed query API.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p ui-tests`, then
//! read every changed `.stderr`: each error must point at the user's field, attribute or
//! expression.
//!
//! `tests/pending/` holds cases that do not behave as they should yet (each file says why and
//! where it belongs); they are not run. Move one into `pass/` or `fail/<topic>/` once fixed.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*/*.rs");
}

/// Plans the Redis backend cannot run (lookups across a `Ref` without a declaration,
/// `icontains` and `regex` without their index) fail to compile, naming `Redis` and the fix.
#[test]
fn redis() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/redis/*.rs");
}

/// Plans the Datastore backend (`nonrel-datastore`) cannot run (a lookup across a `Ref`
/// without a declared join or copy, an emulated lookup the joined field does not declare)
/// fail to compile, naming the backend and the fix.
#[test]
fn datastore() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/datastore/*.rs");
}

/// Compile-fail cases on the Elasticsearch backend (`nonrel-elasticsearch`): what it lacks
/// (transactions, joins) is a compile error naming the backend and the fix.
#[test]
fn elasticsearch() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/elasticsearch/*.rs");
}

/// Compile-fail cases of full-text `search` on the embedded backend: an undeclared field and
/// relevance ordering (native full-text search only) do not compile, and the errors name the fix.
#[test]
fn search() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/search/*.rs");
}

/// Compile-fail cases of `#[field(serde)]` fields (feature `serde`): their shape is unknown,
/// so lookups other than equality do not compile, and the errors say why.
#[test]
fn serde() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/serde/*.rs");
}
