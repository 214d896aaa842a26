//! The model traits the derives implement, the static model descriptions and the registry.

use crate::core::codec::{Decode, Encode};
use crate::core::key::{KeyKind, KeyValue};
use crate::error::Result;
use crate::schema::key::{Key, Ref};

/// A stored model: implemented by `#[derive(Model)]`.
///
/// ```
/// use nonrel_runtime::{Key, Model};
/// #[derive(Model, Debug, PartialEq)]
/// #[model(collection = "people")]
/// struct Person {
///     #[field(key)]
///     id: Option<Key<Person>>,
///     #[field(index)]
///     name: String,
///     age: u8,
/// }
/// assert_eq!(Person::DESC.collection, "people");
/// let ann = Person { id: None, name: "Ann".into(), age: 41 };
/// let mut doc = Vec::new();
/// ann.encode(&mut doc).unwrap();
/// assert_eq!(Person::decode(None, &doc).unwrap(), ann);
/// ```
pub trait Model: Sized + Send + Sync + 'static {
    /// The static description of the model.
    const DESC: &'static ModelDesc;

    /// The emulated lookups the model declares (`#[field(index(icontains, ...))]`).
    const LOOKUPS: &'static [crate::schema::lookup::LookupDesc] = &[];

    /// The record's key, if it has one (an automatic key has none before the first save).
    fn key_value(&self) -> Option<KeyValue>;

    /// Stores a key assigned by the backend.
    fn set_key_value(&mut self, key: KeyValue) -> Result<()>;

    /// Writes the stored document (without `_id`: backends store the key their own way).
    fn encode(&self, out: &mut Vec<u8>) -> Result<()>;

    /// Reads a stored document. The key comes from `key` or from the document's `_id`.
    fn decode(key: Option<&KeyValue>, doc: &[u8]) -> Result<Self>;

    /// The model's place in a polymorphic hierarchy, for a subclass
    /// (`#[model(extends = Base)]`): its queries only see its own records.
    const CLASS: Option<&'static ClassDesc> = None;

    /// The record's typed key.
    fn key(&self) -> Option<Key<Self>> {
        self.key_value().map(Key::from_value)
    }
}

/// An embedded model: stored inside another model's document. Implemented by
/// `#[derive(Embedded)]`.
pub trait EmbeddedModel: Encode + Decode + Send + Sync + 'static {
    /// The embedded model's fields.
    const FIELDS: &'static [FieldDesc];
}

/// What the derive knows about a model, available at run time.
#[derive(Debug)]
pub struct ModelDesc {
    /// The Rust name of the model.
    pub name: &'static str,
    /// The collection (table, key prefix) the records live in.
    pub collection: &'static str,
    /// The key field.
    pub key: KeyDesc,
    /// The stored fields, in declaration order (the key excluded).
    pub fields: &'static [FieldDesc],
    /// Declared indexes.
    pub indexes: &'static [IndexDesc],
    /// Declared compound indexes (`#[model(compound_index("category", "-created"))]`):
    /// orders over several fields that stores without a planner of their own need declared
    /// in advance (Datastore's composite indexes).
    pub compound_indexes: &'static [CompoundIndexDesc],
    /// Declared maintained counts (`#[model(count_by(author))]`), kept exact on every write
    /// by the backends that keep counters, and answered by an ordinary count elsewhere.
    pub counters: &'static [CounterDesc],
    /// Whether the model keeps unknown fields in an [`Extra`](crate::Extra) field.
    pub has_extra: bool,
}

impl ModelDesc {
    /// Whether `name` is a stored field of the model (or `_id`).
    pub fn knows_field(&self, name: &[u8]) -> bool {
        // `_ix_` fields are the index fields of emulated lookups, recomputed on every save.
        name == b"_id" || name.starts_with(b"_ix_") || self.fields.iter().any(|f| f.name.as_bytes() == name)
    }

    /// The index declared on a dotted path.
    pub fn index_on(&self, path: &str) -> Option<&'static IndexDesc> {
        self.indexes.iter().find(|i| i.path == path)
    }
}

/// The key field of a model.
#[derive(Debug)]
pub struct KeyDesc {
    /// The Rust field name.
    pub field: &'static str,
    /// How keys are made.
    pub kind: KeyKind,
}

/// A stored field.
#[derive(Debug, Clone, Copy)]
pub struct FieldDesc {
    /// The name in the stored document.
    pub name: &'static str,
    /// The Rust field name.
    pub rust_name: &'static str,
    /// The Rust type, as written.
    pub ty: &'static str,
    /// Where the stored value holds embedded models.
    pub shape: Shape,
}

