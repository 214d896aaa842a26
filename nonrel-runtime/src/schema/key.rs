//! Typed keys and references: one API for int, string and ObjectId keys, typed by model,
//! URL-safe. The key values they hold are in [`core::key`](crate::core::key).

use crate::core::codec::{Decode, Encode};
use crate::core::key::invalid;
pub use crate::core::key::{decode_id, KeyKind, KeyValue, ObjectId};
use crate::error::Result;
use std::fmt;
use std::marker::PhantomData;

/// The key of a record of model `M`: a `Key<Post>` cannot fetch a `User`.
///
/// Every key has a URL-safe string form ([`Display`](fmt::Display)) that parses back
/// ([`FromStr`](std::str::FromStr)); for a model with numeric keys a numeric string parses to the int key.
///
/// ```
/// use nonrel_runtime::{Key, Model};
/// #[derive(Model)]
/// struct Post { #[field(key)] id: Option<Key<Post>>, title: String }
/// #[derive(Model)]
/// struct User { #[field(key)] name: String }
///
/// let k: Key<Post> = "42".parse().unwrap();
/// assert_eq!(k, Key::from(42));
/// let u: Key<User> = Key::from("ann lee/2");
/// assert_eq!(u.to_string(), "ann%20lee%2F2");
/// assert_eq!("ann%20lee%2F2".parse::<Key<User>>().unwrap(), u);
/// assert!("%zz".parse::<Key<User>>().is_err());
/// ```
pub struct Key<M> {
    value: KeyValue,
    _model: PhantomData<fn() -> M>,
}

impl<M> Key<M> {
    /// A key of `M` with this value.
    pub fn from_value(value: KeyValue) -> Self {
        Key { value, _model: PhantomData }
    }

    /// The untyped value.
    pub fn value(&self) -> &KeyValue {
        &self.value
    }

    /// Consumes the key into its value.
    pub fn into_value(self) -> KeyValue {
        self.value
    }

    /// The URL-safe string form.
    pub fn to_url_safe(&self) -> String {
        self.value.to_url_safe()
    }
}

impl<M> Clone for Key<M> {
    fn clone(&self) -> Self {
        Key::from_value(self.value.clone())
    }
}

impl<M> PartialEq for Key<M> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<M> Eq for Key<M> {}

impl<M> std::hash::Hash for Key<M> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}

impl<M> PartialOrd for Key<M> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<M> Ord for Key<M> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<M> fmt::Debug for Key<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.value)
    }
}

impl<M> fmt::Display for Key<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)
    }
}

impl<M> From<i64> for Key<M> {
    fn from(n: i64) -> Self {
        Key::from_value(KeyValue::Int(n))
    }
}

impl<M> From<&str> for Key<M> {
    fn from(s: &str) -> Self {
        Key::from_value(KeyValue::Str(s.to_owned()))
    }
}

impl<M> From<String> for Key<M> {
    fn from(s: String) -> Self {
        Key::from_value(KeyValue::Str(s))
    }
}

impl<M> From<ObjectId> for Key<M> {
    fn from(o: ObjectId) -> Self {
        Key::from_value(KeyValue::ObjectId(o))
    }
}

impl<M> Encode for Key<M> {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.value.encode(name, out)
    }
}

impl<M> Decode for Key<M> {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        KeyValue::decode(ty, value).map(Key::from_value)
    }
}

/// A reference to a record of another model: stores only its key.
///
/// ```
/// use nonrel_runtime::{Key, Model, Ref};
/// #[derive(Model)]
/// struct User { #[field(key)] name: String }
/// let author: Ref<User> = Ref::new(Key::from("ann"));
/// assert_eq!(author.key().to_string(), "ann");
/// ```
pub struct Ref<T> {
    key: Key<T>,
}

impl<T> Ref<T> {
    /// A reference to the record with this key.
    pub fn new(key: Key<T>) -> Self {
        Ref { key }
    }

    /// The referenced record's key.
    pub fn key(&self) -> &Key<T> {
        &self.key
    }
}

impl<T> From<Key<T>> for Ref<T> {
    fn from(key: Key<T>) -> Self {
        Ref::new(key)
    }
}

impl<T> Clone for Ref<T> {
    fn clone(&self) -> Self {
        Ref::new(self.key.clone())
    }
}

impl<T> PartialEq for Ref<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<T> Eq for Ref<T> {}

