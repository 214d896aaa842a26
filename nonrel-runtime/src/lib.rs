//! # nonrel
//!
//! A typed model layer for non-relational databases. Derive [`Model`] on a plain struct and
//! get, at compile time, field descriptors for typed queries, conversion to and from stored
//! BSON documents, key encoding and index maintenance; run it on the embedded default
//! backend (a redb file) or another [`Backend`].
//!
//! ```
//! use nonrel_runtime::{Database, Key, Model, Ref};
//!
//! #[derive(Model, Debug)]
//! struct User {
//!     #[field(key)]
//!     username: String,
//!     #[field(unique)]
//!     email: String,
//! }
//!
//! #[derive(nonrel_runtime::Embedded, Debug)]
//! struct Comment {
//!     author: String,
//!     text: String,
//! }
//!
//! #[derive(Model, Debug)]
//! #[model(collection = "posts")]
//! struct Post {
//!     #[field(key)]
//!     id: Option<Key<Post>>,
//!     #[field(index)]
//!     title: String,
//!     author: Ref<User>,
//!     #[field(index)]
//!     tags: Vec<String>,
//!     comments: Vec<Comment>,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> nonrel_runtime::Result<()> {
//! let db = Database::in_memory()?;
//! let mut ann = User { username: "ann".into(), email: "ann@example.com".into() };
//! let ann_key = db.save(&mut ann).await?;
//! let mut post = Post {
//!     id: None,
//!     title: "Hello".into(),
//!     author: ann_key.into(),
//!     tags: vec!["intro".into()],
//!     comments: vec![Comment { author: "bob".into(), text: "hi!".into() }],
//! };
//! db.save(&mut post).await?;
//! let by_bob = db
//!     .query::<Post>()
//!     .filter(Post::comments().author().eq("bob"))
//!     .filter(Post::tags().contains("intro"))
//!     .all()
//!     .await?;
//! assert_eq!(by_bob[0].title, "Hello");
//! # Ok(()) }
//! ```

extern crate self as nonrel_runtime;

// The layers, each depending only on those above it in this list (see ARCHITECTURE.md; the
// `layers` test enforces it).
mod api;
pub mod backend;
#[cfg(feature = "conformance")]
pub mod conformance;
mod core;
mod embedded;
mod engine;
mod error;
#[cfg(feature = "mongodb")]
pub mod mongo;
mod plan;
mod schema;

pub use crate::backend::capability;
pub use crate::core::codec;

/// Order-preserving byte encodings of values, as the embedded backend's index keys use them:
/// within a type class the bytes sort like the values (MongoDB's order), so a backend that
/// keeps index entries as sorted bytes (a key-value store's ordered keys, lexicographic sorted
/// sets) reads equality, ranges and prefixes as byte ranges and gets the same answers.
pub mod order {
    pub use crate::core::order::{class_tag, encode, encoded, escaped_prefix, ordered_class, other_class, successor};
}

/// Aggregates over a query's records: [`Count`](aggregate::Count), [`Sum`](aggregate::Sum),
/// [`Avg`](aggregate::Avg), [`Min`](aggregate::Min) and [`Max`](aggregate::Max), alone or in a
/// tuple, for [`Query::aggregate`] and per group after [`Query::group_by`]; see
/// [`Query::sum`], [`Query::distinct`] and [`Query::values`] too.
pub mod aggregate {
    pub use crate::api::aggregate::{
        Aggregates, Avg, Count, GroupKey, Grouped, GroupedAggregates, Max, Min, Numeric, Projected, Sum,
    };
    pub use crate::embedded::{AggregateExplain, AggregateStrategy};
}

