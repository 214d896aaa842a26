//! Typed field descriptors: `Post::title()` and paths into embedded models and lists.

use super::query::{top_level, Condition, Direction, Op, Order, Projection, Query, BAD_KEY};
use crate::core::codec::{begin_document, end_document, Decode, Elements, Encode};
use crate::core::value::{Blob, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::schema::key::{Key, ObjectId, Ref};
use crate::schema::model::Model;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::marker::PhantomData;

/// A dotted path into model `M`'s stored document, where the value has type `T`.
///
/// Made by the generated descriptor functions (`Post::title()`); its lookup methods exist
/// only for fitting types: `startswith` on text, `gt` on ordered values, `contains` on text
/// and lists. `F` names the model's field for declarations made on it (a marker type the
/// derive generates for each top-level field, `()` for paths below it).
pub struct Field<M, T, F = ()> {
    path: Cow<'static, str>,
    _types: PhantomData<Marker<M, T, F>>,
}

/// What a [`Field`] is about, without owning any of it (covariant, `Send` and `Sync`).
type Marker<M, T, F> = fn() -> (M, T, F);

/// Tags a descriptor with the marker type `F` of the model field it describes (used by
/// generated code): plain fields become `Field<M, T, F>`, embedded paths stay as they are.
#[doc(hidden)]
pub trait Mark<F> {
    /// The tagged descriptor.
    type Marked;
    /// Tags it.
    fn mark(self) -> Self::Marked;
}

impl<M, T, F> Mark<F> for Field<M, T> {
    type Marked = Field<M, T, F>;
    fn mark(self) -> Field<M, T, F> {
        Field { path: self.path, _types: PhantomData }
    }
}

impl<M, T, F> Field<M, T, F> {
    pub(crate) fn at(path: Cow<'static, str>) -> Self {
        Field { path, _types: PhantomData }
    }

    /// The dotted path in the stored document.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn into_path(self) -> Cow<'static, str> {
        self.path
    }

    fn condition(self, op: Result<Op>) -> Condition<M> {
        Condition::new(self.path, op)
    }

    /// Null or missing (`true`), or present (`false`).
    pub fn isnull(self, is_null: bool) -> Condition<M> {
        self.condition(Ok(Op::IsNull(is_null)))
    }

    /// Ascending order on this field.
    pub fn asc(self) -> Order<M> {
        Order::new(self.path, Direction::Asc)
    }

    /// Descending order on this field.
    pub fn desc(self) -> Order<M> {
        Order::new(self.path, Direction::Desc)
    }

    /// Equal to `v` (`exact`).
    pub fn eq(self, v: impl IntoLookup<T>) -> Condition<M>
    where
        T: Encode,
    {
        self.condition(v.into_lookup().map(Op::Eq))
    }

    /// Not equal to `v`.
    pub fn ne(self, v: impl IntoLookup<T>) -> Condition<M>
    where
        T: Encode,
    {
        self.condition(v.into_lookup().map(Op::Ne))
    }

    /// Equal to one of `values`.
    pub fn is_in<V: IntoLookup<T>>(self, values: impl IntoIterator<Item = V>) -> Condition<M>
    where
        T: Encode,
    {
        let values: Result<Vec<Value>> = values.into_iter().map(IntoLookup::into_lookup).collect();
        self.condition(values.map(Op::In))
    }

    /// Greater than `v`.
    pub fn gt(self, v: impl IntoLookup<T>) -> Condition<M>
    where
        T: Ordered,
    {
        self.condition(v.into_lookup().map(Op::Gt))
    }

    /// Greater than or equal to `v`.
    pub fn gte(self, v: impl IntoLookup<T>) -> Condition<M>
    where
        T: Ordered,
    {
        self.condition(v.into_lookup().map(Op::Gte))
    }

    /// Less than `v`.
    pub fn lt(self, v: impl IntoLookup<T>) -> Condition<M>
    where
        T: Ordered,
    {
        self.condition(v.into_lookup().map(Op::Lt))
    }

    /// Less than or equal to `v`.
    pub fn lte(self, v: impl IntoLookup<T>) -> Condition<M>
    where
        T: Ordered,
    {
        self.condition(v.into_lookup().map(Op::Lte))
    }

    /// Between `low` and `high`, both included.
    pub fn range(self, low: impl IntoLookup<T>, high: impl IntoLookup<T>) -> Condition<M>
    where
        T: Ordered,
    {
        let op = low.into_lookup().and_then(|l| Ok(Op::Range(l, high.into_lookup()?)));
        self.condition(op)
    }

    /// Text starting with `prefix`.
    pub fn startswith(self, prefix: impl Into<String>) -> Condition<M>
    where
        T: Text,
    {
        self.condition(Ok(Op::StartsWith(prefix.into())))
    }

    /// Text containing a substring, or a list or set holding an element.
    pub fn contains(self, v: impl IntoLookup<T::Needle>) -> Condition<M>
    where
        T: Containable,
    {
        self.condition(v.into_lookup().and_then(T::contains_op))
    }
}