/// Where a stored value holds embedded models, whose documents may carry fields the program
/// does not know: a save keeps those, at every depth.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// A value without embedded models (a map's or a dynamic value's keys are data): stored
    /// as the program has it.
    Plain,
    /// An embedded model (directly, in an `Option` or a `Box`): a document of `fields()`
    /// (a function, as a model may hold itself), or null.
    Nested {
        /// The embedded model's stored fields.
        fields: fn() -> &'static [FieldDesc],
        /// Whether the embedded model keeps its unknown fields itself, in an
        /// [`Extra`](crate::Extra) field.
        has_extra: bool,
    },
    /// A list whose elements have this shape; matched with the stored list by position.
    List(&'static Shape),
}

impl Shape {
    /// `List` of `inner`, or `Plain` when the elements hold no embedded model.
    pub const fn list(inner: &'static Shape) -> Shape {
        match inner {
            Shape::Plain => Shape::Plain,
            _ => Shape::List(inner),
        }
    }

    /// Whether the value holds no embedded model.
    pub const fn is_plain(&self) -> bool {
        matches!(self, Shape::Plain)
    }
}

/// A declared index.
#[derive(Debug, Clone, Copy)]
pub struct IndexDesc {
    /// The dotted path in the stored document.
    pub path: &'static str,
    /// Whether two records may not share a value.
    pub unique: bool,
    /// Whether each entry holds a copy of its record (`#[field(index(covering))]`), so a
    /// query the index serves reads the index alone. The embedded backend honours it;
    /// MongoDB keeps its own indexes and ignores it.
    pub covering: bool,
    /// Whether the index keeps the number of its entries in blocks of adjacent numbers and
    /// dates (`#[field(index(counted))]`), so a count over a range adds up a few blocks and
    /// reads only the entries at its two ends. The embedded backend honours it; the other
    /// backends count with their own indexes and ignore it.
    pub counted: bool,
}

/// A declared compound index: fields in order, each ascending or descending.
///
/// ```
/// # use nonrel_runtime::{Key, Model};
/// #[derive(Model)]
/// #[model(compound_index("category", "-created"))]
/// struct Post {
///     #[field(key)]
///     id: Option<Key<Post>>,
///     #[field(index)]
///     category: String,
///     created: i64,
/// }
/// let parts = Post::DESC.compound_indexes[0].parts;
/// assert_eq!((parts[1].path, parts[1].descending), ("created", true));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CompoundIndexDesc {
    /// The indexed fields, in order.
    pub parts: &'static [IndexPart],
}

/// One field of a [`CompoundIndexDesc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexPart {
    /// The dotted path in the stored document.
    pub path: &'static str,
    /// Whether the index orders this field from the largest value.
    pub descending: bool,
}

/// An entry of the model registry: every `#[derive(Model)]` submits one, with the module
/// path of the model's declaration.
#[doc(hidden)]
pub struct Registration(pub &'static ModelDesc, pub &'static str);

inventory::collect!(Registration);

/// Every model of the program (from every crate linked in), in no particular order.
///
/// ```
/// # use nonrel_runtime::{Key, Model};
/// #[derive(Model)]
/// struct Note { #[field(key)] id: Option<Key<Note>>, text: String }
/// assert!(nonrel_runtime::registered_models().any(|m| m.name == "Note"));
/// ```
///
/// The conformance kit's own models (feature `conformance`) are left out unless the kit's
/// cases are running, so enabling the feature anywhere in a build never adds them to a
/// program's dumps, checks, rebuilds or management commands.
pub fn registered_models() -> impl Iterator<Item = &'static ModelDesc> {
    inventory::iter::<Registration>.into_iter().filter(|r| kit_visible() || !is_kit_module(r.1)).map(|r| r.0)
}

/// Whether `m` is a model of the program: registered, and not one of the conformance kit's
/// while its cases are not running.
pub(crate) fn is_registered(m: &ModelDesc) -> bool {
    registered_models().any(|r| r.name == m.name && r.collection == m.collection)
}

/// The module path prefix of the conformance kit's models.
const KIT_MODULES: &str = "nonrel_runtime::conformance";

fn is_kit_module(module: &str) -> bool {
    module.starts_with(KIT_MODULES)
}

