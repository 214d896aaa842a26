//! Cross-cutting rules on a model's declaration, each collecting every violation.

use crate::attr::FieldInput;
use darling::{Error, Result};
use std::collections::HashMap;

/// Model descriptions are statics, which cannot depend on type parameters.
pub fn check_no_generics(generics: &syn::Generics, what: &str) -> Result<()> {
    match generics.params.first() {
        Some(p) => Err(Error::custom(format!("{what} cannot have generic or lifetime parameters")).with_span(p)),
        None => Ok(()),
    }
}

/// A record is found by exactly one key.
pub fn check_key<'f>(model: &syn::Ident, fields: &'f [FieldInput]) -> Result<&'f FieldInput> {
    let marked: Vec<&FieldInput> = fields.iter().filter(|f| f.key.is_present()).collect();
    match marked.as_slice() {
        [one] => Ok(one),
        [] => fields.iter().find(|f| f.ident() == "id").ok_or_else(|| {
            let msg = format!(
                "model `{model}` has no key field: mark one field with #[field(key)] \
                 (an automatic key is `#[field(key)] id: Option<Key<{model}>>`)"
            );
            Error::custom(msg).with_span(model)
        }),
        [_, rest @ ..] => {
            let mut errors = Error::accumulator();
            for f in rest {
                let msg = format!("model `{model}` has more than one #[field(key)]; a model has exactly one key");
                errors.push(Error::custom(msg).with_span(&f.key.span()));
            }
            errors.finish()?;
            unreachable!("an error was pushed")
        }
    }
}

