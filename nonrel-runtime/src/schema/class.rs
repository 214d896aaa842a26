//! Polymorphic models as the schema describes them: class lists, the subclass
//! registry and the indexes a shared collection holds.

use crate::core::codec::{self, header, Encode};
use crate::core::key::KeyValue;
use crate::error::Result;
pub use crate::schema::model::ClassDesc;
use crate::schema::model::{IndexDesc, Model, ModelDesc};
use std::any::{Any, TypeId};

/// The stored name of the class list.
pub const CLASS_FIELD: &str = "_class";

/// The base of a polymorphic hierarchy: implemented by `#[model(polymorphic)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a polymorphic base model",
    label = "`extends` needs a model declared with #[model(polymorphic)]",
    note = "declare the base with #[model(polymorphic)]; hierarchies are two levels deep: a subclass cannot \
            itself be extended (extend its base instead, sharing fields through a #[derive(Fields)] group)"
)]
pub trait PolymorphicBase: Model {}

/// A subclass of `B`: implemented by `#[model(extends = B)]`.
pub trait Extends<B: PolymorphicBase>: Model {}

/// Decodes a stored record as a subclass, boxed.
type DecodeFn = fn(Option<&KeyValue>, &[u8]) -> Result<Box<dyn Any + Send + Sync>>;

/// A registered subclass (the derive submits one per `#[model(extends = ...)]`).
#[doc(hidden)]
pub struct ClassRegistration {
    pub base: fn() -> TypeId,
    pub collection: &'static str,
    pub name: &'static str,
    pub decode: DecodeFn,
}

inventory::collect!(ClassRegistration);

/// `TypeId::of::<T>` as a function pointer (for registrations built in const context).
#[doc(hidden)]
pub fn type_id_of<T: 'static>() -> TypeId {
    TypeId::of::<T>()
}

/// Decodes a record as `M`, boxed (for registrations).
#[doc(hidden)]
pub fn decode_boxed<M: Model>(key: Option<&KeyValue>, doc: &[u8]) -> Result<Box<dyn Any + Send + Sync>> {
    M::decode(key, doc).map(|m| Box::new(m) as Box<dyn Any + Send + Sync>).map_err(|e| e.with_model(M::DESC.name))
}

/// Writes a subclass's class list (used by generated encoders).
#[doc(hidden)]
pub fn encode_class(out: &mut Vec<u8>, class: &ClassDesc) -> Result<()> {
    header(out, codec::ARRAY, b"_class\0");
    let start = codec::begin_document(out);
    class.base.encode(b"0\0", out)?;
    class.name.encode(b"1\0", out)?;
    codec::end_document(out, start)
}

/// The indexes a write through `m` keeps: its own, then, in the collection of a polymorphic
/// hierarchy, those of the other registered models of the collection (a base deleting a
/// subclass record removes the subclass's entries too).
pub(crate) fn collection_indexes(m: &'static ModelDesc) -> Vec<&'static IndexDesc> {
    let mut out: Vec<&'static IndexDesc> = m.indexes.iter().collect();
    if !inventory::iter::<ClassRegistration>.into_iter().any(|r| r.collection == m.collection) {
        return out;
    }
    for other in crate::schema::model::registered_models().filter(|o| o.collection == m.collection) {
        for idx in other.indexes {
            if !out.iter().any(|i| i.path == idx.path && i.unique == idx.unique) {
                out.push(idx);
            }
        }
    }
    out
}
