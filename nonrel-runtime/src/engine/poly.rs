//! The engine side of [`poly`](crate::poly); its documentation is there.

use crate::backend::Backend;
use crate::core::value::Value;
use crate::error::{Error, Result};
use crate::plan::Projection;
pub use crate::schema::class::*;
use crate::schema::key::{Key, KeyValue};
use crate::schema::model::Model;
use std::any::{Any, TypeId};

/// The class list of a stored document (empty for a record saved through the base).
fn classes(doc: &[u8]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in crate::plan::eval::values_at(doc, CLASS_FIELD)? {
        match v {
            Value::Array(items) => out.extend(items.into_iter().filter_map(|v| v.as_str().map(str::to_owned))),
            Value::String(s) => out.push(s),
            _ => {}
        }
    }
    Ok(out)
}

/// Whether a stored document is a record of `M` (always, unless `M` is a subclass).
pub(crate) fn is_instance<M: Model>(doc: &[u8]) -> Result<bool> {
    match M::CLASS {
        None => Ok(true),
        Some(class) => Ok(classes(doc)?.iter().any(|c| c == class.name)),
    }
}

/// A record of base `B` as its own class: the subclass the class list names, or the base
/// for records saved through it and for classes this program does not know.
///
/// ```
/// # use nonrel_runtime::{Database, Key, Model};
/// # #[derive(Model, Debug, Clone, PartialEq)]
/// # #[model(polymorphic, collection = "poly_doc_shapes")]
/// # struct Shape { #[field(key)] id: i64, name: String }
/// # #[derive(Model, Debug, Clone, PartialEq)]
/// # #[model(extends = Shape)]
/// # struct Circle { #[field(key)] id: i64, name: String, r: f64 }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// # let db = Database::in_memory()?;
/// db.save(&mut Circle { id: 1, name: "c".into(), r: 2.0 }).await?;
/// let shape = db.get_polymorphic::<Shape>(1).await?.unwrap();
/// assert!(shape.is::<Circle>());
/// match shape.downcast::<Circle>() {
///     Ok(circle) => assert_eq!(circle.r, 2.0),
///     Err(other) => panic!("not a circle: {}", other.class()),
/// }
/// # Ok(()) }
/// ```
pub struct Poly<B> {
    base: B,
    class: String,
    record: Option<Box<dyn Any + Send + Sync>>,
    doc: Vec<u8>,
}

impl<B: PolymorphicBase> Poly<B> {
    /// The record's class: the last entry of its class list, or the base's name.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// Whether the record's class is known to this program (the base counts).
    pub fn is_known(&self) -> bool {
        self.record.is_some() || self.class == B::DESC.name
    }

    /// The record read as the base (every record has the base's fields).
    pub fn base(&self) -> &B {
        &self.base
    }

    /// The record as the base; saving it keeps the subclass's fields in the store.
    pub fn into_base(self) -> B {
        self.base
    }

    /// Whether the record is an `S`.
    pub fn is<S: Extends<B>>(&self) -> bool {
        self.record.as_ref().is_some_and(|r| r.is::<S>())
    }

    /// The record as an `S`, if it is one.
    pub fn downcast_ref<S: Extends<B>>(&self) -> Option<&S> {
        self.record.as_ref().and_then(|r| r.downcast_ref())
    }

    /// The record as an `S`, or `self` back if it is not one.
    pub fn downcast<S: Extends<B>>(self) -> std::result::Result<S, Self> {
        let Poly { base, class, record, doc } = self;
        match record.map(|r| r.downcast::<S>()) {
            Some(Ok(s)) => Ok(*s),
            Some(Err(record)) => Err(Poly { base, class, record: Some(record), doc }),
            None => Err(Poly { base, class, record: None, doc }),
        }
    }

    /// Every stored field of the record, those no class of this program knows included.
    pub fn fields(&self) -> Result<Vec<(String, Value)>> {
        Value::fields_of(&self.doc)
    }

    pub(crate) fn from_row(key: Option<&KeyValue>, doc: Vec<u8>) -> Result<Self> {
        let base = B::decode(key, &doc).map_err(|e| in_record(e, B::DESC.name, key))?;
        let listed = classes(&doc).map_err(|e| in_record(e, B::DESC.name, key))?;
        let class = listed.last().cloned().unwrap_or_else(|| B::DESC.name.to_owned());
        // The most specific class the program knows; the base when it knows none.
        let known = listed.iter().rev().find_map(|name| {
            inventory::iter::<ClassRegistration>.into_iter().find(|r| r.name == name && (r.base)() == TypeId::of::<B>())
        });
        let record = known.map(|r| (r.decode)(key, &doc)).transpose().map_err(|e| in_record(e, B::DESC.name, key))?;
        Ok(Poly { base, class, record, doc })
    }
}

fn in_record(e: Error, model: &'static str, key: Option<&KeyValue>) -> Error {
    let e = e.with_model(model);
    match key {
        Some(k) => e.with_key(k),
        None => e,
    }
}

impl<B: PolymorphicBase + std::fmt::Debug> std::fmt::Debug for Poly<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poly").field("class", &self.class).field("base", &self.base).finish_non_exhaustive()
    }
}

/// Deletes records of `M` by key, after their declared dependents; returns how many
/// were deleted. A subclass deletes only its own records: a key whose record is of another
/// class (a sibling, the base) is left alone and counts as missing, as `get` finds nothing
/// there. That costs one batched read of the records' class lists first; a record whose
/// class changes between that read and the delete (saved again as another class meanwhile)
/// is deleted as it was read.
pub(crate) async fn delete<M: Model, B: Backend>(backend: &B, keys: Vec<KeyValue>) -> Result<u64> {
    let keys = match M::CLASS {
        Some(_) if !keys.is_empty() => {
            let class_only = Projection::Only(vec![CLASS_FIELD.into()]);
            let docs = backend.get_many_projected(M::DESC, keys.clone(), class_only).await?;
            let mut own = Vec::with_capacity(keys.len());
            for (key, doc) in keys.into_iter().zip(docs) {
                if let Some(doc) = doc {
                    if is_instance::<M>(&doc).map_err(|e| in_record(e, M::DESC.name, Some(&key)))? {
                        own.push(key);
                    }
                }
            }
            own
        }
        _ => keys,
    };
    if keys.is_empty() {
        return Ok(0);
    }
    crate::engine::cascade::delete(&crate::engine::cascade::Direct(backend), M::DESC, keys).await
}

impl<S> Key<S> {
    /// The same key as a key of the base model (subclass records live in its collection).
    ///
    /// ```
    /// # use nonrel_runtime::{Key, Model};
    /// # #[derive(Model)] #[model(polymorphic)] struct Animal { #[field(key)] id: i64, name: String }
    /// # #[derive(Model)] #[model(extends = Animal)] struct Cat { #[field(key)] id: i64, name: String }
    /// let k: Key<Cat> = Key::from(3);
    /// assert_eq!(k.upcast::<Animal>(), Key::from(3));
    /// ```
    pub fn upcast<B: PolymorphicBase>(self) -> Key<B>
    where
        S: Extends<B>,
    {
        Key::from_value(self.into_value())
    }
}
