//! `#[derive(Model)]`.

use super::{fields, group, inherit, nr};
use crate::ast::{Field, Model};
use crate::attr::FieldInput;
use crate::check;
use crate::ty::KeyShape;
use darling::FromField;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

/// Entry point on token streams, so tests can drive it.
pub fn derive(input: TokenStream) -> TokenStream {
    super::derive(input, Model::from_input, check::model, expand, fallback)
}

/// `BlogPost` -> `blog_posts`.
fn default_collection(ident: &syn::Ident) -> String {
    let mut out = String::new();
    for (i, c) in ident.to_string().chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out.push('s');
    out
}

fn expand(model: &Model) -> TokenStream {
    let nr = nr();
    let ident = &model.ident;
    let all = &model.fields;
    let key = model.key().expect("checked: one key");
    let name = ident.to_string();
    let collection = model.collection.as_ref().map_or_else(|| default_collection(ident), syn::LitStr::value);
    let (key_ident, key_ty) = (&key.ident, &key.ty);
    let key_name = key_ident.to_string();
    let field_descs = fields::field_descs(all);
    let indexes = index_descs(model);
    let compound_indexes = compound_index_descs(model);
    let counters = counter_descs(model);
    let has_extra = all.iter().any(|f| f.role == crate::ast::Role::Extra);
    let (desc_items, field_descs, indexes) = inherit::desc_parts(model, all, field_descs, indexes);
    let collection = inherit::collection(model, &collection);
    let encode = fields::encode_body_with(inherit::encode_prefix(model), all, super::lookups::encode(all));
    let lookups = super::lookups::lookups_const(all);
    let declared = super::lookups::declared_impls(ident, all);
    let inherit_arms = inherit::decode_arms(model, all);
    let key_arm = quote!(b"_id" => __key = #nr::Some(#nr::decode_id(&__el)?), #inherit_arms);
    let buffers = group::buffers(all);
    // A document that holds its key (MongoDB's) holds it first.
    let lead = quote! {
        if let #nr::Some(__el) = __elements.next_named(b"_id\0") {
            __key = #nr::Some(#nr::decode_id(&__el?)?);
        }
    };
    let decode = fields::decode_loop(all, quote!(#nr::Elements::new(__doc)?), lead, key_arm);
    let class_const = inherit::class_const(model);
    let inherit_impls = inherit::impls(model, all);
    let key_init = quote_spanned!(key_ty.span()=>
        #nr::decode_key::<#ident, #key_ty>(__key.as_ref()).map_err(|e| e.with_field(#key_name))?);
    let construct = fields::constructor(all, Some(key_init));
    let model_ty = quote!(#ident);
    let module = fields::marker_module(ident);
    let markers = fields::marker_types(ident, &model.vis, all);
    let descriptors = fields::descriptors(all, &model_ty, |n| quote!(#nr::Cow::Borrowed(#n)), quote!(), Some(&module));
    let as_key = natural_key_impls(ident, key);
    let key_field = quote_spanned!(key_ty.span()=> <#key_ty as #nr::KeyField<#ident>>);
    let key_vis = &key.vis;
    let key_doc = format!(
        "The descriptor of the key field `{key_name}`, for conditions and ordering on the record's key \
         (an `eq` or `is_in` reads those keys directly)."
    );
    let fits = crate::ty::TypeShape::of(key_ty).may_key(ident);
    let key_descriptor = fits.then(|| {
        quote_spanned! {key_ty.span()=>
            #[doc = #key_doc]
            #[allow(dead_code)]
            #key_vis fn #key_ident() -> #nr::Field<#ident, #key_field::Value> {
                #nr::key_field::<#ident, #key_ty>()
            }
        }
    });
    let key_kind = quote!(#key_field::KIND);
    let related = super::related::expand(model);
    let cascades = cascades(ident, all);
    quote! {
        const _: () = {
            #desc_items

            #[automatically_derived]
            impl #nr::Model for #ident {
                #class_const
                const DESC: &'static #nr::ModelDesc = &#nr::ModelDesc {
                    name: #name,
                    collection: #collection,
                    key: #nr::KeyDesc { field: #key_name, kind: #key_kind },
                    fields: #field_descs,
                    indexes: #indexes,
                    compound_indexes: #compound_indexes,
                    counters: #counters,
                    has_extra: #has_extra,
                };

                #lookups

                fn key_value(&self) -> #nr::Option<#nr::KeyValue> {
                    #key_field::key_value(&self.#key_ident)
                }

                fn set_key_value(&mut self, key: #nr::KeyValue) -> #nr::Result<()> {
                    self.#key_ident = #key_field::from_key_value(&key)?;
                    #nr::Ok(())
                }

                fn encode(&self, __out: &mut ::std::vec::Vec<u8>) -> #nr::Result<()> {
                    #encode
                }

                fn decode(__key: #nr::Option<&#nr::KeyValue>, __doc: &[u8]) -> #nr::Result<Self> {
                    let mut __key = __key.cloned();
                    #buffers
                    #decode
                    #nr::Ok(Self { #construct })
                }
            }

            #[automatically_derived]
            impl #ident {
                #key_descriptor
                #descriptors
            }

            #as_key

            #inherit_impls

            #declared

            #nr::inventory::submit! { #nr::Registration(<#ident as #nr::Model>::DESC, ::core::module_path!()) }
            #nr::inventory::submit! { #nr::LoadCheck::of::<#ident>() }

            #cascades
        };

        #markers
        #related
    }
}

fn compound_index_descs(model: &Model) -> TokenStream {
    let nr = nr();
    let each = model.compound_indexes.iter().map(|c| {
        let parts = c.parts.iter().map(|p| {
            let written = p.value();
            let (path, descending) = match written.strip_prefix('-') {
                Some(path) => (path.to_string(), true),
                None => (written.clone(), false),
            };
            quote!(#nr::IndexPart { path: #path, descending: #descending })
        });
        quote!(#nr::CompoundIndexDesc { parts: &[#(#parts),*] })
    });
    quote!(&[#(#each),*])
}

/// `count_by(...)` as counter descriptions, naming the stored fields.
fn counter_descs(model: &Model) -> TokenStream {
    let nr = nr();
    let each = model.counters.iter().map(|c| {
        let names: Vec<String> = c
            .fields
            .iter()
            .map(|i| model.fields.iter().find(|f| f.ident == *i).map_or_else(|| i.to_string(), |f| f.name.clone()))
            .collect();
        let name = names.join(",");
        quote!(#nr::CounterDesc { name: #name, fields: &[#(#names),*] })
    });
    quote!(&[#(#each),*])
}

fn index_descs(model: &Model) -> TokenStream {
    let nr = nr();
    let on_fields = fields::field_index_descs(&model.fields);
    let on_paths = model
        .index_paths
        .iter()
        .map(|p| quote!(#nr::IndexDesc { path: #p, unique: false, covering: false, counted: false },));
    let lookups = super::lookups::index_descs(&model.fields);
    let copies = super::related::copy_indexes(model);
    quote!(&[#on_fields #(#on_paths)* #lookups #copies])
}

/// One registered cascade per `on_delete = cascade` reference; the referenced model comes
/// from the field's type, whose bound error points at the field when it is not a reference.
fn cascades(model: &syn::Ident, fields: &[Field]) -> TokenStream {
    let nr = nr();
    let each = fields.iter().filter(|f| f.cascades() && f.is_stored()).map(|f| {
        let (path, ty) = (&f.name, &f.ty);
        let target = quote_spanned!(ty.span()=> #nr::ref_target::<#ty, _>());
        quote! {
            #nr::inventory::submit! {
                #nr::Cascade { model: <#model as #nr::Model>::DESC, path: #path, target: #target }
            }
        }
    });
    quote!(#(#each)*)
}

/// Natural keys can be passed by value: `db.get::<User>("ann")`. A key type spelled out
/// decides by its name; an alias or renamed import gets impls whose bounds decide (a
/// natural key type displays; a `&str` names a record when the key type is made from one).
fn natural_key_impls(model: &syn::Ident, key: &Field) -> TokenStream {
    let nr = nr();
    let key_ty = &key.ty;
    let shape = key.shape.key_kind();
    if shape == KeyShape::NotNatural {
        return quote!();
    }
    let unknown = shape == KeyShape::Unknown;
    let natural = unknown.then(|| quote!(where &'__a #key_ty: ::core::fmt::Display));
    let lifetime = unknown.then(|| quote!(<'__a>));
    let from_str = unknown.then(|| quote!(where #key_ty: ::core::convert::From<&'__a str>));
    let key_field = quote!(<#key_ty as #nr::KeyField<#model>>);
    let empty = quote!(#nr::KeyValue::Str(::std::string::String::new()));
    let str_impl = (shape != KeyShape::Integer).then(|| {
        quote! {
            #[automatically_derived]
            impl<'__a> #nr::AsKey<#model> for &'__a str #from_str {
                fn as_key(&self) -> #nr::KeyValue {
                    #nr::KeyValue::Str((*self).into())
                }
            }
        }
    });
    quote! {
        #[automatically_derived]
        impl #lifetime #nr::AsKey<#model> for #key_ty #natural {
            fn as_key(&self) -> #nr::KeyValue {
                #key_field::key_value(self).unwrap_or_else(|| #empty)
            }
        }
        #[automatically_derived]
        impl<'__a> #nr::AsKey<#model> for &'__a #key_ty #natural {
            fn as_key(&self) -> #nr::KeyValue {
                let this: &#key_ty = self;
                #key_field::key_value(this).unwrap_or_else(|| #empty)
            }
        }
        #str_impl
    }
}

/// Stub impls emitted beside errors, so one mistake does not cause a cascade.
fn fallback(ast: &syn::DeriveInput) -> TokenStream {
    if !ast.generics.params.is_empty() {
        return quote!();
    }
    let nr = nr();
    let ident = &ast.ident;
    let name = ident.to_string();
    let descriptors = fallback_descriptors(ast);
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #ident {
                #descriptors
            }

            #[automatically_derived]
            impl #nr::Model for #ident {
                const DESC: &'static #nr::ModelDesc = &#nr::ModelDesc {
                    name: #name,
                    collection: #name,
                    key: #nr::KeyDesc { field: "", kind: #nr::KeyKind::Auto },
                    fields: &[],
                    indexes: &[],
                    compound_indexes: &[],
                    counters: &[],
                    has_extra: false,
                };
                fn key_value(&self) -> #nr::Option<#nr::KeyValue> { #nr::None }
                fn set_key_value(&mut self, _: #nr::KeyValue) -> #nr::Result<()> { #nr::Ok(()) }
                fn encode(&self, _: &mut ::std::vec::Vec<u8>) -> #nr::Result<()> { #nr::Ok(()) }
                fn decode(_: #nr::Option<&#nr::KeyValue>, _: &[u8]) -> #nr::Result<Self> {
                    #nr::Err(#nr::Error::new(#nr::ErrorKind::Unsupported, "the Model derive failed"))
                }
            }
        };
    }
}

/// Descriptor functions for every named field, read straight from the syntax tree, so that
/// queries written against a model with an attribute mistake report only that mistake.
fn fallback_descriptors(ast: &syn::DeriveInput) -> TokenStream {
    let nr = nr();
    let syn::Data::Struct(syn::DataStruct { fields: syn::Fields::Named(named), .. }) = &ast.data else {
        return quote!();
    };
    let model = &ast.ident;
    let fns = named.named.iter().filter(|f| !is_flattened(f)).filter_map(|f| {
        let (ident, ty, vis) = (f.ident.as_ref()?, &f.ty, &f.vis);
        let name = ident.to_string();
        Some(quote! {
            #[allow(dead_code)]
            #vis fn #ident() -> <#ty as #nr::Describe>::Path<#model> {
                <#ty as #nr::Describe>::describe(#nr::Cow::Borrowed(#name))
            }
        })
    });
    quote!(#(#fns)*)
}

/// Whether a field is a flattened group (it has no descriptor of its own), read from its
/// attribute even when another of its attributes is wrong.
fn is_flattened(f: &syn::Field) -> bool {
    match FieldInput::from_field(f) {
        Ok(input) => input.flatten.is_present(),
        Err(_) => f.attrs.iter().filter(|a| a.path().is_ident("field")).any(|a| {
            let Ok(list) = a.meta.require_list() else { return false };
            list.tokens.clone().into_iter().any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "flatten"))
        }),
    }
}
