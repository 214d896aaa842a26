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
