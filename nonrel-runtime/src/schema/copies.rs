//! Denormalized copies as the schema declares them: which model keeps which related
//! field, registered by `#[derive(Model)]`.

use crate::schema::model::ModelDesc;
use std::sync::OnceLock;

/// One declared denormalized copy: records of `holder` keep, in field `copy`, the value of
/// `field` of the `related` record their `reference` field refers to.
#[derive(Debug)]
pub struct CopyDesc {
    /// The model holding the `Ref` and the copy.
    pub holder: &'static ModelDesc,
    /// The stored name of the `Ref` field.
    pub reference: &'static str,
    /// The model referred to.
    pub related: &'static ModelDesc,
    /// The stored name of the copied field of the related model.
    pub field: &'static str,
    /// The stored name of the copy (reserved: `_dn_<reference>_<field>`), indexed.
    pub copy: &'static str,
}

/// An entry of the registry of copies: every `denormalize` declaration submits one.
#[doc(hidden)]
pub struct CopyRegistration(pub &'static CopyDesc);

inventory::collect!(CopyRegistration);

/// Every declared denormalized copy of the program.
///
/// ```
/// use nonrel_runtime::{Key, Model, Ref};
/// #[derive(Model)]
/// struct User { #[field(key)] id: Option<Key<User>>, name: String }
/// #[derive(Model)]
/// #[model(denormalize(author.name))]
/// struct Post { #[field(key)] id: Option<Key<Post>>, author: Ref<User> }
/// let copy = nonrel_runtime::registered_copies().find(|c| c.holder.name == "Post").unwrap();
/// assert_eq!((copy.reference, copy.related.name, copy.field), ("author", "User", "name"));
/// ```
pub fn registered_copies() -> impl Iterator<Item = &'static CopyDesc> {
    all_copies().iter().copied()
}

fn all_copies() -> &'static [&'static CopyDesc] {
    static ALL: OnceLock<Vec<&'static CopyDesc>> = OnceLock::new();
    ALL.get_or_init(|| inventory::iter::<CopyRegistration>.into_iter().map(|r| r.0).collect())
}

pub(crate) fn same_model(a: &ModelDesc, b: &ModelDesc) -> bool {
    a.name == b.name && a.collection == b.collection
}

/// The copies `holder` keeps.
pub(crate) fn copies_held_by(holder: &ModelDesc) -> impl Iterator<Item = &'static CopyDesc> + '_ {
    registered_copies().filter(move |c| same_model(c.holder, holder))
}

/// The copies of `related`'s fields other models keep.
pub(crate) fn copies_of(related: &ModelDesc) -> impl Iterator<Item = &'static CopyDesc> + '_ {
    registered_copies().filter(move |c| same_model(c.related, related))
}

pub(crate) fn copy_for(holder: &ModelDesc, reference: &str, field: &str) -> Option<&'static CopyDesc> {
    copies_held_by(holder).find(|c| c.reference == reference && c.field == field)
}
