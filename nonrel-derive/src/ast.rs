//! The derives' input as the rest of the crate sees it: containers (`Model`, `Embedded`,
//! `Fields`) of fields with an explicit role and their parsed properties, built once from
//! the attributes. Checks read it; generation reads nothing else.

use crate::attr::{CopyPath, EmbeddedInput, FieldInput, FieldsInput, ModelInput};
use crate::index_attr::IndexAttr;
use crate::ty::TypeShape;
use darling::error::Accumulator;
use darling::util::Override;
use darling::Error;
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Ident, LitStr, Path, Type, Visibility};

/// What a field is in the stored document.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// The record's key, stored as `_id`.
    Key,
    /// A plain element under its stored name.
    Stored,
    /// Not stored: rebuilt with `Default` on load.
    Skipped,
    /// Holds the unknown fields of a loaded document.
    Extra,
    /// A `#[derive(Fields)]` group whose fields are stored at the top level.
    Flattened,
}

/// What deleting the referenced record does to a record holding a reference.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnDelete {
    /// Leave the record (the default).
    Keep,
    /// Delete the record too.
    Cascade,
}

/// How a stored field missing from a document is filled.
pub enum DefaultValue {
    /// It is not: the document is refused.
    Required,
    /// `Default::default()` (`#[field(default)]`).
    Trait,
    /// A function (`#[field(default = "path::to::fn")]`).
    Function(Path),
}

/// Where each attribute of a field is written (`None`: absent), for the checks' errors.
#[derive(Default)]
pub struct Written {
    pub key: Option<Span>,
    pub skip: Option<Span>,
    pub extra: Option<Span>,
    pub flatten: Option<Span>,
    pub rename: Option<Span>,
    pub default: bool,
}

/// One field of a container.
pub struct Field {
    pub ident: Ident,
    pub vis: Visibility,
    pub ty: Type,
    /// The type the runtime stores and describes: `ty`, or `Serde<ty>` for a field stored
    /// through serde (`#[field(serde)]`).
    pub stored: Type,
    /// Where `serde` is written, for a field stored through serde.
    pub serde: Option<Span>,
    /// The shape of `ty` as far as its syntax tells.
    pub shape: TypeShape,
    pub role: Role,
    /// The name in the stored document (meaningful for stored fields).
    pub name: String,
    /// Where the stored name is written: the `rename` literal, or the field's name.
    pub name_span: Span,
    pub index: IndexAttr,
    pub unique: bool,
    pub default: DefaultValue,
    /// The declared `on_delete` action and where it is written.
    pub on_delete: Option<(OnDelete, Span)>,
    pub written: Written,
}

