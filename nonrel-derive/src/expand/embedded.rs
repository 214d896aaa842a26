//! `#[derive(Embedded)]`.

use super::{fields, nr};
use crate::ast::{Embedded, Role};
use crate::check;
use proc_macro2::TokenStream;
use quote::quote;

/// Entry point on token streams, so tests can drive it.
pub fn derive(input: TokenStream) -> TokenStream {
    super::derive(input, Embedded::from_input, check::embedded, expand, fallback)
}

/// Stub impls emitted beside errors, so models holding this type report nothing more.
fn fallback(ast: &syn::DeriveInput) -> TokenStream {
    if !ast.generics.params.is_empty() {
        return quote!();
    }
    let nr = nr();
    let ident = &ast.ident;
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #nr::Encode for #ident {
                fn encode(&self, _: &[u8], _: &mut ::std::vec::Vec<u8>) -> #nr::Result<()> {
                    #nr::Err(#nr::Error::new(#nr::ErrorKind::Unsupported, "the Embedded derive failed"))
                }
            }
            #[automatically_derived]
            impl #nr::Decode for #ident {
                fn decode(_: u8, _: &[u8]) -> #nr::Result<Self> {
                    #nr::Err(#nr::Error::new(#nr::ErrorKind::Unsupported, "the Embedded derive failed"))
                }
            }
            #[automatically_derived]
            impl #nr::Describe for #ident {
                type Path<M> = #nr::Field<M, #ident>;
                type ListPath<M> = #nr::Field<M, #ident>;
                fn describe<M>(path: #nr::Cow<'static, str>) -> Self::Path<M> {
                    #nr::field_at(path)
                }
                fn describe_list<M>(path: #nr::Cow<'static, str>) -> Self::ListPath<M> {
                    #nr::field_at(path)
                }
            }
        };
    }
}

fn expand(input: &Embedded) -> TokenStream {
    let nr = nr();
    let (ident, all) = (&input.ident, &input.fields);
    let encode = fields::encode_body(all, quote!());
    let decode = fields::decode_loop(all, quote!(#nr::embedded_elements(__ty, __value)?), quote!(), quote!());
    let construct = fields::constructor(all, None);
    let field_descs = fields::field_descs(all);
    let descriptors = fields::descriptors(all, &quote!(M), |n| quote!(#nr::join(&self.path, #n)), quote!(&self), None);
    let paths = quote::format_ident!("{}Path", ident);
    let has_extra = all.iter().any(|f| f.role == Role::Extra);
    quote! {
        const _: () = {
            #[automatically_derived]
            #[automatically_derived]
            impl #nr::Encode for #ident {
                fn encode(&self, __name: &[u8], __out: &mut ::std::vec::Vec<u8>) -> #nr::Result<()> {
                    #nr::header(__out, #nr::DOCUMENT, __name);
                    #encode
                }
            }

            #[automatically_derived]
            #[automatically_derived]
            impl #nr::Decode for #ident {
                fn decode(__ty: u8, __value: &[u8]) -> #nr::Result<Self> {
                    #decode
                    #nr::Ok(Self { #construct })
                }
            }

            #[automatically_derived]
            impl #nr::EmbeddedModel for #ident {
                const FIELDS: &'static [#nr::FieldDesc] = #field_descs;
            }

            /// Paths into the embedded model, for filters and ordering.
            pub struct #paths<M> {
                path: #nr::Cow<'static, str>,
                _model: #nr::PhantomData<fn() -> M>,
            }

            #[automatically_derived]
            impl<M> #paths<M> {
                #descriptors

                /// Equal to the whole embedded value.
                pub fn eq(&self, v: impl #nr::IntoLookup<#ident>) -> #nr::Condition<M> {
                    self.value().eq(v)
                }

                /// Not equal to the whole embedded value.
                pub fn ne(&self, v: impl #nr::IntoLookup<#ident>) -> #nr::Condition<M> {
                    self.value().ne(v)
                }

                /// Null or missing (`true`), or present (`false`).
                pub fn isnull(&self, is_null: bool) -> #nr::Condition<M> {
                    #nr::field_at::<M, #ident, ()>(self.path.clone()).isnull(is_null)
                }

                /// One list element for which every condition holds (MongoDB's `$elemMatch`);
                /// the closure gets the element's paths.
                pub fn elem_match<const N: usize>(
                    &self,
                    conditions: impl FnOnce(&#paths<#ident>) -> [#nr::Condition<#ident>; N],
                ) -> #nr::Condition<M> {
                    let element = #paths::<#ident> { path: #nr::Cow::Borrowed(""), _model: #nr::PhantomData };
                    #nr::elem_match(self.path.clone(), conditions(&element))
                }

                /// The whole embedded value, for `eq` and `ne`.
                pub fn value(&self) -> #nr::Field<M, #ident> {
                    #nr::field_at(self.path.clone())
                }
            }

            #[automatically_derived]
            impl<M, F> #nr::Mark<F> for #paths<M> {
                type Marked = Self;
                fn mark(self) -> Self {
                    self
                }
            }

            #[automatically_derived]
            impl #nr::Describe for #ident {
                type Path<M> = #paths<M>;
                type ListPath<M> = #paths<M>;
                const SHAPE: #nr::Shape = #nr::Shape::Nested {
                    fields: || <#ident as #nr::EmbeddedModel>::FIELDS,
                    has_extra: #has_extra,
                };
                fn describe<M>(path: #nr::Cow<'static, str>) -> #paths<M> {
                    #paths { path, _model: #nr::PhantomData }
                }
                fn describe_list<M>(path: #nr::Cow<'static, str>) -> #paths<M> {
                    #paths { path, _model: #nr::PhantomData }
                }
            }
        };
    }
}