/// Queries as typed builders describe them and as backends receive them: conditions,
/// orderings, the untyped [`Plan`](query::Plan) with its joins, selections, cursor positions
/// and update operations, and [`eval`](query::eval), their meaning on a stored document.
pub mod query {
    pub use crate::plan::aggregate;
    pub use crate::plan::eval;
    pub use crate::plan::join::{JoinFilter, Selection};
    pub use crate::plan::lookup::Lookup;
    pub use crate::plan::seek::Seek;
    pub use crate::plan::update::{UpdateKind, UpdateOp};
    pub use crate::plan::{
        all, any, not, to_value, Accepts, Condition, Containable, Describe, Detached, Direction, Field, Filter,
        IntoLookup, Native, Op, Order, OrderBy, Ordered, Plan, Projection, Query, Text, BOOLEAN_PATH, KEY,
    };
}

pub mod lookup {
    //! Emulated lookups and the capability checks that guard them.
    //!
    //! `iexact`, `istartswith`, `endswith`, `icontains`, `regex`, `year`, `month`, `day` and
    //! `week_day` need more than a plain index: MongoDB runs them natively, the embedded backend
    //! runs them through index fields the model declares in advance:
    //!
    //! ```
    //! use nonrel_runtime::{Database, DateTime, Key, Model, Utc};
    //!
    //! #[derive(Model)]
    //! struct Post {
    //!     #[field(key)]
    //!     id: Option<Key<Post>>,
    //!     #[field(index(icontains, iexact))]
    //!     title: String,
    //!     #[field(index(month, year))]
    //!     published: DateTime<Utc>,
    //! }
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> nonrel_runtime::Result<()> {
    //! let db = Database::in_memory()?;
    //! let when = "2024-03-05T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
    //! db.save(&mut Post { id: None, title: "Hello, World".into(), published: when }).await?;
    //! let found = db.query::<Post>().filter(Post::title().icontains("WORLD")).filter(Post::published().month(3)).all().await?;
    //! assert_eq!(found.len(), 1);
    //! # Ok(()) }
    //! ```
    //!
    //! Declaring a lookup (`#[field(index(icontains, month, regex = "^a.*z$"))]`) makes the
    //! derive write index fields into the stored document on every save (reserved names starting
    //! with `_ix_`, never decoded into the model), declare indexes on them, and implement
    //! [`Declared`] for the field's marker type. A condition built with an emulated lookup
    //! carries the requirement [`Emulated<L, F>`]; a backend runs it when it has the native
    //! capability (MongoDB) or when field `F` declares lookup `L` (the embedded backend).
    //! Otherwise the query does not compile, and the message names the backend, the lookup and
    //! the declaration that fixes it.
    //!
    //! At run time the query is rewritten onto the index fields wherever the lookup is declared,
    //! on every backend (MongoDB too: the index field is indexed, and both backends then give
    //! the same answers by construction); an undeclared lookup runs natively on MongoDB
    //! (`$regex`, `$expr` with the date operators).
    //!
    //! | lookup | declared: index field and query | MongoDB undeclared |
    //! |---|---|---|
    //! | `iexact(s)` | `_ix_<f>_lower` (the value lowercased) equals `s` lowercased | `$regex` `^s$`, option `i` |
    //! | `istartswith(s)` | `_ix_<f>_lower` starts with `s` lowercased (an index range) | `$regex` `^s`, option `i` |
    //! | `endswith(s)` | `_ix_<f>_rev` (the value reversed) starts with `s` reversed | `$regex` `s$` |
    //! | `icontains(s)` | `_ix_<f>_grams` (see below), checked on `_ix_<f>_lower` | `$regex` `s`, option `i` |
    //! | `regex(p)` | `_ix_<f>_regex`: the declared patterns the value matches | `$regex` `p` |
    //! | `year(n)`, `month(n)`, `day(n)`, `week_day(n)` | `_ix_<f>_year` ... integers | `$expr` with `$year` ... |
    //! | `search(q)` (full-text) | `_ix_<f>_words`: the value's distinct lowercased words, one entry per query word | does not compile: declare it (native on Elasticsearch, with relevance order) |
    //!
    //! Case-insensitive means: the Unicode lowercase (`str::to_lowercase`) of the value and of
    //! the operand compare as the plain lookup would. Date parts are taken in UTC; `week_day`
    //! counts from 1 (Sunday) to 7 (Saturday), as MongoDB's `$dayOfWeek` does.
    //!
    //! `icontains` through its index: `_ix_<f>_grams` holds, for every character position of
    //! the lowercased value, the (up to) three characters starting there, each distinct one once
    //! (`[""]` for an empty value). A value of `n` characters thus stores at most `n` grams of at
    //! most 3 characters, and at most `n` index entries: storage grows linearly with the value.
    //! A needle of up to 3 characters is a prefix of some gram exactly when it occurs, so it is
    //! one index range; a longer needle reads the entries of its rarest trigram (the embedded
    //! backend counts them first, a bounded read) and checks the candidates on `_ix_<f>_lower`.
    //! Either way it is an index scan, never a scan of the collection.

    pub use crate::engine::lookup::{
        kinds, words, DateLookups, Declared, Emulated, Lookup, LookupDesc, LookupKind, RanksByRelevance, Relevance,
        RunsLookup, Satisfies, TextLookups, RELEVANCE,
    };
}

pub mod poly {
    //! Polymorphic models: a base and its subclasses in one collection, with a class list.
    //!
    //! Rust has no subclassing, so a hierarchy is declared on plain structs:
    //!
    //! - the base carries `#[model(polymorphic)]`: querying it reads every record of the
    //!   collection, subclass records included (as the base: their other fields stay in the
    //!   store, and saving through the base keeps them);
    //! - a subclass carries `#[model(extends = Base)]`: it lives in the base's collection,
    //!   stores every field of the base (the compiler checks; share them through a
    //!   [`Fields`](crate::Fields) group) plus its own, and a class list, `_class: ["Base",
    //!   "Sub"]` (indexed). Querying, counting or updating a subclass only sees its records,
    //!   `get` of another class's key finds nothing, and `delete` of one deletes nothing;
    //! - [`Query::polymorphic`](crate::Query::polymorphic) on the base returns each record as its own class: a
    //!   [`Poly`] to downcast. A record whose class this program does not know (a newer
    //!   program wrote it) loads as the base, with its class name and data kept.
    //!
    //! Hierarchies are two levels deep (a subclass cannot be extended), as the class-list
    //! design recommends: every subclass query is one indexed membership test.
    //!
    //! ```
    //! use nonrel_runtime::{Database, Fields, Key, Model};
    //!
    //! #[derive(Fields, Debug, Clone, PartialEq)]
    //! pub struct AnimalFields { pub name: String }
    //!
    //! #[derive(Model, Debug, Clone, PartialEq)]
    //! #[model(polymorphic, collection = "poly_doc_animals")]
    //! struct Animal { #[field(key)] id: Option<Key<Animal>>, #[field(flatten)] common: AnimalFields }
    //!
    //! #[derive(Model, Debug, Clone, PartialEq)]
    //! #[model(extends = Animal)]
    //! struct Dog { #[field(key)] id: Option<Key<Dog>>, #[field(flatten)] common: AnimalFields, breed: String }
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> nonrel_runtime::Result<()> {
    //! let db = Database::in_memory()?;
    //! let mut rex = Dog { id: None, common: AnimalFields { name: "Rex".into() }, breed: "collie".into() };
    //! db.save(&mut rex).await?;
    //! db.save(&mut Animal { id: None, common: AnimalFields { name: "Generic".into() } }).await?;
    //!
    //! assert_eq!(db.query::<Dog>().count().await?, 1);       // only dogs
    //! assert_eq!(db.query::<Animal>().count().await?, 2);    // everything
    //! let all = db.query::<Animal>().polymorphic().await?;
    //! assert_eq!(all[0].class(), "Dog");
    //! assert_eq!(all[0].downcast_ref::<Dog>(), Some(&rex));
    //! assert_eq!(all[1].class(), "Animal");
    //! assert_eq!(all[1].base().common.name, "Generic");
    //! # Ok(()) }
    //! ```

    pub use crate::engine::poly::Poly;
    pub use crate::schema::class::{ClassDesc, Extends, PolymorphicBase, CLASS_FIELD};
}

pub mod dump {
    //! Dump and load: every registered model's records as JSON lines, loadable into any
    //! backend with their keys.
    //!
    //! One line per record:
    //!
    //! ```text
    //! {"collection":"posts","model":"Post","_id":1,"record":{"title":"Hello","author":"ann",...}}
    //! ```
    //!
    //! `record` is the stored document in the JSON form of the [`json`](crate::json) module, so
    //! every value (ObjectIds, dates, decimals, blobs, 32- and 64-bit integers) loads back as the
    //! same bytes, fields the models do not know included. A collection several models share (a
    //! polymorphic hierarchy, narrow views) is dumped once, named by the first of its models.