impl Field {
    /// Builds a field from its attribute; an unknown `on_delete` action goes to `cx`.
    fn from_input(input: FieldInput, cx: &mut Accumulator) -> Field {
        let ident = input.ident.expect("named fields only (darling checks supports)");
        let written = Written {
            key: input.key.is_present().then(|| input.key.span()),
            skip: input.skip.is_present().then(|| input.skip.span()),
            extra: input.extra.is_present().then(|| input.extra.span()),
            flatten: input.flatten.is_present().then(|| input.flatten.span()),
            rename: input.rename.as_ref().map(LitStr::span),
            default: input.default.is_some(),
        };
        let name = match &input.rename {
            Some(r) => r.value(),
            None => ident.to_string().trim_start_matches("r#").to_owned(),
        };
        let name_span = input.rename.as_ref().map_or_else(|| ident.span(), LitStr::span);
        let default = match input.default {
            None => DefaultValue::Required,
            Some(Override::Inherit) => DefaultValue::Trait,
            Some(Override::Explicit(path)) => DefaultValue::Function(path),
        };
        let serde = input.serde.is_present().then(|| input.serde.span());
        let ty = &input.ty;
        let stored = match serde {
            Some(_) => syn::parse_quote_spanned!(ty.span()=> ::nonrel_runtime::__private::Serde<#ty>),
            None => input.ty.clone(),
        };
        Field {
            stored,
            serde,
            role: role_of(&written),
            shape: TypeShape::of(&input.ty),
            on_delete: input.on_delete.and_then(|p| cx.handle(on_delete(&p)).map(|a| (a, p.span()))),
            ident,
            vis: input.vis,
            ty: input.ty,
            name,
            name_span,
            index: input.index,
            unique: input.unique.is_present(),
            default,
            written,
        }
    }

    /// Whether the field is written to the document as a plain element.
    pub fn is_stored(&self) -> bool {
        self.role == Role::Stored
    }

    /// Whether the field declares a plain or unique index on itself.
    pub fn is_indexed(&self) -> bool {
        self.index.is_present() || self.unique
    }

    /// Whether the field declares `on_delete = cascade`.
    pub fn cascades(&self) -> bool {
        matches!(self.on_delete, Some((OnDelete::Cascade, _)))
    }
}

/// The role attributes as written decide; contradictions among them are the checks' business.
fn role_of(w: &Written) -> Role {
    if w.key.is_some() {
        Role::Key
    } else if w.flatten.is_some() {
        Role::Flattened
    } else if w.extra.is_some() {
        Role::Extra
    } else if w.skip.is_some() {
        Role::Skipped
    } else {
        Role::Stored
    }
}

fn on_delete(action: &Path) -> darling::Result<OnDelete> {
    if action.is_ident("cascade") {
        Ok(OnDelete::Cascade)
    } else if action.is_ident("keep") {
        Ok(OnDelete::Keep)
    } else {
        let msg = "unknown on_delete action: write `on_delete = cascade` (delete this record with the one it refers to) or `on_delete = keep` (the default)";
        Err(Error::custom(msg).with_span(action))
    }
}

fn fields_of(data: darling::ast::Data<(), FieldInput>, cx: &mut Accumulator) -> Vec<Field> {
    let fields = data.take_struct().expect("named struct (darling checks supports)").fields;
    fields.into_iter().map(|f| Field::from_input(f, cx)).collect()
}

/// A `#[derive(Model)]` struct.
pub struct Model {
    pub ident: Ident,
    pub vis: Visibility,
    pub generics: syn::Generics,
    pub fields: Vec<Field>,
    /// The declared collection name, if any.
    pub collection: Option<LitStr>,
    /// Indexes on paths into embedded models.
    pub index_paths: Vec<LitStr>,
    /// `compound_index(...)` declarations, as written.
    pub compound_indexes: Vec<crate::attr::CompoundList>,
    /// `count_by(...)` declarations, as written.
    pub counters: Vec<crate::attr::CountList>,
    /// Where `polymorphic` is written, for a hierarchy's base.
    pub polymorphic: Option<Span>,
    /// The base of a subclass.
    pub extends: Option<Path>,
    /// The denormalized copies, `reference.field`.
    pub copies: Vec<CopyPath>,
    /// The references joined in two steps, as written.
    pub joins_in_memory: Vec<Path>,
}

impl Model {
    /// Builds the model; the key is the field marked `key`, or else the field named `id`.
    pub fn from_input(input: ModelInput, cx: &mut Accumulator) -> Model {
        let mut fields = fields_of(input.data, cx);
        if !fields.iter().any(|f| f.role == Role::Key) {
            if let Some(id) = fields.iter_mut().find(|f| f.ident == "id" && f.role == Role::Stored) {
                id.role = Role::Key;
            }
        }
        Model {
            ident: input.ident,
            vis: input.vis,
            generics: input.generics,
            fields,
            collection: input.collection,
            index_paths: input.index,
            compound_indexes: input.compound_index,
            counters: input.count_by,
            polymorphic: input.polymorphic.is_present().then(|| input.polymorphic.span()),
            extends: input.extends,
            copies: input.denormalize.into_iter().flat_map(|l| l.0).collect(),
            joins_in_memory: input.join_in_memory.into_iter().flat_map(|l| l.to_vec()).collect(),
        }
    }

    /// The key field (the checks make sure there is exactly one).
    pub fn key(&self) -> Option<&Field> {
        self.fields.iter().find(|f| f.role == Role::Key)
    }

    /// The stored field named `ident` in Rust.
    pub fn stored(&self, ident: &Ident) -> Option<&Field> {
        self.fields.iter().find(|f| f.is_stored() && f.ident == *ident)
    }

    /// The references joined in two steps that are single identifiers.
    pub fn joined(&self) -> impl Iterator<Item = &Ident> {
        self.joins_in_memory.iter().filter_map(Path::get_ident)
    }
}

/// A `#[derive(Embedded)]` struct.
pub struct Embedded {
    pub ident: Ident,
    pub generics: syn::Generics,
    pub fields: Vec<Field>,
}

impl Embedded {
    /// Builds the embedded model.
    pub fn from_input(input: EmbeddedInput, cx: &mut Accumulator) -> Embedded {
        Embedded { fields: fields_of(input.data, cx), ident: input.ident, generics: input.generics }
    }
}

/// A `#[derive(Fields)]` struct: an abstract group of fields.
pub struct Fields {
    pub ident: Ident,
    pub vis: Visibility,
    pub generics: syn::Generics,
    pub fields: Vec<Field>,
}

impl Fields {
    /// Builds the field group.
    pub fn from_input(input: FieldsInput, cx: &mut Accumulator) -> Fields {
        Fields { fields: fields_of(input.data, cx), ident: input.ident, vis: input.vis, generics: input.generics }
    }
}
