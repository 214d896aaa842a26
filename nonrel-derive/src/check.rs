//! Cross-cutting rules over the `ast`, each reporting every violation into the error
//! context `cx` (never stopping at the first).

use crate::ast::{Embedded, Field, Fields, Model, Role};
use darling::error::Accumulator;
use darling::Error;
use std::collections::HashMap;

/// Every rule a model must follow.
pub fn model(cx: &mut Accumulator, model: &Model) {
    check_no_generics(cx, &model.generics, "a model");
    check_names(cx, &model.fields);
    check_field_attrs(cx, &model.fields, true);
    check_index_paths(cx, model);
    check_compound_indexes(cx, model);
    check_counters(cx, model);
    check_collection(cx, model);
    check_inheritance(cx, model);
    check_references(cx, model);
    check_on_delete(cx, &model.fields, true);
    check_key(cx, model);
}

/// Every rule an embedded model must follow.
pub fn embedded(cx: &mut Accumulator, embedded: &Embedded) {
    check_no_generics(cx, &embedded.generics, "an embedded model");
    check_names(cx, &embedded.fields);
    check_field_attrs(cx, &embedded.fields, false);
    check_on_delete(cx, &embedded.fields, false);
}

/// Every rule a field group must follow.
pub fn fields(cx: &mut Accumulator, group: &Fields) {
    check_no_generics(cx, &group.generics, "a field group");
    check_names(cx, &group.fields);
    check_group_fields(cx, &group.fields);
    check_field_attrs(cx, &group.fields, true);
}

/// Model descriptions are statics, which cannot depend on type parameters.
fn check_no_generics(cx: &mut Accumulator, generics: &syn::Generics, what: &str) {
    if let Some(p) = generics.params.first() {
        cx.push(Error::custom(format!("{what} cannot have generic or lifetime parameters")).with_span(p));
    }
}

/// A record is found by exactly one key.
fn check_key(cx: &mut Accumulator, model: &Model) {
    let ident = &model.ident;
    let keys: Vec<&Field> = model.fields.iter().filter(|f| f.role == Role::Key).collect();
    if keys.is_empty() {
        let msg = format!(
            "model `{ident}` has no key field: mark one field with #[field(key)] \
             (an automatic key is `#[field(key)] id: Option<Key<{ident}>>`)"
        );
        cx.push(Error::custom(msg).with_span(ident));
    }
    for f in keys.iter().skip(1) {
        let msg = format!("model `{ident}` has more than one #[field(key)]; a model has exactly one key");
        cx.push(Error::custom(msg).with_span(&f.written.key.unwrap_or_else(|| f.ident.span())));
    }
}

/// Stored names must be valid document keys, and unique: a later field would shadow an earlier.
fn check_names(cx: &mut Accumulator, fields: &[Field]) {
    let mut seen: HashMap<&str, &syn::Ident> = HashMap::new();
    for f in fields.iter().filter(|f| f.is_stored()) {
        let name = &f.name;
        if let Some(problem) = name_problem(name) {
            cx.push(Error::custom(format!("stored name {name:?} {problem}")).with_span(&f.name_span));
        }
        if let Some(other) = seen.insert(name, &f.ident) {
            let msg = format!("fields `{other}` and `{}` are both stored as {name:?}", f.ident);
            cx.push(Error::custom(msg).with_span(&f.name_span));
        }
    }
}

fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name == "_id" {
        Some("is reserved for the key")
    } else if name.contains('.') {
        Some("contains '.', which separates path segments")
    } else if name.starts_with('$') {
        Some("starts with '$', which marks operators")
    } else if name.starts_with("_ix_") {
        Some("starts with `_ix_`, which names the index fields of emulated lookups")
    } else if name.contains('\0') {
        Some("contains a NUL character")
    } else {
        None
    }
}

