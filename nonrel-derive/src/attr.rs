//! The derives' attributes, parsed with darling.

use darling::util::Override;
use darling::{ast, FromDeriveInput, FromField};
use syn::{Ident, Path, Type, Visibility};

/// `#[derive(Model)]` input.
#[derive(FromDeriveInput)]
#[darling(attributes(model), supports(struct_named))]
pub struct ModelInput {
    pub ident: Ident,
    pub vis: Visibility,
    pub generics: syn::Generics,
    pub data: ast::Data<(), FieldInput>,
    #[darling(default)]
    pub collection: Option<syn::LitStr>,
    #[darling(default, multiple)]
    pub index: Vec<syn::LitStr>,
    /// The base of a polymorphic hierarchy (F11).
    #[darling(default)]
    pub polymorphic: darling::util::Flag,
    /// A subclass of this polymorphic base (F11).
    #[darling(default)]
    pub extends: Option<Path>,
    /// `denormalize(author.username, ...)`: copies of related fields (F15).
    #[darling(default, multiple)]
    pub denormalize: Vec<crate::expand::related::CopyList>,
    /// `join_in_memory(author, ...)`: `Ref` fields joined in two steps (F15).
    #[darling(default, multiple)]
    pub join_in_memory: Vec<darling::util::PathList>,
}

/// `#[derive(Embedded)]` input.
#[derive(FromDeriveInput)]
#[darling(supports(struct_named))]
pub struct EmbeddedInput {
    pub ident: Ident,
    pub generics: syn::Generics,
    pub data: ast::Data<(), FieldInput>,
}

/// `#[derive(Fields)]` input: an abstract group of fields (F11).
#[derive(FromDeriveInput)]
#[darling(supports(struct_named))]
pub struct FieldsInput {
    pub ident: Ident,
    pub vis: Visibility,
    pub generics: syn::Generics,
    pub data: ast::Data<(), FieldInput>,
}

/// One field and its `#[field(...)]` attribute.
#[derive(FromField)]
#[darling(attributes(field))]
pub struct FieldInput {
    pub ident: Option<Ident>,
    pub vis: Visibility,
    pub ty: Type,
    #[darling(default)]
    pub key: darling::util::Flag,
    #[darling(default)]
    pub rename: Option<syn::LitStr>,
    #[darling(default)]
    pub index: crate::index_attr::IndexAttr,
    #[darling(default)]
    pub unique: darling::util::Flag,
    #[darling(default)]
    pub skip: darling::util::Flag,
    #[darling(default)]
    pub default: Option<Override<Path>>,
    #[darling(default)]
    pub extra: darling::util::Flag,
    /// A `#[derive(Fields)]` group stored as top-level fields (F11).
    #[darling(default)]
    pub flatten: darling::util::Flag,
    /// `on_delete = cascade` on a reference: deleting the referenced record deletes this one.
    #[darling(default)]
    pub on_delete: Option<Path>,
}

impl FieldInput {
    pub fn clone_input(&self) -> FieldInput {
        FieldInput {
            ident: self.ident.clone(),
            vis: self.vis.clone(),
            ty: self.ty.clone(),
            key: self.key,
            rename: self.rename.clone(),
            index: self.index.clone(),
            unique: self.unique,
            skip: self.skip,
            default: self.default.clone(),
            extra: self.extra,
            flatten: self.flatten,
            on_delete: self.on_delete.clone(),
        }
    }

    pub fn ident(&self) -> &Ident {
        self.ident.as_ref().expect("named fields only (darling checks supports)")
    }

    /// The name in the stored document.
    pub fn stored_name(&self) -> String {
        match &self.rename {
            Some(r) => r.value(),
            None => self.ident().to_string().trim_start_matches("r#").to_owned(),
        }
    }

    /// Whether the field is written to the document as a plain element.
    pub fn is_stored(&self) -> bool {
        !self.skip.is_present() && !self.extra.is_present() && !self.key.is_present() && !self.flatten.is_present()
    }
}

impl FieldInput {
    /// Whether the field declares `on_delete = cascade`.
    pub fn cascades(&self) -> bool {
        self.on_delete.as_ref().is_some_and(|p| p.is_ident("cascade"))
    }
}