    pub use crate::engine::dump::{LoadOptions, LoadReport};
}

pub mod group {
    //! Abstract field groups: `#[derive(Fields)]` structs whose fields are copied into
    //! every model that holds one with `#[field(flatten)]`.
    //!
    //! The group's fields are stored at the top level of the model's document, as if the model
    //! declared them: they are in the model's [`ModelDesc::fields`](crate::ModelDesc::fields), their indexes in its
    //! [`ModelDesc::indexes`](crate::ModelDesc::indexes), and the derive makes a descriptor trait, `<Group>Fields`, that
    //! gives every model holding the group one descriptor function per group field
    //! (`Post::created_at()`, with the trait in scope).
    //!
    //! ```
    //! use nonrel_runtime::{Database, DateTime, Fields, Key, Model, Utc};
    //!
    //! /// Timestamps, for any model.
    //! #[derive(Fields, Debug, Clone, PartialEq)]
    //! pub struct Stamps {
    //!     #[field(index)]
    //!     pub created_at: DateTime<Utc>,
    //!     pub edited: u32,
    //! }
    //!
    //! #[derive(Model, Debug, PartialEq)]
    //! struct Post {
    //!     #[field(key)]
    //!     id: Option<Key<Post>>,
    //!     title: String,
    //!     #[field(flatten)]
    //!     stamps: Stamps,
    //! }
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> nonrel_runtime::Result<()> {
    //! use StampsFields as _; // the descriptors of the group's fields
    //! assert!(Post::DESC.knows_field(b"created_at"));
    //! assert!(Post::DESC.index_on("created_at").is_some());
    //! let db = Database::in_memory()?;
    //! let now = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(); // stored in ms
    //! let mut post = Post { id: None, title: "Hi".into(), stamps: Stamps { created_at: now, edited: 0 } };
    //! db.save(&mut post).await?;
    //! let found = db.query::<Post>().filter(Post::created_at().lte(Utc::now())).all().await?;
    //! assert_eq!(found, vec![post]);
    //! # Ok(()) }
    //! ```

    pub use crate::schema::group::{FieldGroup, Flattens};
}

pub mod json {
    //! Models and stored documents as JSON, exactly: every stored value reads back as the
    //! same BSON type and bytes.
    //!
    //! A record is a JSON object with its key as `_id` first, then its stored fields in stored
    //! order. A [`Ref`](crate::schema::key::Ref) field is its key, so a record's JSON never embeds another
    //! record. Types JSON cannot tell apart use a MongoDB Extended JSON-like wrapper object:
    //!
    //! | stored type | JSON |
    //! |---|---|
    //! | int64 (`i64`, `u32`, `u64`, integer keys) | `42` |
    //! | int32 (`i32` and narrower) | `{"$numberInt": "42"}` |
    //! | double | `1.5`, `2.0`, `1e300` (always with a `.` or an exponent); `{"$numberDouble": "NaN"}`, `"Infinity"`, `"-Infinity"` |
    //! | decimal128 | `{"$numberDecimal": "-12.500"}` (scale kept) |
    //! | date | `{"$date": "2024-05-01T12:00:00.123Z"}` (years 1970–9999), else `{"$date": {"$numberLong": "-1000"}}` (milliseconds) |
    //! | binary (`Blob`) | `{"$binary": {"base64": "3q0=", "subType": "00"}}` |
    //! | ObjectId | `{"$oid": "65f0c1d2e3f4a5b6c7d8e9f0"}` |
    //! | string, bool, null, list, document | themselves (documents keep their field order) |
    //! | any other BSON type | `{"$bson": "…"}`: the type byte and the value bytes, in hex |
    //!
    //! A stored document with a single field named like one of these wrappers (a map with the
    //! one key `"$oid"`, say) is written as `{"$document": {...}}`, so it reads back as a
    //! document.
    //!
    //! ```
    //! use nonrel_runtime::{json, Key, Model, Ref};
    //! #[derive(Model, Debug, PartialEq)]
    //! struct User { #[field(key)] name: String }
    //! #[derive(Model, Debug, PartialEq)]
    //! struct Post { #[field(key)] id: i64, title: String, votes: i32, author: Ref<User> }
    //!
    //! let post = Post { id: 7, title: "Hi".into(), votes: 3, author: Ref::new(Key::from("ann")) };
    //! let text = json::to_json(&post).unwrap();
    //! assert_eq!(text, r#"{"_id":7,"title":"Hi","votes":{"$numberInt":"3"},"author":"ann"}"#);
    //! assert_eq!(json::from_json::<Post>(&text).unwrap(), post);
    //! ```