/// Attributes that contradict each other, or do not apply where they are written.
fn check_field_attrs(cx: &mut Accumulator, fields: &[Field], is_model: bool) {
    let mut extra_seen = false;
    for f in fields {
        let w = &f.written;
        let mut bad = |span: Option<proc_macro2::Span>, flag: bool, msg: &str| {
            if let (Some(span), true) = (span, flag) {
                cx.push(Error::custom(msg).with_span(&span));
            }
        };
        let (key, indexed) = (w.key.is_some(), f.is_indexed());
        bad(w.key, !is_model, "an embedded model has no key; remove #[field(key)]");
        bad(
            Some(f.ident.span()),
            !is_model && indexed,
            "index embedded fields from the model: #[model(index = \"field.path\")]",
        );
        bad(
            w.skip,
            key || indexed || w.extra.is_some(),
            "a skipped field is not stored, so it cannot be a key, indexed or extra",
        );
        bad(
            w.key,
            indexed || w.rename.is_some() || w.default,
            "the key field is stored as `_id`; it takes no rename, index or default",
        );
        bad(
            w.extra,
            key || indexed || w.rename.is_some(),
            "the extra field holds unknown fields; it takes no key, index or rename",
        );
        bad(w.extra, extra_seen, "only one field can hold unknown fields");
        bad(w.flatten, !is_model, "only a model can flatten a field group");
        bad(
            w.flatten,
            key || indexed || w.rename.is_some() || w.default || w.skip.is_some() || w.extra.is_some(),
            "a flattened group is stored as its own fields: it takes no key, index, rename, default, skip or extra",
        );
        bad(
            f.serde,
            key || w.skip.is_some() || w.extra.is_some() || w.flatten.is_some(),
            "#[field(serde)] stores a value through serde; it cannot be the key, skipped, extra or flattened",
        );
        bad(
            f.serde,
            !f.index.lookups.is_empty() || !f.index.patterns.is_empty(),
            "a field stored through serde has no known shape: it takes `index` and `unique` (equality), not declared lookups",
        );
        if let Some(span) = f.index.counted {
            use crate::ty::TypeShape;
            let inner = match &f.shape {
                TypeShape::Option(inner) => inner,
                other => other,
            };
            if matches!(inner, TypeShape::String | TypeShape::Vec(_)) {
                let msg = format!(
                    "`counted` keeps counts by blocks of numbers and dates, and `{}` holds {}: drop `counted`",
                    f.ident,
                    if matches!(inner, TypeShape::String) { "text" } else { "a list" }
                );
                cx.push(Error::custom(msg).with_span(&span));
            }
        }
        extra_seen |= w.extra.is_some();
    }
}

/// An index path names a stored field, then fields inside embedded models.
fn check_index_paths(cx: &mut Accumulator, model: &Model) {
    for p in &model.index_paths {
        let path = p.value();
        let first = path.split('.').next().unwrap_or_default();
        if path.split('.').any(|seg| name_problem(seg).is_some()) {
            cx.push(Error::custom(format!("index path {path:?} is not a dotted path of field names")).with_span(p));
        } else if !model.fields.iter().any(|f| f.is_stored() && f.name == first) {
            let msg = format!("index path {path:?} does not start with a stored field of this model");
            cx.push(Error::custom(msg).with_span(p));
        }
    }
}

/// A compound index names two or more distinct paths of stored fields, each optionally
/// preceded by `-` (descending).
fn check_compound_indexes(cx: &mut Accumulator, model: &Model) {
    for c in &model.compound_indexes {
        if c.parts.len() < 2 {
            let msg = "a compound index names two or more fields; one field takes #[field(index)]";
            cx.push(Error::custom(msg).with_span(&c.span));
        }
        let mut seen = Vec::new();
        for p in &c.parts {
            let written = p.value();
            let path = written.strip_prefix('-').unwrap_or(&written);
            let first = path.split('.').next().unwrap_or_default();
            if path.split('.').any(|seg| name_problem(seg).is_some()) {
                let msg = format!(
                    "compound index part {written:?} is not a dotted path of field names (`-` first for descending)"
                );
                cx.push(Error::custom(msg).with_span(p));
            } else if !model.fields.iter().any(|f| f.is_stored() && f.name == first) {
                let msg = format!("compound index part {written:?} does not start with a stored field of this model");
                cx.push(Error::custom(msg).with_span(p));
            } else if seen.contains(&path.to_string()) {
                cx.push(Error::custom(format!("compound index names {path:?} twice")).with_span(p));
            }
            seen.push(path.to_string());
        }
    }
}