impl<M, V: Describe, F> Field<M, BTreeMap<String, V>, F> {
    /// The value under `key` in a map field. A key no map can store (empty, containing `.`
    /// or NUL, or starting with `$`) makes the query that uses it fail with
    /// [`ErrorKind::Encode`].
    pub fn get(self, key: &str) -> V::Path<M> {
        V::describe(map_path(&self.path, key))
    }
}

impl<M, V: Describe, S, F> Field<M, HashMap<String, V, S>, F> {
    /// The value under `key` in a map field (see [`Field::get`] on `BTreeMap` fields).
    pub fn get(self, key: &str) -> V::Path<M> {
        V::describe(map_path(&self.path, key))
    }
}

/// The path of the value under `key` in the map at `path`.
fn map_path(path: &str, key: &str) -> Cow<'static, str> {
    if crate::core::codec::bad_map_key(key, ErrorKind::Encode).is_none() {
        return Cow::Owned(format!("{path}.{key}"));
    }
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    Cow::Owned(format!("{path}.{BAD_KEY}{hex}{BAD_KEY}"))
}

/// A value usable as the operand of a lookup on a field of type `T`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be compared with a field of type `{T}`",
    label = "expected a value of the field's type `{T}`"
)]
pub trait IntoLookup<T> {
    /// The value as stored.
    fn into_lookup(self) -> Result<Value>;
}

/// Any storable value, as the stored value: a plain scalar directly, anything else through
/// its encoding (so both always agree; a unit test checks the scalars).
pub fn to_value<T: Encode + ?Sized>(v: &T) -> Result<Value> {
    use crate::core::codec::Scalar;
    Ok(match v.scalar() {
        Some(Scalar::Text(s)) => Value::String(s.to_owned()),
        Some(Scalar::Int64(n)) => Value::Int64(n),
        Some(Scalar::Double(f)) => Value::Double(f),
        Some(Scalar::Bool(b)) => Value::Bool(b),
        None => return encoded_value(v),
    })
}

/// [`to_value`] through the encoding: the element `v` writes, read back.
fn encoded_value<T: Encode + ?Sized>(v: &T) -> Result<Value> {
    let mut doc = Vec::with_capacity(32);
    let start = begin_document(&mut doc);
    v.encode(b"v\0", &mut doc)?;
    end_document(&mut doc, start)?;
    if crate::core::codec::too_deep_field(&doc)?.is_some() {
        return Err(crate::core::codec::too_deep_error());
    }
    let el = Elements::new(&doc)?.next().ok_or_else(|| Error::new(ErrorKind::Encode, "value wrote no element"))??;
    Value::from_element(el.ty, el.value)
}

impl<T: Encode> IntoLookup<T> for T {
    fn into_lookup(self) -> Result<Value> {
        to_value(&self)
    }
}

impl<T: Encode> IntoLookup<T> for &T {
    fn into_lookup(self) -> Result<Value> {
        to_value(self)
    }
}

impl IntoLookup<String> for &str {
    fn into_lookup(self) -> Result<Value> {
        Ok(Value::String(self.to_owned()))
    }
}

impl<M> IntoLookup<Ref<M>> for Key<M> {
    fn into_lookup(self) -> Result<Value> {
        to_value(&self)
    }
}

impl<M> IntoLookup<Ref<M>> for &Key<M> {
    fn into_lookup(self) -> Result<Value> {
        to_value(self)
    }
}

