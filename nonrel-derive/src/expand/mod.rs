//! Code generation from the `ast`: one file per derive, shared field code in `fields`.

pub mod embedded;
mod fields;
pub mod group;
mod inherit;
mod lookups;
pub mod model;
mod related;

use darling::error::Accumulator;
use darling::FromDeriveInput;
use proc_macro2::TokenStream;
use quote::quote;

/// The path generated code names runtime items through.
fn nr() -> TokenStream {
    quote!(::nonrel_runtime::__private)
}

/// The stages every derive runs: attributes, `ast`, checks, generation. On any error, the
/// errors and `fallback`'s stub impls instead of the generated code.
fn derive<I: FromDeriveInput, A>(
    input: TokenStream,
    from_input: fn(I, &mut Accumulator) -> A,
    check: fn(&mut Accumulator, &A),
    expand: fn(&A) -> TokenStream,
    fallback: fn(&syn::DeriveInput) -> TokenStream,
) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let built = I::from_derive_input(&input).and_then(|attrs| {
        let mut cx = darling::Error::accumulator();
        let ast = from_input(attrs, &mut cx);
        check(&mut cx, &ast);
        cx.finish_with(ast)
    });
    match built {
        Ok(ast) => expand(&ast),
        Err(e) => {
            let errors = e.write_errors();
            let stub = fallback(&input);
            quote!(#errors #stub)
        }
    }
}
