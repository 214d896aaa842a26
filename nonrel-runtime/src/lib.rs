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

/// Queries as typed builders describe them and as backends receive them: conditions,
/// orderings, the untyped [`Plan`](query::Plan) with its joins, selections, cursor positions
/// and update operations, and [`eval`](query::eval), their meaning on a stored document.
pub mod query {
    pub use crate::plan::eval;
    pub use crate::plan::join::{JoinFilter, Selection};
    pub use crate::plan::lookup::Lookup;
    pub use crate::plan::seek::Seek;
    pub use crate::plan::update::{UpdateKind, UpdateOp};
    pub use crate::plan::{
        to_value, Condition, Containable, Describe, Direction, Field, Filter, IntoLookup, Native, Op, Order, OrderBy,
        Ordered, Plan, Projection, Query, Text,
    };
}

/// Emulated lookups: `iexact`, `istartswith`, `endswith`, `icontains`, `regex` and the date
/// parts, run natively where the backend declares it and through a field's declared index
/// elsewhere, checked at compile time.
pub mod lookup {
    pub use crate::engine::lookup::{
        kinds, DateLookups, Declared, Emulated, Lookup, LookupDesc, LookupKind, RunsLookup, Satisfies, TextLookups,
    };
}

/// Polymorphic models: a base, its subclasses in the base's collection, and records loaded
/// as their own class.
pub mod poly {
    pub use crate::engine::poly::Poly;
    pub use crate::schema::class::{ClassDesc, Extends, PolymorphicBase, CLASS_FIELD};
}

/// Dump and load of every registered model as JSON lines.
pub mod dump {
    pub use crate::engine::dump::{LoadOptions, LoadReport};
}

/// Field groups (`#[derive(Fields)]`) flattened into models.
pub mod group {
    pub use crate::schema::group::{FieldGroup, Flattens};
}

/// Records and stored documents to and from JSON, exactly.
pub mod json {
    pub use crate::schema::json::{document_from_json, document_to_json, from_json, to_json};
}

/// Pages with cursors.
pub mod page {
    pub use crate::api::page::{Page, PageBuilder};
    pub use crate::plan::seek::Seek;
}

/// Transactions: `db.transaction(|tx| async move { ... })`, retried on conflict.
pub mod transaction {
    pub use crate::api::transaction::{Transaction, TransactionBuilder, DEFAULT_TRIES};
}

pub use crate::api::database::{Database, QueryBuilder, Record};
pub use crate::api::page::{Page, PageBuilder};
pub use crate::api::update::UpdateBuilder;
pub use crate::core::value::{Blob, Extra, Value};
pub use crate::embedded::{Explain, Redb};
pub use crate::engine::cascade::{cascades_to, Cascade, RefTarget};
pub use crate::engine::related::{
    registered_copies, CopyDesc, DeclaredJoin, DenormalizedCopy, Join, JoinLookup, JoinOrder, Joined,
};
pub use crate::engine::related::{RefersTo, SingleRef};
pub use crate::query::{Condition, Field, Order, Query};
pub use crate::schema::key::{AsKey, Key, KeyField, KeyKind, KeyValue, ObjectId, Ref};
pub use crate::schema::model::{
    registered_models, EmbeddedModel, FieldDesc, IndexDesc, KeyDesc, Model, ModelDesc, Shape,
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
    pub use crate::engine::cascade::{Cascade, RefTarget};
    pub use crate::engine::dump::LoadCheck;
    pub use crate::engine::lookup::{
        encode_date_lookups, encode_text_lookups, kinds as lookup_kinds, DateLookupNames, Declared, LookupDesc,
        LookupKind, TextLookupNames,
    };
    pub use crate::engine::rebuild::{registered_lookup_models, LookupRegistration};
    pub use crate::engine::related::{CopyDesc, CopyRegistration, DeclaredJoin, DenormalizedCopy, Refers, StoredName};
    pub use crate::plan::{
        decode_field, elem_match, encode_field, join, missing_field, to_value, Describe, Field, IntoLookup, Mark,
    };
    pub use crate::schema::key::Key;
    pub use crate::schema::model::{
        EmbeddedModel, FieldDesc, IndexDesc, KeyDesc, Model, ModelDesc, Registration, Shape,
    };
    pub use inventory;
    pub use std::borrow::Cow;

    /// The descriptor of the field at `path` (generated field accessors).
    pub fn field_at<M, T, F>(path: Cow<'static, str>) -> crate::query::Field<M, T, F> {
        crate::query::Field::at(path)
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
    #[doc = include_str!("../../docs/transactions.md")]
    struct Transactions;
    #[doc = include_str!("../../docs/serializers.md")]
    struct Serializers;
    #[cfg(feature = "serde")]
    #[doc = include_str!("../../docs/serde.md")]
    struct Serde;
    #[doc = include_str!("../../docs/backends.md")]
    struct Backends;
    #[doc = include_str!("../../docs/testing.md")]
    struct Testing;
}