/// Stored names must be valid document keys, and unique: a later field would shadow an earlier.
pub fn check_names(fields: &[FieldInput]) -> Result<()> {
    let mut errors = Error::accumulator();
    let mut seen: HashMap<String, &syn::Ident> = HashMap::new();
    for f in fields.iter().filter(|f| f.is_stored()) {
        let name = f.stored_name();
        let span = f.rename.as_ref().map_or_else(|| f.ident().span(), |r| r.span());
        if let Some(problem) = name_problem(&name) {
            errors.push(Error::custom(format!("stored name {name:?} {problem}")).with_span(&span));
        }
        if let Some(other) = seen.insert(name.clone(), f.ident()) {
            let msg = format!("fields `{other}` and `{}` are both stored as {name:?}", f.ident());
            errors.push(Error::custom(msg).with_span(&span));
        }
    }
    errors.finish()
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
pub fn check_field_attrs(fields: &[FieldInput], is_model: bool) -> Result<()> {
    let mut errors = Error::accumulator();
    let mut extra_seen = false;
    for f in fields {
        let mut bad = |flag: bool, span: proc_macro2::Span, msg: &str| {
            if flag {
                errors.push(Error::custom(msg).with_span(&span));
            }
        };
        let key = f.key.is_present();
        let indexed = f.index.is_present() || f.unique.is_present();
        bad(!is_model && key, f.key.span(), "an embedded model has no key; remove #[field(key)]");
        bad(
            !is_model && indexed,
            f.ident().span(),
            "index embedded fields from the model: #[model(index = \"field.path\")]",
        );
        bad(
            f.skip.is_present() && (key || indexed || f.extra.is_present()),
            f.skip.span(),
            "a skipped field is not stored, so it cannot be a key, indexed or extra",
        );
        bad(
            key && (indexed || f.rename.is_some() || f.default.is_some()),
            f.key.span(),
            "the key field is stored as `_id`; it takes no rename, index or default",
        );
        bad(
            f.extra.is_present() && (key || indexed || f.rename.is_some()),
            f.extra.span(),
            "the extra field holds unknown fields; it takes no key, index or rename",
        );
        bad(f.extra.is_present() && extra_seen, f.extra.span(), "only one field can hold unknown fields");
        bad(!is_model && f.flatten.is_present(), f.flatten.span(), "only a model can flatten a field group");
        bad(
            f.flatten.is_present()
                && (key || indexed || f.rename.is_some() || f.default.is_some() || f.skip.is_present())
                || f.flatten.is_present() && f.extra.is_present(),
            f.flatten.span(),
            "a flattened group is stored as its own fields: it takes no key, index, rename, default, skip or extra",
        );
        extra_seen |= f.extra.is_present();
    }
    errors.finish()
}

/// An index path names a stored field, then fields inside embedded models.
pub fn check_index_paths(paths: &[syn::LitStr], fields: &[FieldInput]) -> Result<()> {
    let mut errors = Error::accumulator();
    for p in paths {
        let path = p.value();
        let first = path.split('.').next().unwrap_or_default();
        if path.split('.').any(|seg| name_problem(seg).is_some()) {
            errors.push(Error::custom(format!("index path {path:?} is not a dotted path of field names")).with_span(p));
        } else if !fields.iter().any(|f| f.is_stored() && f.stored_name() == first) {
            let msg = format!("index path {path:?} does not start with a stored field of this model");
            errors.push(Error::custom(msg).with_span(p));
        }
    }
    errors.finish()
}

/// A hierarchy is two levels deep and lives in its base's collection.
pub fn check_inheritance(input: &crate::attr::ModelInput) -> Result<()> {
    let mut errors = Error::accumulator();
    if let Some(base) = &input.extends {
        if input.polymorphic.is_present() {
            let msg = "a subclass cannot be a polymorphic base too: hierarchies are two levels deep";
            errors.push(Error::custom(msg).with_span(&input.polymorphic.span()));
        }
        if let Some(c) = &input.collection {
            let msg = "a subclass lives in its base's collection; remove `collection`";
            errors.push(Error::custom(msg).with_span(c));
        }
        let _ = base;
    }
    errors.finish()
}

/// A field group's fields are plain stored fields.
pub fn check_group_fields(fields: &[FieldInput]) -> Result<()> {
    let mut errors = Error::accumulator();
    for f in fields {
        for (flag, what) in [(f.key, "key"), (f.extra, "extra"), (f.flatten, "flatten")] {
            if flag.is_present() {
                let msg = format!("a field group holds plain fields: remove #[field({what})]");
                errors.push(Error::custom(msg).with_span(&flag.span()));
            }
        }
        if let Some(span) = f.index.first_lookup_span() {
            let msg = "emulated lookups are declared on a model's own field, not in a field group: \
                       keep `index` here and declare the lookups on a model field";
            errors.push(Error::custom(msg).with_span(&span));
        }
    }
    errors.finish()
}

/// A collection name must be usable as a MongoDB collection and a redb table name.
pub fn check_collection(collection: Option<&syn::LitStr>) -> Result<()> {
    let Some(lit) = collection else { return Ok(()) };
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
    match problem {
        Some(p) => Err(Error::custom(format!("collection name {name:?} {p}")).with_span(lit)),
        None => Ok(()),
    }
}

/// `on_delete` names what deleting the referenced record does to this one: `cascade` deletes
/// it, `keep` (the default) leaves it; only a model's stored reference can declare it.
pub fn check_on_delete(fields: &[FieldInput], is_model: bool) -> Result<()> {
    let mut errors = Error::accumulator();
    for f in fields {
        let Some(action) = &f.on_delete else { continue };
        if !action.is_ident("cascade") && !action.is_ident("keep") {
            let msg = "unknown on_delete action: write `on_delete = cascade` (delete this record with the one it refers to) or `on_delete = keep` (the default)";
            errors.push(Error::custom(msg).with_span(action));
        } else if !is_model {
            let msg =
                "declare on_delete on the model's field: an embedded model is deleted with the record that holds it";
            errors.push(Error::custom(msg).with_span(action));
        } else if !f.is_stored() {
            let msg = "on_delete needs a stored reference field, not the key, a skipped or the extra field";
            errors.push(Error::custom(msg).with_span(action));
        }
    }
    errors.finish()
}
