//! Code generation: one file per derive, shared field code in `fields`.

pub mod embedded;
mod fields;
pub mod group;
mod inherit;
mod lookups;
pub mod model;
pub mod related;

use proc_macro2::TokenStream;
use quote::quote;

/// The path generated code names runtime items through.
fn nr() -> TokenStream {
    quote!(::nonrel_runtime::__private)
}
