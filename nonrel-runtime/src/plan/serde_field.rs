//! Fields stored through serde (`#[field(serde)]`, feature `serde`): any type implementing
//! `Serialize + DeserializeOwned` becomes the document, array or scalar bson's serializer
//! makes of it, on every backend.

use super::field::{to_value, Describe, Field, IntoLookup};
use crate::core::codec::{begin_document, end_document, header, Decode, Elements, Encode};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::borrow::Cow;

/// A value stored through its serde implementations: what a `#[field(serde)]` field of type
/// `T` is stored and described as.
///
/// The field itself keeps its type `T`; its descriptor is a [`Field`] of `Serde<T>`, whose
/// only lookups are equality (`eq`, `ne`, `is_in`, and `isnull`), since the stored shape is
/// whatever `T`'s `Serialize` makes. Operands are values of `T`, stored the same way.
///
/// ```
/// use nonrel_runtime::{Database, Key, Model};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
/// enum Shape { Circle { radius: f64 }, Square(f64) }
///
/// #[derive(Model, Debug, PartialEq)]
/// struct Drawing {
///     #[field(key)]
///     id: Option<Key<Drawing>>,
///     #[field(serde)]
///     shape: Shape,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// let db = Database::in_memory()?;
/// let mut d = Drawing { id: None, shape: Shape::Circle { radius: 2.0 } };
/// let key = db.save(&mut d).await?;
/// assert_eq!(db.get(&key).await?, Some(d));
/// let circles = db.query::<Drawing>().filter(Drawing::shape().eq(Shape::Circle { radius: 2.0 })).all().await?;
/// assert_eq!(circles.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Serde<T>(pub T);

impl<T> Serde<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// The error of a value serde could not write.
fn encode_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Encode, format!("serde could not store the value: {e}"))
}

/// Writes `v` as one element, through bson's serializer (used by generated code for
/// `#[field(serde)]` fields, naming the field in any error).
#[doc(hidden)]
pub fn encode_serde_field<T: Serialize>(v: &T, name: &[u8], field: &str, out: &mut Vec<u8>) -> Result<()> {
    encode_serde(v, name, out).map_err(|e| e.with_field(field))
}

fn encode_serde<T: Serialize + ?Sized>(v: &T, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let value = bson::serialize_to_bson(v).map_err(encode_error)?;
    let mut doc = bson::Document::new();
    doc.insert("v", value);
    let bytes = doc.to_vec().map_err(encode_error)?;
    let el = Elements::new(&bytes)?.next().ok_or_else(|| encode_error("it wrote no value"))??;
    header(out, el.ty, name);
    out.extend_from_slice(el.value);
    Ok(())
}

/// The stored value, briefly, for messages.
fn brief(value: &bson::Bson) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

impl<T: Serialize> Encode for Serde<T> {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        encode_serde(&self.0, name, out)
    }
}

impl<T: DeserializeOwned> Decode for Serde<T> {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        let mut doc = Vec::with_capacity(value.len() + 8);
        let start = begin_document(&mut doc);
        header(&mut doc, ty, b"v\0");
        doc.extend_from_slice(value);
        end_document(&mut doc, start)?;
        let read = bson::Document::from_reader(doc.as_slice())
            .map_err(|e| Error::new(ErrorKind::Decode, format!("malformed document: {e}")))?;
        let stored = read.get("v").cloned().unwrap_or(bson::Bson::Null);
        bson::deserialize_from_bson(stored.clone()).map(Serde).map_err(|e| {
            let msg = format!("stored value {} is not a `{}`: {e}", brief(&stored), std::any::type_name::<T>());
            Error::new(ErrorKind::Decode, msg)
        })
    }

    /// What serde reads from null, if anything (`None` for an `Option`): a missing field is
    /// read as a null.
    fn when_missing() -> Option<Self> {
        bson::deserialize_from_bson(bson::Bson::Null).ok().map(Serde)
    }
}

impl<T: Serialize + DeserializeOwned> Describe for Serde<T> {
    type Path<M> = Field<M, Serde<T>>;
    type ListPath<M> = Field<M, Vec<Serde<T>>>;
    fn describe<M>(path: Cow<'static, str>) -> Self::Path<M> {
        Field::at(path)
    }
    fn describe_list<M>(path: Cow<'static, str>) -> Self::ListPath<M> {
        Field::at(path)
    }
}

impl<T: Serialize> IntoLookup<Serde<T>> for T {
    fn into_lookup(self) -> Result<Value> {
        to_value(&Serde(self))
    }
}

impl<T: Serialize> IntoLookup<Serde<T>> for &T {
    fn into_lookup(self) -> Result<Value> {
        to_value(&Serde(self))
    }
}