    pub use crate::schema::json::{
        document_from_json, document_to_json, fields_from_json, from_json, to_json, write_document_json,
        write_fields_json, write_fields_json_of, write_json_int, write_json_str,
    };
}

/// Reference fields: [`RefField`], what a `Ref<T>`, `Option<Ref<T>>` or
/// `Vec<Ref<T>>` field points to, and its kinds [`One`](refs::One) and [`Many`](refs::Many).
pub mod refs {
    pub use crate::schema::model::{Many, One, RefField};
}

/// Values computed for each row of a query, by name ([`Query::annotate`](crate::Query::annotate)):
/// the length of a list field ([`len`](annotate::len)) and the number of records of another
/// model referring to the row ([`count_of`](annotate::count_of)). Read them with
/// [`Record::annotation_as`](crate::Record::annotation_as).
pub mod annotate {
    pub use crate::embedded::{AnnotationExplain, AnnotationRun};
    pub use crate::plan::annotate::{count_of, len, Annotate, CountOf, Listed};
}

/// Pages with cursors.
pub mod page {
    pub use crate::api::page::{Page, PageBuilder};
    pub use crate::plan::seek::Seek;
}

pub mod transaction {
    //! Transactions: `db.transaction(|tx| async move { ... })`, retried on conflict.
    //!
    //! The closure runs against a [`Transaction`] handle whose typed operations (get, save,
    //! insert, delete, query) all belong to one attempt. When the closure returns `Ok`, the attempt
    //! commits; when the backend reports a conflict with a concurrent write (at commit, or on an
    //! operation), the attempt is dropped, nothing it wrote is kept, and the closure runs again,
    //! after a random pause (see [`backoff`](crate::backend::retry::backoff)), up to [`TransactionBuilder::tries`] times. When the tries run
    //! out, the result is an [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) error naming the model of the last conflict.
    //! Any other error ends the transaction at once, with nothing written.
    //!
    //! The closure is an `Fn` returning a future (rather than an async closure) so that it can run
    //! more than once and its future can be `Send`: a transaction can run inside `tokio::spawn`.
    //! It takes the handle by value (a cheap clone of shared state); keep nothing from one attempt
    //! for the next: build records inside the closure.
    //!
    //! Only backends with transactions offer `transaction`: a backend without the
    //! [`Transactions`](crate::capability::Transactions) capability does not compile, and the error says so.
    //!
    //! How each backend does it:
    //!
    //! - embedded (redb): optimistic. Reads go to the store as they come and are remembered
    //!   (the bytes of each record read, the rows of each query); writes are kept in the attempt.
    //!   Commit takes redb's single write transaction, checks that every record and query read
    //!   still gives what the attempt saw, and then writes everything (records and their index
    //!   entries, as `save` does) in that one write transaction. A changed read is a conflict. No
    //!   lock is held while the closure runs, so a closure may await anything, even writes outside
    //!   the transaction, without blocking other writers. The result is serializable: the attempt
    //!   behaves as if it ran at its commit.
    //! - MongoDB: a session transaction (`startTransaction` / `commitTransaction`); every operation
    //!   carries the session. The server's `TransientTransactionError` (a write conflict, code
    //!   112) is a conflict; a commit whose result is unknown (`UnknownTransactionCommitResult`) is
    //!   committed again. MongoDB transactions need a replica set (one node is enough) and have
    //!   snapshot isolation: a conflict is two attempts writing the same record.
    //!
    //! Denormalized copies: a record saved in a transaction gets its copies of related
    //! fields from the related records as committed (read outside the attempt), and the copies
    //! other models hold of a record saved in it are brought up to date after the commit, as
    //! after a plain `save`: not atomically with the transaction.