/// A maintained count groups by stored fields that hold one scalar value (a string, a
/// number, a `Ref`, a key, a date, a flag, optionally in an `Option`): lists, maps, embedded
/// documents and serde fields are not groups. Each grouping is declared once.
fn check_counters(cx: &mut Accumulator, model: &Model) {
    use crate::ty::TypeShape;
    let mut seen: Vec<Vec<String>> = Vec::new();
    for c in &model.counters {
        let mut names = Vec::new();
        for ident in &c.fields {
            let written = ident.to_string();
            let Some(f) = model.fields.iter().find(|f| f.ident == written) else {
                let msg = format!("count_by names `{written}`, which is not a field of this model");
                cx.push(Error::custom(msg).with_span(ident));
                continue;
            };
            let shape = match &f.shape {
                TypeShape::Option(inner) => inner.as_ref(),
                other => other,
            };
            let ty = &f.ty;
            let type_name = quote::quote!(#ty).to_string().replace(' ', "");
            let last = type_name.rsplit("::").next().unwrap_or_default().to_string();
            let collection = ["HashMap", "BTreeMap", "HashSet", "BTreeSet", "Value", "Extra", "Document", "Bson"]
                .iter()
                .any(|n| last.starts_with(n) || type_name.contains(&format!("<{n}")));
            let problem = if f.role == Role::Key {
                Some("is the key: every record has a count of one")
            } else if !f.is_stored() {
                Some("is not stored")
            } else if f.serde.is_some() {
                Some("is stored through serde, not a scalar value")
            } else if matches!(shape, TypeShape::Vec(_) | TypeShape::Boxed(_) | TypeShape::Other) || collection {
                Some("does not hold one scalar value (a list, a map or a document cannot be counted by)")
            } else {
                None
            };
            if let Some(problem) = problem {
                let msg = format!(
                    "count_by field `{written}` {problem}; count by a string, number, flag, date, `Ref` or key field"
                );
                cx.push(Error::custom(msg).with_span(ident));
            }
            if names.contains(&written) {
                cx.push(Error::custom(format!("count_by names `{written}` twice")).with_span(ident));
            }
            names.push(written);
        }
        let mut sorted = names.clone();
        sorted.sort();
        if seen.contains(&sorted) {
            cx.push(Error::custom("this count_by grouping is declared twice").with_span(&c.span));
        }
        seen.push(sorted);
    }
}

/// A hierarchy is two levels deep and lives in its base's collection.
fn check_inheritance(cx: &mut Accumulator, model: &Model) {
    if model.extends.is_none() {
        return;
    }
    if let Some(span) = model.polymorphic {
        let msg = "a subclass cannot be a polymorphic base too: hierarchies are two levels deep";
        cx.push(Error::custom(msg).with_span(&span));
    }
    if let Some(c) = &model.collection {
        cx.push(Error::custom("a subclass lives in its base's collection; remove `collection`").with_span(c));
    }
}

/// A field group's fields are plain stored fields.
fn check_group_fields(cx: &mut Accumulator, fields: &[Field]) {
    for f in fields {
        let w = &f.written;
        for (span, what) in [(w.key, "key"), (w.extra, "extra"), (w.flatten, "flatten")] {
            if let Some(span) = span {
                let msg = format!("a field group holds plain fields: remove #[field({what})]");
                cx.push(Error::custom(msg).with_span(&span));
            }
        }
        if let Some(span) = f.index.first_lookup_span() {
            let msg = "emulated lookups are declared on a model's own field, not in a field group: \
                       keep `index` here and declare the lookups on a model field";
            cx.push(Error::custom(msg).with_span(&span));
        }
    }
}

/// A collection name must be usable as a MongoDB collection and a redb table name.
fn check_collection(cx: &mut Accumulator, model: &Model) {
    let Some(lit) = &model.collection else { return };
    let name = lit.value();
    let problem = if name.is_empty() {
        Some("is empty")
    } else if name.contains('$') || name.contains('\0') {
        Some("contains '$' or a NUL character")
    } else if name.starts_with("system.") {
        Some("starts with \"system.\", which MongoDB reserves")
    } else {
        None
    };
    if let Some(p) = problem {
        cx.push(Error::custom(format!("collection name {name:?} {p}")).with_span(lit));
    }
}

/// Copies and in-memory joins follow a stored reference of the model, each copy once: the
/// related model's fields are found through the reference's target.
fn check_references(cx: &mut Accumulator, model: &Model) {
    let mut seen: Vec<(String, String)> = Vec::new();
    for c in &model.copies {
        let pair = (c.reference.to_string(), c.field.to_string());
        if seen.contains(&pair) {
            cx.push(Error::custom(format!("`{}.{}` is denormalized twice", pair.0, pair.1)).with_span(&c.field));
        }
        seen.push(pair);
        check_reference(cx, model, &c.reference, "denormalize");
    }
    for p in &model.joins_in_memory {
        match p.get_ident() {
            Some(ident) => check_reference(cx, model, ident, "join_in_memory"),
            None => cx.push(Error::custom("`join_in_memory` takes `Ref` field names").with_span(p)),
        }
    }
}

fn check_reference(cx: &mut Accumulator, model: &Model, ident: &syn::Ident, what: &str) {
    let Some(f) = model.stored(ident) else {
        let msg = format!("`{what}`: `{ident}` is not a stored field of this model");
        return cx.push(Error::custom(msg).with_span(ident));
    };
    if f.shape.ref_target().is_none() {
        let msg = format!("`{what}`: field `{ident}` must have type `Ref<T>` (or `Option<Ref<T>>`) to follow it");
        cx.push(Error::custom(msg).with_span(ident));
    }
}

/// `on_delete` names what deleting the referenced record does to this one; only a model's
/// stored reference can declare it (an embedded model goes with the record holding it).
fn check_on_delete(cx: &mut Accumulator, fields: &[Field], is_model: bool) {
    for f in fields {
        let Some((_, span)) = f.on_delete else { continue };
        if !is_model {
            let msg =
                "declare on_delete on the model's field: an embedded model is deleted with the record that holds it";
            cx.push(Error::custom(msg).with_span(&span));
        } else if f.role != Role::Stored {
            let msg = "on_delete needs a stored reference field, not the key, a skipped or the extra field";
            cx.push(Error::custom(msg).with_span(&span));
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each check on its own: a struct with N independent mistakes of one kind reports N errors.

    use crate::ast::{Embedded, Fields, Model};
    use crate::attr::{EmbeddedInput, FieldsInput, ModelInput};
    use darling::error::Accumulator;
    use darling::FromDeriveInput;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn model_ast(tokens: TokenStream) -> Model {
        let input = ModelInput::from_derive_input(&syn::parse2(tokens).unwrap()).unwrap();
        let mut cx = darling::Error::accumulator();
        let model = Model::from_input(input, &mut cx);
        cx.finish().unwrap();
        model
    }

    /// The number of errors `check` reports on model `tokens`.
    fn count(check: fn(&mut Accumulator, &Model), tokens: TokenStream) -> usize {
        let model = model_ast(tokens);
        let mut cx = darling::Error::accumulator();
        check(&mut cx, &model);
        cx.finish().err().map_or(0, |e| e.len())
    }

    #[test]
    fn no_generics() {
        let check = |cx: &mut Accumulator, m: &Model| super::check_no_generics(cx, &m.generics, "a model");
        assert_eq!(
            count(
                check,
                quote!(
                    struct A<T> {
                        id: i64,
                        t: T,
                    }
                )
            ),
            1
        );
        assert_eq!(
            count(
                check,
                quote!(
                    struct A {
                        id: i64,
                    }
                )
            ),
            0
        );
    }

    #[test]
    fn key() {
        assert_eq!(
            count(
                super::check_key,
                quote!(
                    struct A {
                        name: String,
                    }
                )
            ),
            1
        );
        assert_eq!(
            count(
                super::check_key,
                quote!(
                    struct A {
                        id: i64,
                    }
                )
            ),
            0,
            "`id` is the key by default"
        );
        let three_keys = quote!(
            struct A {
                #[field(key)]
                a: i64,
                #[field(key)]
                b: i64,
                #[field(key)]
                c: i64,
            }
        );
        assert_eq!(count(super::check_key, three_keys), 2, "one error per key after the first");
    }

    #[test]
    fn names() {
        let check = |cx: &mut Accumulator, m: &Model| super::check_names(cx, &m.fields);
        let three = quote! {
            struct A {
                id: i64,
                #[field(rename = "a.b")] x: i32,
                #[field(rename = "$x")] y: i32,
                #[field(rename = "_ix_z")] z: i32,
                #[field(rename = "ok")] fine: i32,
            }
        };
        assert_eq!(count(check, three), 3);
        let clash = quote!(
            struct A {
                id: i64,
                a: i32,
                #[field(rename = "a")]
                b: i32,
                #[field(rename = "a")]
                c: i32,
            }
        );
        assert_eq!(count(check, clash), 2, "each later field stored as an earlier one's name");
    }

    #[test]
    fn field_attrs() {
        let check = |cx: &mut Accumulator, m: &Model| super::check_field_attrs(cx, &m.fields, true);
        let three = quote! {
            struct A {
                #[field(key, rename = "k")] id: i64,
                #[field(skip, index)] a: i32,
                #[field(extra, unique)] b: Extra,
                c: i32,
            }
        };
        assert_eq!(count(check, three), 3);
        let extras = quote!(
            struct A {
                id: i64,
                #[field(extra)]
                a: Extra,
                #[field(extra)]
                b: Extra,
            }
        );
        assert_eq!(count(check, extras), 1);
        let counted = quote!(
            struct A {
                id: i64,
                #[field(index(counted))]
                a: String,
                #[field(index(counted, covering))]
                b: Option<Vec<i64>>,
                #[field(index(counted))]
                c: Option<i64>,
                #[field(unique, index(counted))]
                d: f64,
            }
        );
        assert_eq!(count(check, counted), 2, "text and a list refused, numbers taken");
    }

    #[test]
    fn compound_indexes() {
        let four = quote! {
            #[model(compound_index("a"), compound_index("a", "-nope"), compound_index("a", "-a", "b..c"))]
            struct A { id: i64, a: String, b: i64 }
        };
        assert_eq!(count(super::check_compound_indexes, four), 4);
        let none = quote! {
            #[model(compound_index("a", "-b"), compound_index("b", "tag.name"))]
            struct A { id: i64, a: String, b: i64, tag: Tag }
        };
        assert_eq!(count(super::check_compound_indexes, none), 0);
    }

    #[test]
    fn counters() {
        let six = quote! {
            #[model(count_by(nope), count_by(id), count_by(tags), count_by(a, a), count_by(m), count_by(b, a), count_by(a, b))]
            struct A { id: i64, a: String, b: Option<Ref<B>>, tags: Vec<String>, m: HashMap<String, i64> }
        };
        assert_eq!(count(super::check_counters, six), 6, "unknown, key, list, twice, map, grouping twice");
        let none = quote! {
            #[model(count_by(a), count_by(a, b), count_by(), count_by(when))]
            struct A { id: i64, a: String, b: Option<Ref<B>>, when: DateTime<Utc> }
        };
        assert_eq!(count(super::check_counters, none), 0);
    }

    #[test]
    fn index_paths() {
        let three = quote! {
            #[model(index = "nope.x", index = "a..b", index = "$a", index = "tag.name")]
            struct A { id: i64, tag: Tag }
        };
        assert_eq!(count(super::check_index_paths, three), 3);
    }

    #[test]
    fn collection() {
        for bad in ["", "a$b", "system.x"] {
            assert_eq!(
                count(
                    super::check_collection,
                    quote!(
                        #[model(collection = #bad)]
                        struct A {
                            id: i64,
                        }
                    )
                ),
                1
            );
        }
        assert_eq!(
            count(
                super::check_collection,
                quote!(
                    #[model(collection = "ok")]
                    struct A {
                        id: i64,
                    }
                )
            ),
            0
        );
    }

    #[test]
    fn inheritance() {
        let two = quote!(
            #[model(extends = Base, polymorphic, collection = "x")]
            struct A {
                id: i64,
            }
        );
        assert_eq!(count(super::check_inheritance, two), 2);
        assert_eq!(
            count(
                super::check_inheritance,
                quote!(
                    #[model(polymorphic)]
                    struct A {
                        id: i64,
                    }
                )
            ),
            0
        );
    }

    #[test]
    fn references() {
        let three = quote! {
            #[model(denormalize(title.len, missing.x, author.name, author.name), join_in_memory(author, title))]
            struct A { id: i64, title: String, author: R<User> }
        };
        // `title.len`, `missing.x`, the second `author.name`, `join_in_memory(title)`.
        assert_eq!(count(super::check_references, three), 4);
        let renamed = quote! {
            #[model(denormalize(a.name, b.name, c.name), join_in_memory(a))]
            struct A { id: i64, a: R<User>, b: Option<Ref<User>>, c: Box<nonrel_runtime::Ref<crate::User>> }
        };
        assert_eq!(count(super::check_references, renamed), 0);
    }

    #[test]
    fn on_delete() {
        let check = |cx: &mut Accumulator, m: &Model| super::check_on_delete(cx, &m.fields, true);
        let three = quote! {
            struct A {
                #[field(key, on_delete = cascade)] id: i64,
                #[field(skip, on_delete = cascade)] a: R<B>,
                #[field(extra, on_delete = keep)] b: Extra,
                #[field(on_delete = cascade)] c: R<B>,
            }
        };
        assert_eq!(count(check, three), 3);
    }

    #[test]
    fn unknown_on_delete_actions_are_each_reported_while_building_the_ast() {
        let tokens = quote!(
            struct A {
                id: i64,
                #[field(on_delete = drop)]
                a: R<B>,
                #[field(on_delete = nullify)]
                b: R<B>,
            }
        );
        let input = ModelInput::from_derive_input(&syn::parse2(tokens).unwrap()).unwrap();
        let mut cx = darling::Error::accumulator();
        let model = Model::from_input(input, &mut cx);
        assert_eq!(cx.finish().unwrap_err().len(), 2);
        assert!(model.fields.iter().all(|f| f.on_delete.is_none()));
    }

    #[test]
    fn embedded_rules() {
        let tokens = quote! {
            struct E { #[field(key)] a: i64, #[field(index)] b: i32, #[field(flatten)] c: G, #[field(on_delete = keep)] d: R<B> }
        };
        let input = EmbeddedInput::from_derive_input(&syn::parse2(tokens).unwrap()).unwrap();
        let mut cx = darling::Error::accumulator();
        let embedded = Embedded::from_input(input, &mut cx);
        super::embedded(&mut cx, &embedded);
        assert_eq!(cx.finish().unwrap_err().len(), 4);
    }

    #[test]
    fn group_fields() {
        let tokens = quote! {
            struct G { #[field(key)] a: i64, #[field(extra)] b: Extra, #[field(index(icontains))] c: String, d: i32 }
        };
        let input = FieldsInput::from_derive_input(&syn::parse2(tokens).unwrap()).unwrap();
        let mut cx = darling::Error::accumulator();
        let group = Fields::from_input(input, &mut cx);
        super::check_group_fields(&mut cx, &group.fields);
        assert_eq!(cx.finish().unwrap_err().len(), 3);
    }
}
