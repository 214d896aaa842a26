//! Model code for inheritance: descriptions that include flattened groups and the
//! class list, and the impls of polymorphic bases and subclasses.

use super::{group, nr};
use crate::ast::{Field, Model};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

/// The model's fields and indexes: `(items, fields expression, indexes expression)`. With
/// flattened groups or a class list, they are const arrays built from the parts (the derive
/// cannot see a group's fields); otherwise the model's own lists.
pub fn desc_parts(
    input: &Model,
    all: &[Field],
    own_fields: TokenStream,
    own_indexes: TokenStream,
) -> (TokenStream, TokenStream, TokenStream) {
    let groups: Vec<&syn::Type> = group::flattened(all).into_iter().map(|f| &f.ty).collect();
    if groups.is_empty() && input.extends.is_none() {
        return (quote!(), own_fields, own_indexes);
    }
    let nr = nr();
    let (class_fields, class_indexes) = match input.extends {
        Some(_) => (
            quote!(&[#nr::FieldDesc { name: "_class", rust_name: "_class", ty: "class list", shape: #nr::Shape::Plain }]),
            quote!(&[#nr::IndexDesc { path: "_class", unique: false, covering: false, counted: false }]),
        ),
        None => (quote!(&[]), quote!(&[])),
    };
    let msg = format!(
        "`{}` stores two fields under one name: a flattened group's field clashes with another field",
        input.ident
    );
    let items = quote! {
        const __OWN_FIELDS: &[#nr::FieldDesc] = #own_fields;
        const __CLASS_FIELDS: &[#nr::FieldDesc] = #class_fields;
        const __FIELDS: [#nr::FieldDesc; __OWN_FIELDS.len() #(+ <#groups as #nr::FieldGroup>::FIELDS.len())* + __CLASS_FIELDS.len()] =
            #nr::concat_fields(&[__OWN_FIELDS, #(<#groups as #nr::FieldGroup>::FIELDS,)* __CLASS_FIELDS]);
        const __OWN_INDEXES: &[#nr::IndexDesc] = #own_indexes;
        const __CLASS_INDEXES: &[#nr::IndexDesc] = #class_indexes;
        const __INDEXES: [#nr::IndexDesc; __OWN_INDEXES.len() #(+ <#groups as #nr::FieldGroup>::INDEXES.len())* + __CLASS_INDEXES.len()] =
            #nr::concat_indexes(&[__OWN_INDEXES, #(<#groups as #nr::FieldGroup>::INDEXES,)* __CLASS_INDEXES]);
        const _: () = ::core::assert!(#nr::distinct_names(&__FIELDS), #msg);
    };
    (items, quote!(&__FIELDS), quote!(&__INDEXES))
}

/// The collection expression: a subclass lives in its base's.
pub fn collection(input: &Model, own: &str) -> TokenStream {
    match &input.extends {
        Some(base) => quote!(<#base as ::nonrel_runtime::__private::Model>::DESC.collection),
        None => quote!(#own),
    }
}

fn class_desc(input: &Model) -> Option<TokenStream> {
    let nr = nr();
    let base = input.extends.as_ref()?;
    let name = input.ident.to_string();
    Some(quote!(#nr::ClassDesc { base: <#base as #nr::Model>::DESC.name, name: #name }))
}

/// `const CLASS` of a subclass's `Model` impl.
pub fn class_const(input: &Model) -> TokenStream {
    let nr = nr();
    match class_desc(input) {
        Some(desc) => quote!(const CLASS: #nr::Option<&'static #nr::ClassDesc> = #nr::Some(&#desc);),
        None => quote!(),
    }
}

/// Statements writing a subclass's class list first in its document.
pub fn encode_prefix(input: &Model) -> TokenStream {
    let nr = nr();
    match class_desc(input) {
        Some(desc) => quote!(#nr::encode_class(__out, &#desc)?;),
        None => quote!(),
    }
}

/// Decode-loop arms: the class list (written by the derive, not a field) and group elements.
pub fn decode_arms(input: &Model, all: &[Field]) -> TokenStream {
    let class = input.extends.as_ref().map(|_| quote!(b"_class" => {},));
    let groups = group::arms(all);
    quote!(#class #groups)
}

/// Impls after the model's: group descriptors, base or subclass markers, the subclass's
/// compile-time checks and registration.
pub fn impls(input: &Model, all: &[Field]) -> TokenStream {
    let nr = nr();
    let ident = &input.ident;
    let flattens = group::flattens_impls(ident, all);
    let base_impl =
        input.polymorphic.is_some().then(|| quote!(#[automatically_derived] impl #nr::PolymorphicBase for #ident {}));
    let subclass = input.extends.as_ref().map(|base| {
        let name = ident.to_string();
        let base_name = quote!(#base).to_string().replace(' ', "");
        let covers = format!(
            "`{name}` extends `{base_name}` but does not store every field of it: \
             declare the base's fields in `{name}` too (share them through a #[derive(Fields)] group)"
        );
        let same_key = format!("`{name}` and its base `{base_name}` must have the same kind of key");
        let extends = quote_spanned!(base.span()=> #[automatically_derived] impl #nr::Extends<#base> for #ident {});
        quote! {
            #extends
            const _: () = ::core::assert!(
                #nr::covers(<#ident as #nr::Model>::DESC.fields, <#base as #nr::Model>::DESC.fields), #covers);
            const _: () = ::core::assert!(
                <#ident as #nr::Model>::DESC.key.kind as u8 == <#base as #nr::Model>::DESC.key.kind as u8, #same_key);
            #nr::inventory::submit! {
                #nr::ClassRegistration {
                    base: #nr::type_id_of::<#base>,
                    collection: <#base as #nr::Model>::DESC.collection,
                    name: #name,
                    decode: #nr::decode_boxed::<#ident>,
                }
            }
        }
    });
    quote!(#flattens #base_impl #subclass)
}