static KIT_VISIBLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn kit_visible() -> bool {
    KIT_VISIBLE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Makes the conformance kit's models part of the registry (its cases call this first).
#[cfg(feature = "conformance")]
pub(crate) fn show_kit_models() {
    KIT_VISIBLE.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn encode<M: Model>(m: &M) -> Result<Vec<u8>> {
    let mut doc = Vec::with_capacity(256);
    m.encode(&mut doc).and_then(|()| crate::core::codec::check_depth(&doc)).map_err(|e| {
        let e = e.with_model(M::DESC.name);
        match m.key_value() {
            Some(k) => e.with_key(k),
            None => e,
        }
    })?;
    Ok(doc)
}

pub(crate) fn decode<M: Model>(key: Option<&KeyValue>, doc: &[u8]) -> Result<M> {
    M::decode(key, doc).map_err(|e| {
        let e = e.with_model(M::DESC.name);
        match key {
            Some(k) => e.with_key(k),
            None => e,
        }
    })
}

pub(crate) fn key_of<M: Model>(m: &M) -> Result<Option<KeyValue>> {
    let key = m.key_value();
    if key.is_none() && M::DESC.key.kind != KeyKind::Auto {
        let msg = format!(
            "natural key field `{}` has no storable value (an empty string, or an integer beyond the 64-bit signed range)",
            M::DESC.key.field
        );
        return Err(crate::error::Error::new(crate::error::ErrorKind::InvalidKey, msg).with_model(M::DESC.name));
    }
    Ok(key)
}

/// Every registered model.
pub(crate) fn all_models() -> Result<Vec<&'static ModelDesc>> {
    let mut models: Vec<&'static ModelDesc> = registered_models().collect();
    models.sort_by_key(|m| (m.collection, m.name));
    Ok(models)
}

impl<M: Model> Key<M> {
    /// Parses a URL-safe string as a key of `M`.
    pub fn parse(s: &str) -> Result<Self> {
        KeyValue::parse(M::DESC.key.kind, s).map(Key::from_value).map_err(|e| e.with_model(M::DESC.name))
    }
}

impl<M: Model> std::str::FromStr for Key<M> {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> Result<Self> {
        Key::parse(s)
    }
}

/// A subclass's place in its hierarchy (the derive's `#[model(extends = Base)]`).
#[derive(Debug, Clone, Copy)]
pub struct ClassDesc {
    /// The base model's name.
    pub base: &'static str,
    /// This class's name, the last entry of its records' class list.
    pub name: &'static str,
}

/// A reference field that follows one `Ref`: `Ref<T>` or `Option<Ref<T>>` (see [`RefField`]).
#[derive(Debug)]
pub enum One {}

/// A reference field that holds a list of `Ref`s: `Vec<Ref<T>>` (see [`RefField`]).
#[derive(Debug)]
pub enum Many {}

/// What a reference field points to: the one trait every API that follows a reference names.
/// `Ref<T>` and `Option<Ref<T>>` are `RefField<One>`, `Vec<Ref<T>>` is `RefField<Many>`, and
/// [`Target`](RefField::Target) is `T`. `select_related`, `denormalize` and
/// `join_in_memory` follow `RefField<One>`; `prefetch_reverse` and `on_delete` take either.
///
/// ```
/// use nonrel_runtime::refs::{Many, One, RefField};
/// use nonrel_runtime::{Key, Model, Ref};
/// #[derive(Model)] struct User { #[field(key)] id: Option<Key<User>> }
/// fn target<V: RefField<C>, C>() -> &'static str { <V::Target as Model>::DESC.name }
/// assert_eq!(target::<Ref<User>, One>(), "User");
/// assert_eq!(target::<Option<Ref<User>>, One>(), "User");
/// assert_eq!(target::<Vec<Ref<User>>, Many>(), "User");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reference field of the kind this needs (`RefField<{C}>`)",
    label = "not a `Ref<T>` or `Option<Ref<T>>` (`One`), or a `Vec<Ref<T>>` (`Many`)",
    note = "`select_related`, `denormalize` and `join_in_memory` follow `Ref<T>` or `Option<Ref<T>>`; \
            for a `Vec<Ref<T>>` use `prefetch_related`; `prefetch_reverse` and `on_delete = cascade` \
            take any of the three"
)]
pub trait RefField<C = One> {
    /// The model referred to.
    type Target: Model;
}

impl<T: Model> RefField<One> for Ref<T> {
    type Target = T;
}

impl<T: Model> RefField<One> for Option<Ref<T>> {
    type Target = T;
}

impl<T: Model> RefField<Many> for Vec<Ref<T>> {
    type Target = T;
}

/// The model a reference field of either kind refers to (generated cascade declarations).
#[doc(hidden)]
pub const fn ref_target<V: RefField<C>, C>() -> &'static ModelDesc {
    <V::Target as Model>::DESC
}

/// A count kept exact on every write (`#[model(count_by(author, status))]`): the number of
/// records for each combination of values of `fields`; with no field, the total.
///
/// ```
/// use nonrel_runtime::{Key, Model};
/// #[derive(Model)]
/// #[model(count_by(author), count_by("author", "status"), count_by())]
/// struct Post {
///     #[field(key)]
///     id: Option<Key<Post>>,
///     author: String,
///     status: String,
/// }
/// let counters = Post::DESC.counters;
/// assert_eq!(counters[1].fields, ["author", "status"]);
/// assert_eq!(counters[1].name, "author,status");
/// assert!(counters[2].fields.is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterDesc {
    /// The grouping's name: its stored field names joined by commas (empty for the total).
    pub name: &'static str,
    /// The stored field names grouped by, in declaration order.
    pub fields: &'static [&'static str],
}
