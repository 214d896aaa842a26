//! Code shared by both derives: field encoding and decoding, descriptions and descriptors.

use super::nr;
use crate::ast::{DefaultValue, Field, Role};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

/// Statements writing every stored field and the kept unknown fields into `__out`.
/// `derived` writes fields computed from the others (the index fields of declared lookups).
pub fn encode_body(fields: &[Field], derived: TokenStream) -> TokenStream {
    encode_body_with(quote!(), fields, derived)
}

/// [`encode_body`] with `prefix` statements writing elements first (a class list).
pub fn encode_body_with(prefix: TokenStream, fields: &[Field], derived: TokenStream) -> TokenStream {
    let nr = nr();
    let elements = encode_elements(fields, derived);
    quote! {
        let __start = #nr::begin_document(__out);
        #prefix
        #elements
        #nr::end_document(__out, __start)
    }
}

/// Statements writing the stored fields, flattened groups and kept unknown fields as
/// elements (no document framing).
pub fn encode_elements(fields: &[Field], derived: TokenStream) -> TokenStream {
    let nr = nr();
    let flattened = fields.iter().filter(|f| f.role == Role::Flattened).map(|f| {
        let ident = &f.ident;
        quote_spanned!(f.ty.span()=> #nr::FieldGroup::encode_fields(&self.#ident, __out)?;)
    });
    let stored = fields.iter().filter(|f| f.is_stored()).map(|f| {
        let ident = &f.ident;
        let name = &f.name;
        let cname = syn::LitByteStr::new(format!("{name}\0").as_bytes(), Span::call_site());
        match f.serde {
            Some(_) => quote_spanned!(f.ty.span()=> #nr::encode_serde_field(&self.#ident, #cname, #name, __out)?;),
            None => quote_spanned!(f.ty.span()=> #nr::encode_field(&self.#ident, #cname, #name, __out)?;),
        }
    });
    let extra = fields.iter().filter(|f| f.role == Role::Extra).map(|f| {
        let ident = &f.ident;
        quote_spanned!(f.ty.span()=> #nr::extra_write(&self.#ident, __out);)
    });
    quote! {
        #(#stored)*
        #(#flattened)*
        #derived
        #(#extra)*
    }
}

fn slot(f: &Field) -> syn::Ident {
    format_ident!("__f_{}", f.ident.to_string().trim_start_matches("r#"))
}

/// A loop over `elements` filling one slot per stored field; `key_arm` handles `_id`.
/// `lead` reads elements written before the fields (a model's `_id`) from `__elements`.
pub fn decode_loop(fields: &[Field], elements: TokenStream, lead: TokenStream, key_arm: TokenStream) -> TokenStream {
    let nr = nr();
    let slots = fields.iter().filter(|f| f.is_stored()).map(|f| {
        let (slot, ty) = (slot(f), &f.stored);
        quote_spanned!(ty.span()=> let mut #slot: #nr::Option<#ty> = #nr::None;)
    });
    let arms = fields.iter().filter(|f| f.is_stored()).map(|f| {
        let slot = slot(f);
        let name = &f.name;
        let pattern = syn::LitByteStr::new(name.as_bytes(), Span::call_site());
        quote_spanned!(f.ty.span()=> #pattern => #slot = #nr::Some(#nr::decode_field(&__el, #name)?),)
    });
    // The fields in the order the encoder writes them, each taken where it is expected
    // without searching for its name's end; at the first element that is not the next
    // field, the loop below reads the rest as before (by name, the last of a name winning).
    let in_order = fields.iter().filter(|f| f.is_stored()).map(|f| {
        let (slot, ty) = (slot(f), &f.stored);
        let name = &f.name;
        let cname = syn::LitByteStr::new(format!("{name}\0").as_bytes(), Span::call_site());
        quote_spanned!(f.ty.span()=>
            match #nr::decode_next::<#ty>(&mut __elements, #cname, #name) {
                #nr::Some(__value) => #slot = #nr::Some(__value?),
                #nr::None => break '__in_order,
            }
        )
    });
    let in_order: Vec<TokenStream> = in_order.collect();
    // No label, and no `mut`, that nothing would use (generated code warns of nothing).
    let read_in_order = match (in_order.is_empty(), lead.is_empty()) {
        (true, true) => quote!(let __elements = #elements;),
        (true, false) => quote!(let mut __elements = #elements; #lead),
        (false, _) => quote! {
            let mut __elements = #elements;
            #lead
            '__in_order: {
                #(#in_order)*
            }
        },
    };
    let has_extra = fields.iter().any(|f| f.role == Role::Extra);
    let (extra_decl, other_arm) = if has_extra {
        (
            quote!(let mut __extra = <#nr::Extra as ::core::default::Default>::default();),
            // Index fields of emulated lookups are recomputed on save, never kept as unknown.
            quote!(_ if __el.name.starts_with(b"_ix_") => {} _ => #nr::extra_push(&mut __extra, __el.raw),),
        )
    } else {
        (quote!(), quote!(_ => {}))
    };
    quote! {
        #(#slots)*
        #extra_decl
        #read_in_order
        for __el in __elements {
            let __el = __el?;
            match __el.name {
                #(#arms)*
                #key_arm
                #other_arm
            }
        }
    }
}

/// The field initialisers of `Self { ... }` after [`decode_loop`]; `key` builds the key field.
pub fn constructor(fields: &[Field], key: Option<TokenStream>) -> TokenStream {
    let nr = nr();
    let inits = fields.iter().map(|f| {
        let ident = &f.ident;
        let ty = &f.ty;
        let value = match f.role {
            Role::Key => key.clone().unwrap_or_default(),
            Role::Extra => quote_spanned!(ty.span()=> __extra),
            Role::Flattened => {
                let buf = group_buffer(f);
                quote_spanned!(ty.span()=> <#ty as #nr::FieldGroup>::decode_fields(&#buf)?)
            }
            Role::Skipped => quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default()),
            Role::Stored => {
                let (raw, name) = (slot(f), &f.name);
                // A field stored through serde is read as `Serde<T>` and unwrapped.
                let (unwrap, slot) = match f.serde {
                    Some(_) => (quote!(.0), quote_spanned!(ty.span()=> #raw.map(#nr::Serde::into_inner))),
                    None => (quote!(), quote!(#raw)),
                };
                match &f.default {
                    DefaultValue::Required => quote_spanned!(ty.span()=> #nr::missing_field(#raw, #name)? #unwrap),
                    DefaultValue::Trait => {
                        quote_spanned!(ty.span()=> #slot.unwrap_or_else(<#ty as ::core::default::Default>::default))
                    }
                    DefaultValue::Function(path) => quote!(#slot.unwrap_or_else(#path)),
                }
            }
        };
        quote!(#ident: #value,)
    });
    quote!(#(#inits)*)
}

/// The buffer collecting a flattened group's elements while a document is decoded.
pub fn group_buffer(f: &Field) -> syn::Ident {
    format_ident!("__g_{}", f.ident.to_string().trim_start_matches("r#"))
}

/// The static descriptions of the stored fields.
pub fn field_descs(fields: &[Field]) -> TokenStream {
    let nr = nr();
    let descs = fields.iter().filter(|f| f.is_stored()).map(|f| {
        let name = &f.name;
        let rust_name = f.ident.to_string();
        let ty = f.ty.clone();
        let ty = quote!(#ty).to_string();
        let shape = &f.stored;
        let shape = quote_spanned!(shape.span()=> <#shape as #nr::Describe>::SHAPE);
        quote!(#nr::FieldDesc { name: #name, rust_name: #rust_name, ty: #ty, shape: #shape },)
    });
    quote!(&[#(#descs)*])
}

/// One descriptor function per stored field, rooted at `base` (a path expression) with
/// model type `model`. With `markers` (the path of a model's marker module), each
/// descriptor is tagged with its field's marker type.
pub fn descriptors(
    fields: &[Field],
    model: &TokenStream,
    base: impl Fn(&str) -> TokenStream,
    receiver: TokenStream,
    markers: Option<&syn::Ident>,
) -> TokenStream {
    let nr = nr();
    let fns = fields.iter().filter(|f| f.is_stored()).map(|f| {
        let (ident, ty, vis) = (&f.ident, &f.stored, &f.vis);
        let name = &f.name;
        let doc = format!("The descriptor of field `{name}`, for filters and ordering.");
        let path = base(name);
        let (ret, body) = match markers {
            None => (
                quote_spanned!(ty.span()=> <#ty as #nr::Describe>::Path<#model>),
                quote_spanned!(ty.span()=> <#ty as #nr::Describe>::describe(#path)),
            ),
            Some(module) => {
                let marker = marker_ident(f);
                (
                    quote_spanned!(ty.span()=> <<#ty as #nr::Describe>::Path<#model> as #nr::Mark<#module::#marker>>::Marked),
                    quote_spanned!(ty.span()=> <_ as #nr::Mark<#module::#marker>>::mark(<#ty as #nr::Describe>::describe(#path))),
                )
            }
        };
        quote_spanned! {ty.span()=>
            #[doc = #doc]
            #[allow(dead_code)]
            #vis fn #ident(#receiver) -> #ret {
                #body
            }
        }
    });
    quote!(#(#fns)*)
}

/// The marker type naming field `f` in its model's marker module.
pub fn marker_ident(f: &Field) -> syn::Ident {
    f.ident.clone()
}

/// The name of model `ident`'s marker module: `Post` -> `Post_fields`.
pub fn marker_module(ident: &syn::Ident) -> syn::Ident {
    format_ident!("{}_fields", ident)
}

/// A module of one uninhabited marker type per stored field of a model, beside the model
/// and as visible as it; descriptors carry them so declarations on a field (emulated
/// lookups, denormalized copies) can be checked at compile time.
pub fn marker_types(ident: &syn::Ident, vis: &syn::Visibility, fields: &[Field]) -> TokenStream {
    let module = marker_module(ident);
    let markers = fields.iter().filter(|f| f.is_stored()).map(|f| {
        let marker = marker_ident(f);
        let doc = format!("Names field `{}` of `{ident}` in declarations and compile errors.", f.ident);
        quote!(#[doc = #doc] pub enum #marker {})
    });
    let doc = format!("Marker types naming the fields of `{ident}` (generated by `#[derive(Model)]`).");
    quote! {
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_snake_case, non_camel_case_types, dead_code)]
        #vis mod #module {
            #(#markers)*
        }
    }
}

/// The index descriptions `#[field(index)]` (or `index(exact, ..)`) and `#[field(unique)]`
/// declare on stored fields; emulated lookups' indexes are described separately.
pub fn field_index_descs(fields: &[Field]) -> TokenStream {
    let nr = nr();
    let descs = fields.iter().filter(|f| f.is_stored() && (f.index.plain || f.unique)).map(|f| {
        let (path, unique, covering, counted) = (&f.name, f.unique, f.index.covering, f.index.counted.is_some());
        quote!(#nr::IndexDesc { path: #path, unique: #unique, covering: #covering, counted: #counted },)
    });
    quote!(#(#descs)*)
}
