//! `#[model(denormalize(author.username))]` and `#[model(join_in_memory(author))]` (F15):
//! the declarations, their checks and the generated impls and registrations.

use super::{fields, nr};
use crate::attr::FieldInput;
use darling::{Error, FromMeta, Result};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, Token};

/// One `ref_field.related_field` of a `denormalize(...)` list.
#[derive(Clone)]
pub struct CopyPath {
    pub reference: Ident,
    pub field: Ident,
}

impl Parse for CopyPath {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let reference = Ident::parse_any(input)?;
        input.parse::<Token![.]>()?;
        let field = Ident::parse_any(input)?;
        if input.peek(Token![.]) {
            return Err(input.error("a denormalized copy names a `Ref` field and one field of the related model"));
        }
        Ok(CopyPath { reference, field })
    }
}

/// `denormalize(author.username, author.email)`.
#[derive(Clone, Default)]
pub struct CopyList(pub Vec<CopyPath>);

impl FromMeta for CopyList {
    fn from_meta(item: &syn::Meta) -> Result<Self> {
        let syn::Meta::List(list) = item else {
            return Err(Error::custom("write `denormalize(ref_field.related_field, ...)`").with_span(item));
        };
        let paths = list.parse_args_with(Punctuated::<CopyPath, Token![,]>::parse_terminated).map_err(Error::from)?;
        Ok(CopyList(paths.into_iter().collect()))
    }
}

/// The stored name of a copy: `_dn_<reference>_<field>` (reserved, never a field's name).
pub fn copy_name(c: &CopyPath, fields: &[FieldInput]) -> String {
    let reference = find(fields, &c.reference).map_or_else(|| c.reference.to_string(), FieldInput::stored_name);
    format!("_dn_{reference}_{}", c.field.to_string().trim_start_matches("r#"))
}

fn find<'f>(fields: &'f [FieldInput], ident: &Ident) -> Option<&'f FieldInput> {
    fields.iter().find(|f| f.is_stored() && f.ident() == ident)
}

/// The marker module of the model a `Ref<T>` (or `Option<Ref<T>>`, `Box<...>`) field
/// refers to: `Ref<crate::User>` -> `crate::User_fields`.
fn related_markers(ty: &syn::Type) -> Option<syn::Path> {
    let syn::Type::Path(tp) = ty else { return None };
    let last = tp.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    let Some(syn::GenericArgument::Type(inner)) = args.args.first() else { return None };
    match last.ident.to_string().as_str() {
        "Ref" => {
            let syn::Type::Path(target) = inner else { return None };
            let mut path = target.path.clone();
            let seg = path.segments.last_mut()?;
            seg.ident = fields::marker_module(&seg.ident);
            seg.arguments = syn::PathArguments::None;
            Some(path)
        }
        "Option" | "Box" => related_markers(inner),
        _ => None,
    }
}

/// Copies and in-memory joins name stored `Ref` fields of the model, once each.
pub fn check(copies: &[CopyList], in_memory: &[darling::util::PathList], fields: &[FieldInput]) -> Result<()> {
    let mut errors = Error::accumulator();
    let mut seen: Vec<(String, String)> = Vec::new();
    for c in copies.iter().flat_map(|l| &l.0) {
        let pair = (c.reference.to_string(), c.field.to_string());
        if seen.contains(&pair) {
            errors.push(Error::custom(format!("`{}.{}` is denormalized twice", pair.0, pair.1)).with_span(&c.field));
        }
        seen.push(pair);
        errors.handle(check_ref(fields, &c.reference, "denormalize"));
    }
    for p in in_memory.iter().flat_map(|l| l.iter()) {
        match p.get_ident() {
            Some(ident) => {
                errors.handle(check_ref(fields, ident, "join_in_memory"));
            }
            None => errors.push(Error::custom("`join_in_memory` takes `Ref` field names").with_span(p)),
        }
    }
    errors.finish()
}

fn check_ref(fields: &[FieldInput], ident: &Ident, what: &str) -> Result<()> {
    let Some(f) = find(fields, ident) else {
        return Err(Error::custom(format!("`{what}`: `{ident}` is not a stored field of this model")).with_span(ident));
    };
    if related_markers(&f.ty).is_none() {
        let msg = format!("`{what}`: field `{ident}` must have type `Ref<T>` (or `Option<Ref<T>>`) to follow it");
        return Err(Error::custom(msg).with_span(ident));
    }
    Ok(())
}

/// The index declarations of the copies (each copy is indexed).
pub fn copy_indexes(copies: &[CopyList], fields: &[FieldInput]) -> TokenStream {
    let nr = nr();
    let descs = copies.iter().flat_map(|l| &l.0).map(|c| {
        let path = copy_name(c, fields);
        quote!(#nr::IndexDesc { path: #path, unique: false, covering: false },)
    });
    quote!(#(#descs)*)
}

/// The impls and registrations of a model's copies and in-memory joins, and the stored
/// name of each of its fields on its marker type.
pub fn expand(
    model: &Ident,
    copies: &[CopyList],
    in_memory: &[darling::util::PathList],
    fields: &[FieldInput],
) -> TokenStream {
    let nr = nr();
    let module = fields::marker_module(model);
    let names = fields.iter().filter(|f| f.is_stored()).map(|f| {
        let (marker, name) = (fields::marker_ident(f), f.stored_name());
        quote! {
            #[automatically_derived]
            impl #nr::StoredName for #module::#marker {
                const NAME: &'static str = #name;
            }
        }
    });
    let joined: Vec<&Ident> = in_memory.iter().flat_map(|l| l.iter()).filter_map(|p| p.get_ident()).collect();
    let in_memory_impls = joined.iter().map(|r| {
        quote_spanned! {r.span()=>
            #[automatically_derived]
            impl<R> #nr::DeclaredJoin<R> for #module::#r {}
        }
    });
    let copy_impls = copies.iter().flat_map(|l| &l.0).filter_map(|c| {
        let f = find(fields, &c.reference)?;
        let related = related_markers(&f.ty)?;
        let (r, field, ty) = (&c.reference, &c.field, &f.ty);
        let target = quote_spanned!(field.span()=> #related::#field);
        let join = (!joined.contains(&r)).then(|| {
            quote_spanned! {field.span()=>
                #[automatically_derived]
                impl #nr::DeclaredJoin<#target> for #module::#r {}
            }
        });
        let (reference, copy) = (f.stored_name(), copy_name(c, fields));
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
                holder: <#model as #nr::Model>::DESC,
                reference: #reference,
                related: <<#ty as #nr::Refers>::Target as #nr::Model>::DESC,
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
            #(#copy_impls)*
        };
    }
}
