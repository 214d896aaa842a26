//! Generated code of declared emulated lookups: index fields written on every save,
//! indexes on them, the `Declared` impls the capability checks look for, `LOOKUPS`, and the
//! model's registration for the whole-database rebuild.
//!
//! Index field names: `_ix_<field>_<suffix>` (the runtime's `lookup::index_field` reads them).

use super::fields::{marker_ident, marker_module};
use super::nr;
use crate::ast::Field;
use crate::index_attr::TEXT_LOOKUPS;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

const DATE_PARTS: [&str; 4] = ["year", "month", "day", "week_day"];

fn with_lookups(fields: &[Field]) -> impl Iterator<Item = &Field> {
    fields.iter().filter(|f| f.is_stored() && f.index.has_lookups())
}

fn is_text(f: &Field) -> bool {
    TEXT_LOOKUPS.iter().any(|l| f.index.declares(l)) || f.index.declares("regex")
}

fn is_date(f: &Field) -> bool {
    DATE_PARTS.iter().any(|l| f.index.declares(l))
}

/// The index fields a field's declarations write, by suffix.
fn suffixes(f: &Field) -> Vec<&'static str> {
    let d = |l: &str| f.index.declares(l);
    let mut out = Vec::new();
    if d("iexact") || d("istartswith") {
        out.push("lower");
    }
    if d("icontains") {
        out.push("grams");
    }
    if d("endswith") {
        out.push("rev");
    }
    if d("regex") {
        out.push("regex");
    }
    if d("search") {
        out.push("words");
    }
    out.extend(DATE_PARTS.into_iter().filter(|p| d(p)));
    out
}

fn index_field(f: &Field, suffix: &str) -> String {
    format!("_ix_{}_{suffix}", f.name)
}