/// Types with an order: `gt`, `gte`, `lt`, `lte` and `range` apply.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no order, so `gt`, `gte`, `lt`, `lte` and `range` do not apply",
    label = "not an ordered field",
    note = "ordered fields are numbers, text, decimals, date-times, keys and dynamic values"
)]
pub trait Ordered {}

/// Text types: `startswith` applies.
#[diagnostic::on_unimplemented(
    message = "`startswith` needs a text field, and `{Self}` is not text",
    label = "not a text field"
)]
pub trait Text {}

impl Text for String {}

/// Types `contains` applies to: text (substring) and lists and sets (membership).
#[diagnostic::on_unimplemented(
    message = "`contains` needs a text, list or set field, and `{Self}` is none of them",
    label = "not text, a list or a set"
)]
pub trait Containable {
    /// What `contains` looks for: a substring or an element.
    type Needle;
    #[doc(hidden)]
    fn contains_op(v: Value) -> Result<Op>;
}

impl Containable for String {
    type Needle = String;
    fn contains_op(v: Value) -> Result<Op> {
        match v {
            Value::String(s) => Ok(Op::Contains(s)),
            other => Err(Error::new(ErrorKind::Encode, format!("substring must be text, got {other:?}"))),
        }
    }
}

macro_rules! list_containable {
    ($($t:ident < T $(, $s:ident)? >),*) => {$(
        impl<T $(, $s)?> Containable for $t<T $(, $s)?> {
            type Needle = T;
            fn contains_op(v: Value) -> Result<Op> {
                Ok(Op::Has(v))
            }
        }
    )*};
}

list_containable!(Vec<T>, BTreeSet<T>, HashSet<T, S>);