    pub use crate::api::transaction::{Transaction, TransactionBuilder, DEFAULT_TRIES};
}

/// Spans of store commands for [`tracing`](https://docs.rs/tracing) (feature `tracing`):
/// the run-time switch and the slow-command threshold. The guide's tracing page lists the
/// spans, their attributes and events.
#[cfg(feature = "tracing")]
pub mod trace {
    pub use crate::engine::trace::{enabled, set_enabled, set_slow_threshold, slow_threshold};
}

pub use crate::api::database::{Database, QueryBuilder, Record};
pub use crate::api::page::{Page, PageBuilder};
pub use crate::api::related::Related;
pub use crate::api::update::UpdateBuilder;
pub use crate::core::value::{Blob, Extra, Value};
pub use crate::embedded::{Explain, Redb, StoredKey};
pub use crate::engine::cascade::{cascades_to, Cascade};
pub use crate::engine::related::{
    registered_copies, CopyDesc, DeclaredJoin, DenormalizedCopy, Join, JoinLookup, JoinOrder, Joined,
};
#[cfg(feature = "serde")]
pub use crate::plan::Serde;
pub use crate::query::{Condition, Detached, Field, Order, Query};
pub use crate::schema::counter::CounterDesc;
pub use crate::schema::key::{AsKey, Key, KeyField, KeyKind, KeyValue, ObjectId, Ref};
pub use crate::schema::model::RefField;
pub use crate::schema::model::{
    registered_models, CompoundIndexDesc, EmbeddedModel, FieldDesc, IndexDesc, IndexPart, KeyDesc, Model, ModelDesc,
    Shape,
};
pub use backend::{Backend, IntegrityProblem, IntegrityReport, Row, UpdateCounts};
pub use chrono::{self, DateTime, Utc};
pub use dump::{LoadOptions, LoadReport};
pub use error::{Error, ErrorKind, Result};
pub use group::{FieldGroup, Flattens};
#[cfg(feature = "mongodb")]
pub use mongo::Mongo;
pub use nonrel_derive::{Embedded, Fields, Model};
pub use poly::{ClassDesc, Extends, Poly, PolymorphicBase};
pub use rust_decimal::{self, Decimal};
pub use transaction::{Transaction, TransactionBuilder};

/// Items the derives' generated code names. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::core::codec::{
        begin_document, embedded_elements, end_document, header, Decode, Element, Elements, Encode,
    };
    pub use crate::engine::poly::{
        decode_boxed, encode_class, type_id_of, ClassDesc, ClassRegistration, Extends, PolymorphicBase,
    };
    pub use crate::error::ErrorKind;
    pub use crate::error::{Error, Result};
    pub use crate::plan::Condition;
    pub use crate::schema::group::{
        concat_fields, concat_indexes, covers, distinct_names, group_elements, FieldGroup, Flattens,
    };
    pub use crate::schema::key::{decode_id, decode_key, AsKey, KeyField, KeyKind, KeyValue};
    pub const DOCUMENT: u8 = crate::core::codec::DOCUMENT;
    pub use crate::core::value::{Extra, Value};
    pub use crate::engine::cascade::Cascade;
    pub use crate::engine::dump::LoadCheck;
    pub use crate::engine::lookup::{
        encode_date_lookups, encode_text_lookups, kinds as lookup_kinds, DateLookupNames, Declared, LookupDesc,
        LookupKind, TextLookupNames,
    };
    pub use crate::engine::rebuild::{registered_lookup_models, LookupRegistration};
    pub use crate::engine::related::{CopyDesc, CopyRegistration, DeclaredJoin, DenormalizedCopy, StoredName};
    pub use crate::plan::{
        decode_field, decode_next, elem_match, encode_field, join, missing_field, to_value, Describe, Field,
        IntoLookup, Mark,
    };
    #[cfg(feature = "serde")]
    pub use crate::plan::{encode_serde_field, Serde};
    pub use crate::schema::counter::CounterDesc;
    pub use crate::schema::key::Key;
    pub use crate::schema::model::{ref_target, One, RefField};
    pub use crate::schema::model::{
        CompoundIndexDesc, EmbeddedModel, FieldDesc, IndexDesc, IndexPart, KeyDesc, Model, ModelDesc, Registration,
        Shape,
    };
    pub use inventory;
    pub use std::borrow::Cow;

