//! Derive macros for nonrel: `#[derive(Model)]` and `#[derive(Embedded)]`.
//!
//! Use them through `nonrel_runtime`, which re-exports both; the attributes they read are
//! documented there.

mod attr;
mod check;
mod expand;

use proc_macro::TokenStream;

/// Derives `nonrel_runtime::Model` for a struct with named fields.
///
/// Struct attribute `#[model(...)]`: `collection = "name"` (default: the struct name in
/// snake case with an `s`), `index = "path.into.embedded"` (repeatable) for an index on a path
/// inside embedded models. Field attribute `#[field(...)]`: `key`, `rename = "name"`,
/// `index`, `unique`, `skip`, `default` or `default = "path::to::fn"`, `extra`.
#[proc_macro_derive(Model, attributes(model, field))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    expand::model::derive(input.into()).into()
}

/// Derives the conversions and field descriptors of an embedded model (a struct stored
/// inside another model's document). Field attributes as for `Model`, without `key`,
/// `index` and `unique`.
#[proc_macro_derive(Embedded, attributes(field))]
pub fn derive_embedded(input: TokenStream) -> TokenStream {
    expand::embedded::derive(input.into()).into()
}