impl<T> std::hash::Hash for Ref<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state)
    }
}

impl<T> fmt::Debug for Ref<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref({})", self.key.value)
    }
}

impl<T> Encode for Ref<T> {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.key.encode(name, out)
    }
}

impl<T> Decode for Ref<T> {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        Key::decode(ty, value).map(Ref::new)
    }
}

/// A type that can be a model's key field.
///
/// `Option<Key<Self>>` makes an automatic key (assigned on first save); an integer type or
/// `String` makes a natural key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the key field of `{M}`",
    label = "not a key type of `{M}`",
    note = "a key field is `Option<Key<{M}>>` (automatic), an integer type or `String` (natural)"
)]
pub trait KeyField<M>: Sized {
    /// How keys of this field are made.
    const KIND: KeyKind;
    /// The type a condition on the key compares with (the key field's descriptor,
    /// `Post::id()`, is a field of this type): [`Key<M>`] for an automatic key, else the
    /// natural key's own type.
    type Value;
    /// The key, if it has one (an automatic key before the first save has none).
    fn key_value(&self) -> Option<KeyValue>;
    /// The field holding this key.
    fn from_key_value(key: &KeyValue) -> Result<Self>;
    /// The field of a record stored without a key (only automatic keys allow it).
    fn absent() -> Option<Self> {
        None
    }
}

/// The key field of a decoded record (used by generated decoders).
#[doc(hidden)]
pub fn decode_key<M, K: KeyField<M>>(key: Option<&KeyValue>) -> Result<K> {
    match key {
        Some(k) => K::from_key_value(k),
        None => K::absent().ok_or_else(|| invalid("the stored record has no key".into())),
    }
}

impl<M> KeyField<M> for Option<Key<M>> {
    const KIND: KeyKind = KeyKind::Auto;
    type Value = Key<M>;
    fn key_value(&self) -> Option<KeyValue> {
        self.as_ref().map(|k| k.value.clone())
    }
    fn from_key_value(key: &KeyValue) -> Result<Self> {
        Ok(Some(Key::from_value(key.clone())))
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl<M> KeyField<M> for String {
    const KIND: KeyKind = KeyKind::Str;
    type Value = String;
    /// The empty string is no key: its URL-safe form would be the empty string, which
    /// names no record, so a record with an empty natural key is refused at save.
    fn key_value(&self) -> Option<KeyValue> {
        (!self.is_empty()).then(|| KeyValue::Str(self.clone()))
    }
    fn from_key_value(key: &KeyValue) -> Result<Self> {
        match key {
            KeyValue::Str(s) => Ok(s.clone()),
            other => Err(invalid(format!("stored key {other} is not a string"))),
        }
    }
}

macro_rules! int_key {
    ($($t:ty),*) => {$(
        impl<M> KeyField<M> for $t {
            const KIND: KeyKind = KeyKind::Int;
            type Value = $t;
            fn key_value(&self) -> Option<KeyValue> {
                i64::try_from(*self).ok().map(KeyValue::Int)
            }
            fn from_key_value(key: &KeyValue) -> Result<Self> {
                match key {
                    KeyValue::Int(n) => <$t>::try_from(*n)
                        .map_err(|_| invalid(format!("stored key {n} is out of range for {}", stringify!($t)))),
                    other => Err(invalid(format!("stored key {other} is not an integer"))),
                }
            }
        }
    )*};
}

int_key!(i8, i16, i32, i64, u8, u16, u32, u64);

/// Anything that names a record of `M`: its [`Key`], or the value of a natural key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a key of `{M}`",
    label = "not a key of `{M}`",
    note = "a `Key<T>` or `Ref<T>` names records of `T` only; a natural key's value (`&str`, an integer) names records of the model whose key field has its type"
)]
pub trait AsKey<M> {
    /// The key value.
    fn as_key(&self) -> KeyValue;
}

impl<M> AsKey<M> for Key<M> {
    fn as_key(&self) -> KeyValue {
        self.value.clone()
    }
}

impl<M> AsKey<M> for &Key<M> {
    fn as_key(&self) -> KeyValue {
        self.value.clone()
    }
}

impl<M> AsKey<M> for Ref<M> {
    fn as_key(&self) -> KeyValue {
        self.key.value.clone()
    }
}

impl<M> AsKey<M> for &Ref<M> {
    fn as_key(&self) -> KeyValue {
        self.key.value.clone()
    }
}
