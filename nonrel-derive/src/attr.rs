//! The derives' attributes, parsed with darling: the receivers the `ast` is built from.

use darling::util::Override;
use darling::{ast, Error, FromDeriveInput, FromField, FromMeta, Result};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, Path, Token, Type, Visibility};

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
    /// The base of a polymorphic hierarchy.
    #[darling(default)]
    pub polymorphic: darling::util::Flag,
    /// A subclass of this polymorphic base.
    #[darling(default)]
    pub extends: Option<Path>,
    /// `denormalize(author.username, ...)`: copies of related fields.
    #[darling(default, multiple)]
    pub denormalize: Vec<CopyList>,
    /// `join_in_memory(author, ...)`: `Ref` fields joined in two steps.
    #[darling(default, multiple)]
    pub join_in_memory: Vec<darling::util::PathList>,
    /// `compound_index("category", "-created")`: an index over several fields, in order.
    #[darling(default, multiple)]
    pub compound_index: Vec<CompoundList>,
    /// `count_by(author)`, `count_by(author, status)`, `count_by()`: counts kept exact on
    /// every write, by the values of these fields (none: the total).
    #[darling(default, multiple)]
    pub count_by: Vec<CountList>,
}

/// A field named in `count_by`: `author`, or `"author"` (a string keeps clippy's
/// `duplicated_attributes` lint quiet when a field is in several groupings).
struct CountName(Ident);

impl Parse for CountName {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(syn::LitStr) {
            let lit: syn::LitStr = input.parse()?;
            let ident = syn::parse_str::<Ident>(&lit.value())
                .map_err(|_| syn::Error::new(lit.span(), "count_by names fields: write the field's name"))?;
            return Ok(CountName(Ident::new(&ident.to_string(), lit.span())));
        }
        Ok(CountName(Ident::parse_any(input)?))
    }
}

/// `count_by(author, status)`: field names (none for the total count).
pub struct CountList {
    pub fields: Vec<Ident>,
    pub span: proc_macro2::Span,
}

impl FromMeta for CountList {
    fn from_meta(item: &syn::Meta) -> Result<Self> {
        let span = syn::spanned::Spanned::span(item);
        let fields = match item {
            syn::Meta::Path(_) => Vec::new(),
            syn::Meta::List(list) if list.tokens.is_empty() => Vec::new(),
            syn::Meta::List(list) => list
                .parse_args_with(Punctuated::<CountName, Token![,]>::parse_terminated)
                .map_err(Error::from)?
                .into_iter()
                .map(|n| n.0)
                .collect(),
            syn::Meta::NameValue(_) => {
                return Err(Error::custom("write `count_by(field, ...)`, or `count_by()` for the total").with_span(item))
            }
        };
        Ok(CountList { fields, span })
    }
}

/// `compound_index("category", "-created")`: dotted paths, `-` for descending.
pub struct CompoundList {
    pub parts: Vec<syn::LitStr>,
    pub span: proc_macro2::Span,
}

impl FromMeta for CompoundList {
    fn from_meta(item: &syn::Meta) -> Result<Self> {
        let syn::Meta::List(list) = item else {
            return Err(Error::custom("write `compound_index(\"field\", \"-other_field\", ...)`").with_span(item));
        };
        let parts =
            list.parse_args_with(Punctuated::<syn::LitStr, Token![,]>::parse_terminated).map_err(Error::from)?;
        Ok(CompoundList { parts: parts.into_iter().collect(), span: syn::spanned::Spanned::span(item) })
    }
}

/// `#[derive(Embedded)]` input.
#[derive(FromDeriveInput)]
#[darling(supports(struct_named))]
pub struct EmbeddedInput {
    pub ident: Ident,
    pub generics: syn::Generics,
    pub data: ast::Data<(), FieldInput>,
}

/// `#[derive(Fields)]` input: an abstract group of fields.
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
    /// A `#[derive(Fields)]` group stored as top-level fields.
    #[darling(default)]
    pub flatten: darling::util::Flag,
    /// Stored through the type's serde implementations (`Serialize + DeserializeOwned`).
    #[darling(default)]
    pub serde: darling::util::Flag,
    /// `on_delete = cascade` on a reference: deleting the referenced record deletes this one.
    #[darling(default)]
    pub on_delete: Option<Path>,
}

/// One `ref_field.related_field` of a `denormalize(...)` list.
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
#[derive(Default)]
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