/// A field type's descriptor: `Field<M, Self>` for plain values, a path type with one method
/// per field for embedded models (generated by `#[derive(Embedded)]`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a supported nonrel field type",
    label = "unsupported field type",
    note = "supported: bool, integers, f32, f64, String, Decimal, DateTime<Utc>, Blob, Value, ObjectId, Key<T>, Ref<T>, Option<T>, Vec<T>, BTreeSet<T>, HashSet<T>, BTreeMap<String, T>, HashMap<String, T>, Box<T>, and types with #[derive(Embedded)]",
    note = "mark a field that is not stored with #[field(skip)]"
)]
pub trait Describe: Encode + Decode {
    /// The descriptor of a field of this type in model `M`.
    type Path<M>;
    /// The descriptor of a list of this type in model `M`.
    type ListPath<M>;
    /// Where the stored value holds embedded models.
    const SHAPE: crate::schema::model::Shape = crate::schema::model::Shape::Plain;
    /// The descriptor at `path`.
    fn describe<M>(path: Cow<'static, str>) -> Self::Path<M>;
    /// The descriptor of a list at `path`.
    fn describe_list<M>(path: Cow<'static, str>) -> Self::ListPath<M>;
}

macro_rules! plain {
    ($($t:ty),* $(,)?) => {$(
        impl Describe for $t {
            type Path<M> = Field<M, $t>;
            type ListPath<M> = Field<M, Vec<$t>>;
            fn describe<M>(path: Cow<'static, str>) -> Self::Path<M> {
                Field::at(path)
            }
            fn describe_list<M>(path: Cow<'static, str>) -> Self::ListPath<M> {
                Field::at(path)
            }
        }
    )*};
}

macro_rules! ordered {
    ($($t:ty),* $(,)?) => {$( impl Ordered for $t {} )*};
}

macro_rules! plain_ordered {
    ($($t:ty),* $(,)?) => {
        plain!($($t),*);
        ordered!($($t),*);
    };
}

plain!(bool, Blob);
plain_ordered!(
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    f32,
    f64,
    String,
    Decimal,
    DateTime<Utc>,
    Value,
    ObjectId
);

impl<K> Ordered for Key<K> {}

macro_rules! generic_plain {
    ($($t:ident < $($p:ident),* >),* $(,)?) => {$(
        impl<$($p),*> Describe for $t<$($p),*>
        where
            Self: Encode + Decode,
        {
            type Path<M> = Field<M, $t<$($p),*>>;
            type ListPath<M> = Field<M, Vec<$t<$($p),*>>>;
            fn describe<M>(path: Cow<'static, str>) -> Self::Path<M> {
                Field::at(path)
            }
            fn describe_list<M>(path: Cow<'static, str>) -> Self::ListPath<M> {
                Field::at(path)
            }
        }
    )*};
}

generic_plain!(Key<K>, Ref<K>, BTreeSet<T>, HashSet<T, S>, BTreeMap<K, V>, HashMap<K, V, S>);

impl<T: Describe> Describe for Vec<T>
where
    Self: Encode + Decode,
{
    type Path<M> = T::ListPath<M>;
    type ListPath<M> = Field<M, Vec<Vec<T>>>;
    const SHAPE: crate::schema::model::Shape = crate::schema::model::Shape::list(&T::SHAPE);
    fn describe<M>(path: Cow<'static, str>) -> Self::Path<M> {
        T::describe_list(path)
    }
    fn describe_list<M>(path: Cow<'static, str>) -> Self::ListPath<M> {
        Field::at(path)
    }
}

impl<T: Describe> Describe for Option<T>
where
    Self: Encode + Decode,
{
    type Path<M> = T::Path<M>;
    type ListPath<M> = T::ListPath<M>;
    const SHAPE: crate::schema::model::Shape = T::SHAPE;
    fn describe<M>(path: Cow<'static, str>) -> Self::Path<M> {
        T::describe(path)
    }
    fn describe_list<M>(path: Cow<'static, str>) -> Self::ListPath<M> {
        T::describe_list(path)
    }
}

impl<T: Describe> Describe for Box<T>
where
    Self: Encode + Decode,
{
    type Path<M> = T::Path<M>;
    type ListPath<M> = T::ListPath<M>;
    const SHAPE: crate::schema::model::Shape = T::SHAPE;
    fn describe<M>(path: Cow<'static, str>) -> Self::Path<M> {
        T::describe(path)
    }
    fn describe_list<M>(path: Cow<'static, str>) -> Self::ListPath<M> {
        T::describe_list(path)
    }
}

/// Joins a parent path and a field name (used by generated embedded descriptors).
#[doc(hidden)]
pub fn join(parent: &str, name: &'static str) -> Cow<'static, str> {
    if parent.is_empty() {
        return Cow::Borrowed(name);
    }
    Cow::Owned(format!("{parent}.{name}"))
}

impl<M: Model, On> Query<M, On> {
    /// Loads only this field (call once per field); the others load as their type's
    /// default, and MongoDB does not send them.
    pub fn only<T, F>(mut self, field: Field<M, T, F>) -> Self {
        let name = top_level(field.path());
        match &mut self.plan.projection {
            Some(Projection::Only(names)) => names.push(name),
            _ => self.plan.projection = Some(Projection::Only(vec![name])),
        }
        self
    }

    /// Does not load this field (call once per field); it loads as its type's default.
    pub fn defer<T, F>(mut self, field: Field<M, T, F>) -> Self {
        let name = top_level(field.path());
        match &mut self.plan.projection {
            Some(Projection::Defer(names)) => names.push(name),
            _ => self.plan.projection = Some(Projection::Defer(vec![name])),
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same value, doubles compared by their bits (so NaN and -0.0 count).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    fn check<T: Encode + ?Sized + std::fmt::Debug>(v: &T) {
        assert!(v.scalar().is_some(), "{v:?} is made directly");
        let (direct, encoded) = (to_value(v).unwrap(), encoded_value(v).unwrap());
        assert!(same(&direct, &encoded), "{v:?}: {direct:?} made directly, {encoded:?} through the encoding");
    }

    #[test]
    fn values_made_directly_are_the_values_their_encoding_reads_back_as() {
        let long = "x".repeat(300);
        for t in ["", "a", "a\0b", "\u{e9}t\u{e9}", long.as_str()] {
            check(t);
            check(&t.to_owned());
            check(&Box::new(t.to_owned()));
        }
        for n in [0i64, 1, -1, i64::MIN, i64::MAX, 1 << 40, -(1 << 31)] {
            check(&n);
        }
        for f in [0.0f64, -0.0, 1.5, -2.25e300, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE] {
            check(&f);
        }
        check(&true);
        check(&false);
        // Types without a direct value go through the encoding, as before.
        assert!(7i32.scalar().is_none());
        assert_eq!(to_value(&7i32).unwrap(), Value::Int32(7));
    }
}
