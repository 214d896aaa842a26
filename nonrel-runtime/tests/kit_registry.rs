//! The conformance kit's models stay out of a program's model registry until the kit's
//! cases run, so a build that enables the `conformance` feature anywhere (a workspace's
//! unified features) never dumps, checks or names them as the program's own.

use nonrel_runtime::conformance::models::Post as KitPost;
use nonrel_runtime::{registered_models, Key, Model};

#[derive(Model)]
struct Ledger {
    #[field(key)]
    id: Option<Key<Ledger>>,
    total: i64,
}

#[test]
fn kit_models_join_the_registry_only_while_the_kit_runs() {
    let same =
        |a: &nonrel_runtime::ModelDesc, b: &nonrel_runtime::ModelDesc| a.name == b.name && a.collection == b.collection;
    let kit = || registered_models().any(|m| same(m, KitPost::DESC));
    assert!(registered_models().any(|m| same(m, Ledger::DESC)), "the program's own model is registered");
    assert!(!kit(), "the kit's models are not the program's");
    assert!(!registered_models().any(|m| m.name == "Post"), "no `Post` but the program's own");
    nonrel_runtime::conformance::use_kit_models();
    assert!(kit(), "the kit's cases see their models");
}
