//! `#[derive(Fields)]`: an abstract group of fields, and the model-side code that flattens
//! groups.

use super::{fields, nr};
use crate::ast::{Field, Fields, Role};
use crate::check;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

/// Entry point on token streams, so tests can drive it.
pub fn derive(input: TokenStream) -> TokenStream {
    super::derive(input, Fields::from_input, check::fields, expand, fallback)
}

/// Stub impls emitted beside errors, so models flattening this group report nothing more.
fn fallback(ast: &syn::DeriveInput) -> TokenStream {
    if !ast.generics.params.is_empty() {
        return quote!();
    }
    let nr = nr();
    let ident = &ast.ident;
    let failed = quote!(#nr::Err(#nr::Error::new(#nr::ErrorKind::Unsupported, "the Fields derive failed")));
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #nr::FieldGroup for #ident {
                const FIELDS: &'static [#nr::FieldDesc] = &[];
                const INDEXES: &'static [#nr::IndexDesc] = &[];
                fn encode_fields(&self, _: &mut ::std::vec::Vec<u8>) -> #nr::Result<()> { #failed }
                fn decode_fields(_: &[u8]) -> #nr::Result<Self> { #failed }
            }
        };
    }
}

fn expand(input: &Fields) -> TokenStream {
    let nr = nr();
    let (ident, all) = (&input.ident, &input.fields);
    let encode = fields::encode_elements(all, quote!());
    let decode = fields::decode_loop(all, quote!(#nr::group_elements(__raw)), quote!(), quote!());
    let construct = fields::constructor(all, None);
    let field_descs = fields::field_descs(all);
    let indexes = fields::field_index_descs(all);
    let descriptors = descriptor_trait(input, all);
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #nr::FieldGroup for #ident {
                const FIELDS: &'static [#nr::FieldDesc] = #field_descs;
                const INDEXES: &'static [#nr::IndexDesc] = &[#indexes];

                fn encode_fields(&self, __out: &mut ::std::vec::Vec<u8>) -> #nr::Result<()> {
                    #encode
                    #nr::Ok(())
                }

                fn decode_fields(__raw: &[u8]) -> #nr::Result<Self> {
                    #decode
                    #nr::Ok(Self { #construct })
                }
            }
        };

        #descriptors
    }
}

/// `trait <Group>Fields`: one descriptor function per group field, for every model that
/// flattens the group.
fn descriptor_trait(input: &Fields, all: &[Field]) -> TokenStream {
    let nr = nr();
    let (ident, vis) = (&input.ident, &input.vis);
    let name = format_ident!("{}Fields", ident);
    let stored: Vec<&Field> = all.iter().filter(|f| f.is_stored()).collect();
    let sigs = stored.iter().map(|f| {
        let (field, ty) = (&f.ident, &f.stored);
        let doc = format!("The descriptor of field `{}`, for filters and ordering.", f.name);
        quote_spanned!(ty.span()=> #[doc = #doc] fn #field() -> <#ty as #nr::Describe>::Path<Self>;)
    });
    let bodies = stored.iter().map(|f| {
        let (field, ty, stored_name) = (&f.ident, &f.stored, &f.name);
        quote_spanned! {ty.span()=>
            fn #field() -> <#ty as #nr::Describe>::Path<Self> {
                <#ty as #nr::Describe>::describe(#nr::Cow::Borrowed(#stored_name))
            }
        }
    });
    let doc = format!("The descriptors of the fields of group [`{ident}`], for every model that flattens it.");
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis trait #name: ::core::marker::Sized {
            #(#sigs)*
        }

        #[automatically_derived]
        impl<__M: #nr::Flattens<#ident>> #name for __M {
            #(#bodies)*
        }
    }
}

/// The flattened fields of a model.
pub fn flattened(all: &[Field]) -> Vec<&Field> {
    all.iter().filter(|f| f.role == Role::Flattened).collect()
}

/// Buffers for the flattened groups' elements, declared before the decode loop.
pub fn buffers(all: &[Field]) -> TokenStream {
    let decls = flattened(all).into_iter().map(|f| {
        let buf = fields::group_buffer(f);
        quote!(let mut #buf: ::std::vec::Vec<u8> = ::std::vec::Vec::new();)
    });
    quote!(#(#decls)*)
}

/// Decode-loop arms collecting each group's elements into its buffer.
pub fn arms(all: &[Field]) -> TokenStream {
    let nr = nr();
    let arms = flattened(all).into_iter().map(|f| {
        let (buf, ty) = (fields::group_buffer(f), &f.ty);
        quote_spanned!(ty.span()=> __n if <#ty as #nr::FieldGroup>::knows(__n) => #buf.extend_from_slice(__el.raw),)
    });
    quote!(#(#arms)*)
}

/// `impl Flattens<Group> for Model` for each flattened group.
pub fn flattens_impls(model: &syn::Ident, all: &[Field]) -> TokenStream {
    let nr = nr();
    let impls = flattened(all).into_iter().map(|f| {
        let ty = &f.ty;
        quote_spanned!(ty.span()=> #[automatically_derived] impl #nr::Flattens<#ty> for #model {})
    });
    quote!(#(#impls)*)
}