    /// The descriptor of the field at `path` (generated field accessors).
    pub fn field_at<M, T, F>(path: Cow<'static, str>) -> crate::query::Field<M, T, F> {
        crate::query::Field::at(path)
    }

    /// The descriptor of a model's key field (generated code): a field at [`KEY`](crate::query::KEY)
    /// of the type conditions on the key compare with.
    pub fn key_field<M, K: crate::schema::key::KeyField<M>>() -> crate::query::Field<M, K::Value> {
        crate::query::Field::at(Cow::Borrowed(crate::query::KEY))
    }

    /// Keeps one unknown element verbatim (generated decoders).
    pub fn extra_push(extra: &mut crate::core::value::Extra, raw: &[u8]) {
        extra.push_raw(raw)
    }

    /// Writes the kept unknown elements into a document being encoded (generated encoders).
    pub fn extra_write(extra: &crate::core::value::Extra, out: &mut Vec<u8>) {
        extra.write_to(out)
    }
    pub use std::marker::PhantomData;
    pub use std::option::Option::{self, None, Some};
    pub use std::result::Result::{Err, Ok};
}

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The crate's own readme (the page of the published crate), compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctests;

/// The guide's examples (`docs/`), compiled as doc tests so they stay true.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../docs/models.md")]
    struct Models;
    #[doc = include_str!("../../docs/queries.md")]
    struct Queries;
    #[doc = include_str!("../../docs/emulated-lookups.md")]
    struct EmulatedLookups;
    #[doc = include_str!("../../docs/relations.md")]
    struct Relations;
    #[doc = include_str!("../../docs/pages.md")]
    struct Pages;
    #[doc = include_str!("../../docs/annotations.md")]
    struct Annotations;
    #[doc = include_str!("../../docs/aggregates.md")]
    struct Aggregates;
    #[doc = include_str!("../../docs/transactions.md")]
    struct Transactions;
    #[doc = include_str!("../../docs/counters.md")]
    struct Counters;
    // These pages' examples open MongoDB databases next to embedded ones.
    #[cfg(feature = "mongodb")]
    #[doc = include_str!("../../docs/serializers.md")]
    struct Serializers;
    #[cfg(feature = "serde")]
    #[doc = include_str!("../../docs/serde.md")]
    struct Serde;
    #[cfg(feature = "tracing")]
    #[doc = include_str!("../../docs/tracing.md")]
    struct Tracing;
    #[cfg(feature = "mongodb")]
    #[doc = include_str!("../../docs/backends.md")]
    struct Backends;
    #[doc = include_str!("../../docs/testing.md")]
    struct Testing;
}
