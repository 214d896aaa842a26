//! Derive macros for nonrel: `#[derive(Model)]` and `#[derive(Embedded)]`.
//!
//! Use them through `nonrel_runtime`, which re-exports both; the attributes they read are
//! documented there.

mod ast;
mod attr;
mod check;
mod expand;
mod index_attr;
mod ty;

use proc_macro::TokenStream;

/// Derives `nonrel_runtime::Model` for a struct with named fields.
///
/// Struct attribute `#[model(...)]`: `collection = "name"` (default: the struct name in
/// snake case with an `s`), `index = "path.into.embedded"` (repeatable) for an index on a path
/// inside embedded models. Field attribute `#[field(...)]`: `key`, `rename = "name"`,
/// `index` or `index(exact, iexact, istartswith, endswith, icontains, year, month, day,
/// week_day, regex = "pattern")` (emulated lookups; `covering` in the list makes the plain or
/// unique index hold a copy of each record, so the embedded backend answers from the index
/// alone; `counted` makes it keep the number of its entries by blocks of numbers or dates, so
/// the embedded backend counts a range by adding up blocks), `unique`, `skip`, `default` or `default = "path::to::fn"`, `extra`.
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

/// Derives an abstract group of fields: a struct whose fields are stored at the top
/// level of every model that holds it with `#[field(flatten)]`, with descriptors for them in
/// the generated trait `<Name>Fields`. Field attributes as for `Model`, without `key` and
/// `extra`.
#[proc_macro_derive(Fields, attributes(field))]
pub fn derive_fields(input: TokenStream) -> TokenStream {
    expand::group::derive(input.into()).into()
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn model(input: proc_macro2::TokenStream) -> String {
        crate::expand::model::derive(input).to_string()
    }

    #[test]
    fn expands_a_model_to_its_impls_and_registration() {
        let out = model(quote! {
            #[model(collection = "posts")]
            struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] title: String }
        });
        assert!(out.contains("impl :: nonrel_runtime :: __private :: Model for Post"), "{out}");
        assert!(out.contains("collection : \"posts\""), "{out}");
        assert!(out.contains("b\"title\\0\""), "static element names: {out}");
        assert!(out.contains("inventory :: submit"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn default_collection_is_snake_case_plural() {
        let out = model(quote! { struct BlogPost { id: i64 } });
        assert!(out.contains("collection : \"blog_posts\""), "{out}");
    }

    #[test]
    fn collects_every_error_and_still_emits_a_stub() {
        let out = model(quote! {
            struct Bad {
                #[field(rename = "a.b")] x: i32,
                #[field(skip, index)] y: i32,
            }
        });
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
        assert!(out.contains("has no key field"), "{out}");
        assert!(out.contains("impl :: nonrel_runtime :: __private :: Model for Bad"), "stub impl: {out}");
    }

    /// Every `impl` item in `tokens` (at any depth) is preceded by `#[automatically_derived]`;
    /// returns how many there are. `impl` after `:`, `->`, `(` or `,` is a type, not an item.
    fn impls_all_automatically_derived(tokens: proc_macro2::TokenStream) -> usize {
        use proc_macro2::TokenTree;
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut count = 0;
        for (i, t) in trees.iter().enumerate() {
            match t {
                TokenTree::Group(g) => count += impls_all_automatically_derived(g.stream()),
                TokenTree::Ident(id) if id == "impl" => {
                    let before = i.checked_sub(1).map(|j| &trees[j]);
                    if let Some(TokenTree::Punct(p)) = before {
                        if matches!(p.as_char(), ':' | '>' | ',') {
                            continue;
                        }
                    }
                    let attr = before.map(ToString::to_string).unwrap_or_default();
                    assert_eq!(attr, "[automatically_derived]", "impl #{count} lacks the attribute: {trees:?}");
                    count += 1;
                }
                _ => {}
            }
        }
        count
    }

    #[test]
    fn every_generated_impl_is_automatically_derived() {
        let model = crate::expand::model::derive(quote! {
            #[model(denormalize(author.name), join_in_memory(author), index = "tag.name", extends = Base)]
            struct Post {
                #[field(key)] id: String,
                #[field(index(exact, icontains, month))] title: String,
                #[field(on_delete = cascade)] author: R<User>,
                #[field(flatten)] stamps: Stamps,
                tag: Tag,
            }
        });
        assert!(!model.to_string().contains("compile_error"), "{model}");
        assert!(impls_all_automatically_derived(model) >= 12);
        let embedded = crate::expand::embedded::derive(quote!(
            struct Tag {
                name: String,
                #[field(extra)]
                x: Extra,
            }
        ));
        assert!(impls_all_automatically_derived(embedded) >= 5);
        let group = crate::expand::group::derive(quote!(
            struct Stamps {
                #[field(index)]
                at: i64,
            }
        ));
        assert!(impls_all_automatically_derived(group) >= 2);
    }

    #[test]
    fn stubs_beside_errors_are_automatically_derived() {
        for out in [
            crate::expand::model::derive(quote!(
                struct Bad {
                    x: i32,
                }
            )),
            crate::expand::embedded::derive(quote!(
                struct Bad {
                    #[field(key)]
                    x: i32,
                }
            )),
            crate::expand::group::derive(quote!(
                struct Bad {
                    #[field(extra)]
                    x: Extra,
                }
            )),
        ] {
            assert!(out.to_string().contains("compile_error"), "{out}");
            assert!(impls_all_automatically_derived(out) >= 1);
        }
    }
}
