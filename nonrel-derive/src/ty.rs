//! Field types classified by parsing, where the derive must know a type's shape.
//!
//! A type's syntax names what it is only when it is spelled out: `Option<T>`, `Vec<T>`,
//! `Box<T>`, `Ref<T>`, `Key<T>` and the natural key types. Anything else may be an alias or
//! a renamed import, so it is `Unknown` here and left to the trait bounds the generated code
//! puts on it (`Describe`, `KeyField`, `RefField`...), which see through every spelling.

use syn::{GenericArgument, PathArguments, Type};

/// The scalar types that make a natural key.
const INTEGERS: [&str; 8] = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"];

/// What a field type's syntax says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeShape {
    /// `Option<T>`.
    Option(Box<TypeShape>),
    /// `Vec<T>`.
    Vec(Box<TypeShape>),
    /// `Box<T>`.
    Boxed(Box<TypeShape>),
    /// `Ref<T>`, with `T`.
    Ref(Type),
    /// `Key<T>`, with `T`.
    Key(Type),
    /// `String`.
    String,
    /// An integer type that can be a natural key.
    Integer,
    /// `Name<T>` with one type argument and any other name: maybe an alias of one of the
    /// above, which only a trait bound can tell.
    Generic(Box<TypeShape>, Type),
    /// A path without type arguments that is none of the above: a model, an embedded
    /// model, a scalar, or an alias of anything.
    Unknown,
    /// A reference, tuple, array or other syntax no field type supported by name uses.
    Other,
}

impl TypeShape {
    /// Classifies `ty` by its syntax.
    pub fn of(ty: &Type) -> TypeShape {
        let ty = strip_groups(ty);
        let Type::Path(tp) = ty else { return TypeShape::Other };
        if tp.qself.is_some() {
            return TypeShape::Unknown;
        }
        let Some(last) = tp.path.segments.last() else { return TypeShape::Other };
        let name = last.ident.to_string();
        match single_type_argument(&last.arguments) {
            None if !last.arguments.is_none() => TypeShape::Unknown,
            None if name == "String" => TypeShape::String,
            None if INTEGERS.contains(&name.as_str()) => TypeShape::Integer,
            None => TypeShape::Unknown,
            Some(inner) => match name.as_str() {
                "Option" => TypeShape::Option(Box::new(TypeShape::of(inner))),
                "Vec" => TypeShape::Vec(Box::new(TypeShape::of(inner))),
                "Box" => TypeShape::Boxed(Box::new(TypeShape::of(inner))),
                "Ref" => TypeShape::Ref(inner.clone()),
                "Key" => TypeShape::Key(inner.clone()),
                _ => TypeShape::Generic(Box::new(TypeShape::of(inner)), inner.clone()),
            },
        }
    }

    /// The model a single reference of this shape points to: `Ref<T>`, `Option<Ref<T>>`,
    /// `Box<Ref<T>>`, or `R<T>` for a name `R` that may be a renamed `Ref` (the generated
    /// code then checks that the type refers to `T`). `None` when the syntax rules it out.
    pub fn ref_target(&self) -> Option<&Type> {
        match self {
            TypeShape::Ref(target) => Some(target),
            TypeShape::Option(inner) | TypeShape::Boxed(inner) => inner.ref_target(),
            TypeShape::Generic(inner, target) if **inner == TypeShape::Unknown => Some(target),
            _ => None,
        }
    }

    /// What the syntax says a key field of this type is.
    pub fn key_kind(&self) -> KeyShape {
        match self {
            TypeShape::Option(_) | TypeShape::Key(_) => KeyShape::NotNatural,
            TypeShape::String => KeyShape::String,
            TypeShape::Integer => KeyShape::Integer,
            _ => KeyShape::Unknown,
        }
    }
}

impl TypeShape {
    /// Whether a key field of this shape may be a key of `model` (`Option<Key<model>>`, a
    /// natural key type, or an alias the trait bounds decide); `false` when the spelling
    /// already rules it out, whose error the key's own checks give once.
    pub fn may_key(&self, model: &syn::Ident) -> bool {
        let names_model = |ty: &Type| match strip_groups(ty) {
            Type::Path(tp) => tp.path.segments.last().is_some_and(|s| s.ident == *model || s.ident == "Self"),
            _ => false,
        };
        match self {
            TypeShape::Option(inner) => matches!(&**inner, TypeShape::Key(target) if names_model(target)),
            TypeShape::String | TypeShape::Integer | TypeShape::Unknown => true,
            _ => false,
        }
    }
}

/// A key field's kind as far as its spelling tells.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyShape {
    /// An automatic key or a type that is no key at all: no natural key values.
    NotNatural,
    /// `String`: natural, and a `&str` names a record.
    String,
    /// An integer: natural.
    Integer,
    /// An alias or renamed import: trait bounds in the generated code decide.
    Unknown,
}

fn strip_groups(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => strip_groups(&g.elem),
        Type::Paren(p) => strip_groups(&p.elem),
        other => other,
    }
}

fn single_type_argument(args: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(args) = args else { return None };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(inner)] => Some(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{KeyShape, TypeShape};
    use syn::parse_quote;

    fn shape(ty: syn::Type) -> TypeShape {
        TypeShape::of(&ty)
    }

    #[test]
    fn reference_targets_through_wrappers_and_renamed_imports() {
        let user: syn::Type = parse_quote!(User);
        let path: syn::Type = parse_quote!(crate::models::User);
        assert_eq!(shape(parse_quote!(Ref<User>)).ref_target(), Some(&user));
        assert_eq!(shape(parse_quote!(::nonrel_runtime::Ref<User>)).ref_target(), Some(&user));
        assert_eq!(shape(parse_quote!(Option<Ref<User>>)).ref_target(), Some(&user));
        assert_eq!(shape(parse_quote!(Box<Option<R<User>>>)).ref_target(), Some(&user));
        assert_eq!(shape(parse_quote!(R<crate::models::User>)).ref_target(), Some(&path));
        for not_a_ref in [
            parse_quote!(String),
            parse_quote!(Vec<Ref<User>>),
            parse_quote!(Option<String>),
            parse_quote!(Key<User>),
            parse_quote!(BTreeMap<String, Ref<User>>),
            parse_quote!(Wrap<Vec<User>>),
            parse_quote!(&'static str),
        ] {
            assert_eq!(shape(not_a_ref).ref_target(), None);
        }
    }

    #[test]
    fn key_kinds_by_spelling_and_unknown_for_aliases() {
        assert_eq!(shape(parse_quote!(Option<Key<Post>>)).key_kind(), KeyShape::NotNatural);
        assert_eq!(shape(parse_quote!(std::option::Option<Key<Post>>)).key_kind(), KeyShape::NotNatural);
        assert_eq!(shape(parse_quote!(Key<Post>)).key_kind(), KeyShape::NotNatural);
        assert_eq!(shape(parse_quote!(String)).key_kind(), KeyShape::String);
        assert_eq!(shape(parse_quote!(::std::string::String)).key_kind(), KeyShape::String);
        assert_eq!(shape(parse_quote!(u32)).key_kind(), KeyShape::Integer);
        assert_eq!(shape(parse_quote!(Text)).key_kind(), KeyShape::Unknown);
        assert_eq!(shape(parse_quote!(Id<Post>)).key_kind(), KeyShape::Unknown);
    }
}
