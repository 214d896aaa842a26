//! `#[model(denormalize(author.username))]` and `#[model(join_in_memory(author))]`:
//! the generated impls and registrations.

use super::{fields, nr};
use crate::ast::Model;
use crate::attr::CopyPath;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Ident;

/// The stored name of a copy: `_dn_<reference>_<field>` (reserved, never a field's name).
fn copy_name(model: &Model, c: &CopyPath) -> String {
    let reference = model.stored(&c.reference).map_or_else(|| c.reference.to_string(), |f| f.name.clone());
    format!("_dn_{reference}_{}", c.field.to_string().trim_start_matches("r#"))
}

/// The marker module of the model a reference targets: `crate::User` -> `crate::User_fields`.
fn related_markers(target: &syn::Type) -> Option<syn::Path> {
    let syn::Type::Path(target) = target else { return None };
    let mut path = target.path.clone();
    let seg = path.segments.last_mut()?;
    seg.ident = fields::marker_module(&seg.ident);
    seg.arguments = syn::PathArguments::None;
    Some(path)
}

/// The index declarations of the copies (each copy is indexed).
pub fn copy_indexes(model: &Model) -> TokenStream {
    let nr = nr();
    let descs = model.copies.iter().map(|c| {
        let path = copy_name(model, c);
        quote!(#nr::IndexDesc { path: #path, unique: false, covering: false, counted: false },)
    });
    quote!(#(#descs)*)
}

/// The impls and registrations of a model's copies and in-memory joins, and the stored
/// name of each of its fields on its marker type.
/// A reference whose type is an alias or a renamed import is checked to point to the model
/// its type argument names.
pub fn expand(model: &Model) -> TokenStream {
    let nr = nr();
    let module = fields::marker_module(&model.ident);
    let names = model.fields.iter().filter(|f| f.is_stored()).map(|f| {
        let (marker, name) = (fields::marker_ident(f), &f.name);
        quote! {
            #[automatically_derived]
            impl #nr::StoredName for #module::#marker {
                const NAME: &'static str = #name;
            }
        }
    });
    let joined: Vec<&Ident> = model.joined().collect();
    let in_memory_impls = joined.iter().map(|r| {
        quote_spanned! {r.span()=>
            #[automatically_derived]
            impl<R> #nr::DeclaredJoin<R> for #module::#r {}
        }
    });
    let followed = model.joined().chain(model.copies.iter().map(|c| &c.reference));
    let mut checked: Vec<&Ident> = Vec::new();
    let same_target = followed.filter_map(|r| {
        let f = model.stored(r)?;
        let target = f.shape.ref_target()?;
        if checked.contains(&r) {
            return None;
        }
        checked.push(r);
        let (ty, check) = (&f.ty, format_ident!("__refers_{}", r.to_string().trim_start_matches("r#")));
        Some(quote_spanned! {ty.span()=>
            #[allow(dead_code, non_snake_case)]
            fn #check(target: <#ty as #nr::RefField<#nr::One>>::Target) -> #target {
                target
            }
        })
    });
    let model_ident = &model.ident;
    let copy_impls = model.copies.iter().filter_map(|c| {
        let f = model.stored(&c.reference)?;
        let related = related_markers(f.shape.ref_target()?)?;
        let (r, field, ty) = (&c.reference, &c.field, &f.ty);
        let target = quote_spanned!(field.span()=> #related::#field);
        let join = (!joined.contains(&r)).then(|| {
            quote_spanned! {field.span()=>
                #[automatically_derived]
                impl #nr::DeclaredJoin<#target> for #module::#r {}
            }
        });
        let (reference, copy) = (&f.name, copy_name(model, c));
        let registration = format_ident!(
            "__NONREL_COPY_{}_{}",
            r.to_string().trim_start_matches("r#"),
            field.to_string().trim_start_matches("r#")
        );
        Some(quote! {
            #[automatically_derived]
            impl #nr::DenormalizedCopy<#target> for #module::#r {}
            #join
            #[allow(non_upper_case_globals)]
            static #registration: #nr::CopyDesc = #nr::CopyDesc {
                holder: <#model_ident as #nr::Model>::DESC,
                reference: #reference,
                related: <<#ty as #nr::RefField<#nr::One>>::Target as #nr::Model>::DESC,
                field: <#target as #nr::StoredName>::NAME,
                copy: #copy,
            };
            #nr::inventory::submit! { #nr::CopyRegistration(&#registration) }
        })
    });
    quote! {
        const _: () = {
            #(#names)*
            #(#in_memory_impls)*
            #(#same_target)*
            #(#copy_impls)*
        };
    }
}