/// The indexes on the index fields.
pub fn index_descs(fields: &[Field]) -> TokenStream {
    let nr = nr();
    let mut descs = Vec::new();
    for f in with_lookups(fields) {
        for s in suffixes(f) {
            let path = index_field(f, s);
            descs.push(quote!(#nr::IndexDesc { path: #path, unique: false, covering: false, counted: false },));
        }
    }
    quote!(#(#descs)*)
}

/// `Some(b"<name>\0")` when `on`, else `None`.
fn name_if(f: &Field, suffix: &str, on: bool) -> TokenStream {
    let nr = nr();
    if !on {
        return quote!(#nr::None);
    }
    let name = syn::LitByteStr::new(format!("{}\0", index_field(f, suffix)).as_bytes(), Span::call_site());
    quote!(#nr::Some(#name))
}

/// Statements writing every declared index field into `__out` (after the stored fields).
pub fn encode(fields: &[Field]) -> TokenStream {
    let nr = nr();
    let calls = with_lookups(fields).map(|f| {
        let (ident, ty) = (&f.ident, &f.ty);
        let d = |l: &str| f.index.declares(l);
        let mut out = TokenStream::new();
        if is_text(f) {
            let field = &f.name;
            let lower = name_if(f, "lower", d("iexact") || d("istartswith") || d("icontains"));
            let grams = name_if(f, "grams", d("icontains"));
            let rev = name_if(f, "rev", d("endswith"));
            let regex = name_if(f, "regex", d("regex"));
            let words = name_if(f, "words", d("search"));
            let patterns = &f.index.patterns;
            out.extend(quote_spanned! {ty.span()=> {
                static __NAMES: #nr::TextLookupNames = #nr::TextLookupNames {
                    field: #field, lower: #lower, grams: #grams, reversed: #rev, regex: #regex,
                    patterns: &[#(#patterns),*], words: #words,
                };
                #nr::encode_text_lookups(&self.#ident, &__NAMES, __out)?;
            }});
        }
        if is_date(f) {
            let [year, month, day, week_day] = DATE_PARTS.map(|p| name_if(f, p, d(p)));
            out.extend(quote_spanned! {ty.span()=> {
                static __NAMES: #nr::DateLookupNames = #nr::DateLookupNames {
                    year: #year, month: #month, day: #day, week_day: #week_day,
                };
                #nr::encode_date_lookups(&self.#ident, &__NAMES, __out)?;
            }});
        }
        out
    });
    quote!(#(#calls)*)
}

fn kind_variant(lookup: &str) -> syn::Ident {
    let camel: String = lookup
        .split('_')
        .map(|w| match w {
            "iexact" => "IExact".to_owned(),
            "istartswith" => "IStartsWith".to_owned(),
            "endswith" => "EndsWith".to_owned(),
            "icontains" => "IContains".to_owned(),
            other => other[..1].to_uppercase() + &other[1..],
        })
        .collect();
    syn::Ident::new(&camel, Span::call_site())
}

/// The model's `const LOOKUPS`.
pub fn lookups_const(fields: &[Field]) -> TokenStream {
    let nr = nr();
    let mut descs = Vec::new();
    for f in with_lookups(fields) {
        let field = &f.name;
        for (l, _) in &f.index.lookups {
            let kind = kind_variant(l);
            descs.push(quote!(#nr::LookupDesc { field: #field, kind: #nr::LookupKind::#kind, pattern: #nr::None },));
        }
        for p in &f.index.patterns {
            let pattern = quote!(#nr::Some(#p));
            descs.push(quote!(#nr::LookupDesc { field: #field, kind: #nr::LookupKind::Regex, pattern: #pattern },));
        }
    }
    quote!(const LOOKUPS: &'static [#nr::LookupDesc] = &[#(#descs)*];)
}

/// `impl Declared<kind, B> for <marker>` for every declared lookup, spanned at the declaration.
pub fn declared_impls(model: &syn::Ident, fields: &[Field]) -> TokenStream {
    let nr = nr();
    let module = marker_module(model);
    let mut impls = Vec::new();
    for f in with_lookups(fields) {
        let marker = marker_ident(f);
        let mut kinds: Vec<(syn::Ident, Span)> =
            f.index.lookups.iter().map(|(l, span)| (syn::Ident::new(l, *span), *span)).collect();
        if let Some(p) = f.index.patterns.first() {
            kinds.push((syn::Ident::new("regex", p.span()), p.span()));
        }
        for (kind, span) in kinds {
            impls.push(quote_spanned! {span=>
                #[automatically_derived]
                impl<__B> #nr::Declared<#nr::lookup_kinds::#kind, __B> for #module::#marker {}
            });
        }
    }
    if with_lookups(fields).next().is_some() {
        // The whole-database rebuild recomputes the index fields of the model's records.
        impls.push(quote! {
            #nr::inventory::submit! { #nr::LookupRegistration::of::<#model>() }
        });
    }
    quote!(#(#impls)*)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn declared_lookups_expand_to_index_fields_impls_and_descriptions() {
        let out = crate::expand::model::derive(quote! {
            struct Post {
                #[field(key)] id: Option<Key<Post>>,
                #[field(index(exact, icontains, regex = "^a"))] title: String,
                #[field(index(month))] published: DateTime<Utc>,
            }
        })
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        for part in [
            "path : \"title\"",
            "path : \"_ix_title_grams\"",
            "path : \"_ix_title_regex\"",
            "path : \"_ix_published_month\"",
            "b\"_ix_title_lower\\0\"",
            "Declared < :: nonrel_runtime :: __private :: lookup_kinds :: icontains , __B > for Post_fields :: title",
            "LookupKind :: Month",
        ] {
            assert!(out.contains(part), "{part} in {out}");
        }
        assert!(
            !out.contains("path : \"_ix_title_lower\""),
            "icontains alone stores but does not index the lowercased value"
        );
    }

    #[test]
    fn bad_declarations_are_all_reported() {
        let out = crate::expand::model::derive(quote! {
            struct Post {
                #[field(key)] id: Option<Key<Post>>,
                #[field(index(icontains, nope, regex = "("))] title: String,
            }
        })
        .to_string();
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    }

    #[test]
    fn kind_variants_name_the_runtime_enum() {
        assert_eq!(super::kind_variant("week_day"), "WeekDay");
        assert_eq!(super::kind_variant("istartswith"), "IStartsWith");
        assert_eq!(super::kind_variant("month"), "Month");
    }
}
