//! The backend trait: what a store must do for nonrel to run models on it.
//!
//! A backend works on untyped data: the static [`ModelDesc`] of the model, keys as
//! [`KeyValue`], records as BSON document bytes (without `_id`; the backend stores the key
//! its own way), and queries as a [`Plan`]. Generated code turns the bytes into models, so a
//! backend never sees a user type.
//!
//! # Writing a backend
//!
//! 1. Implement [`Backend`]. Every method returns a `Send` future; a store with a blocking
//!    client runs slow work off the async workers (see the embedded backend: writes and
//!    collection scans run through `block_in_place` on a multi-threaded runtime and
//!    `spawn_blocking` on a current-thread one, point reads run inline).
//! 2. Filter and sort with [`eval`](crate::plan::eval) if the store cannot: it gives every
//!    backend the same semantics (MongoDB's), which the conformance suite checks.
//! 3. Keep declared indexes ([`ModelDesc::indexes`]) with the record in one atomic write,
//!    reject a second record with the same value of a unique index with
//!    [`ErrorKind::UniqueViolation`](crate::error::ErrorKind::UniqueViolation), and report
//!    disagreements from [`Backend::integrity_check`].
//! 4. Keep fields the model does not know: a backend that replaces documents merges
//!    the stored document's unknown fields when [`ModelDesc::has_extra`] is false, and those
//!    inside embedded models at every depth, along each field's
//!    [`Shape`](crate::Shape) (lists by position).
//! 5. Run the conformance suite: a test file calling `nonrel_runtime::conformance_tests!` with
//!    an expression that opens a fresh, empty database (feature `conformance`). The template
//!    backend, `examples/memory-backend` (package `nonrel-memory`), does all of this on an
//!    in-memory map through the public API alone.
//! 6. Declare capabilities: [`Backend::Joins`], [`Backend::CaseInsensitive`],
//!    [`Backend::Regex`] and [`Backend::DateParts`] as [`Yes`](crate::backend::capability::Yes) or
//!    [`No`](crate::backend::capability::No), [`Backend::MAX_IN_VALUES`] where one command takes a
//!    bounded `in`. The compile-time checks follow from them. Optionally override
//!    [`Backend::query_seek`] so that a page from a cursor starts reading at the cursor,
//!    and implement [`Transactions`](crate::backend::capability::Transactions) to offer transactions;
//!    `conformance_transaction_tests!` then checks them.
//!
//! Seven methods are required: `put`, `get_many`, `delete`, `query`, `count`, `update` and
//! `sync_indexes`. The others have defaults the runtime's fallbacks rely on: `None` from
//! [`Backend::query_joined`] and [`Backend::query_seek`] makes the runtime run two-step joins
//! and seek in memory.
//!
//! # Capabilities
//!
//! What a backend can do beyond this trait is declared by its associated types, and plans
//! requiring it take a bound that blanket impls derive from them, so an unsupported plan is a
//! compile error naming the fix: see [`capability`].

pub mod capability;
pub(crate) mod copies;
pub mod counter;
pub mod retry;

pub use crate::plan::update::{UpdateKind, UpdateOp};

use crate::core::value::Value;
use crate::error::Result;
use crate::plan::Plan;
use crate::schema::key::{KeyKind, KeyValue};
use crate::schema::model::ModelDesc;
use capability::Support;
use std::future::Future;

/// How `put` treats an existing record with the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace it, or create the record: no existence check.
    Upsert,
    /// Fail with [`ErrorKind::DuplicateKey`](crate::error::ErrorKind::DuplicateKey).
    Insert,
    /// Store the document exactly as given, creating or replacing the record: no unknown
    /// fields merged from a stored record, field order kept (loading a dump).
    Replace,
}

/// One record to write.
#[derive(Debug, Clone)]
pub struct PutItem {
    /// The key, or `None` for the backend to assign one (automatic keys).
    pub key: Option<KeyValue>,
    /// The document, without `_id`.
    pub doc: Vec<u8>,
}

/// One compare-and-set write ([`Backend::swap`]): the record is replaced by `doc` (or
/// deleted, when `doc` is `None`) only if its stored document is still exactly `expected`.
#[derive(Debug, Clone)]
pub struct SwapItem {
    /// The record's key.
    pub key: KeyValue,
    /// The stored document as it was read, byte for byte.
    pub expected: Vec<u8>,
    /// The document to write (unknown fields kept as by an upsert), or `None` to delete.
    pub doc: Option<Vec<u8>>,
}

/// What [`Backend::swap`] did with one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swapped {
    /// The record still held the expected document and was written (or deleted).
    Written,
    /// A concurrent write changed the record: nothing was written; its current document.
    Changed(Vec<u8>),
    /// The record does not exist (deleted meanwhile): nothing was written or recreated.
    Missing,
}

/// A structured result row: the record, its related selections and its annotations, by
/// name, never by position.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// The record's key.
    pub key: Option<KeyValue>,
    /// The record's document (without `_id`, unless the store keeps it inline).
    pub doc: Vec<u8>,
    /// Related records selected with the row, by relation name.
    pub related: Vec<(String, Vec<Row>)>,
    /// Computed values, by name.
    pub annotations: Vec<(String, Value)>,
}

/// A row read in place: its key and its document (without `_id`, as in [`Row`]), borrowed
/// from the store for the duration of one call of the visitor given to
/// [`Backend::visit_related`].
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    /// The record's key.
    pub key: Option<&'a KeyValue>,
    /// The record's document.
    pub doc: &'a [u8],
}

/// What [`Backend::visit_related`] hands its visitor, in this order for each row: the row,
/// then one related record (or `None`) per selection, in the order of the selections. A
/// backend that knows how many rows follow may say so first ([`Visit::Rows`]).
#[derive(Debug, Clone, Copy)]
pub enum Visit<'a> {
    /// How many rows follow (before the first, if at all): room to reserve, not a promise
    /// the visitor may rely on.
    Rows(usize),
    /// A row of the query.
    Row(RowRef<'a>),
    /// The record the last row's next selection refers to: `None` when its reference is
    /// missing or null, or names no record.
    Related(Option<RowRef<'a>>),
}

/// What [`Backend::integrity_check`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntegrityReport {
    /// Records checked.
    pub records: u64,
    /// Index entries checked.
    pub entries: u64,
    /// Every disagreement found.
    pub problems: Vec<IntegrityProblem>,
}

impl IntegrityReport {
    /// Whether every index agrees with its records.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One disagreement between an index and its records.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrityProblem {
    /// The model.
    pub model: &'static str,
    /// The indexed path.
    pub index: &'static str,
    /// The record's key, when known.
    pub key: Option<KeyValue>,
    /// What is wrong.
    pub message: String,
}

/// What an update did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateCounts {
    /// Records the filter matched.
    pub matched: u64,
    /// Records whose stored document changed.
    pub modified: u64,
}

/// A store nonrel can run models on. See the [module docs](self) for how to write one.
pub trait Backend: Send + Sync + 'static {
    /// The backend's name, for messages.
    const NAME: &'static str;

    /// Whether the backend runs conditions across a `Ref` itself ([`Yes`](capability::Yes): one command, see
    /// [`query_joined`](Self::query_joined)), or only through declared copies and two-step
    /// joins ([`No`](capability::No)).
    type Joins: Support;
    /// Whether the backend matches text ignoring case (`iexact`, `istartswith`, `icontains`)
    /// without a declared index.
    type CaseInsensitive: Support;
    /// Whether the backend runs regular expressions (`regex`, `endswith`) without a declared
    /// index.
    type Regex: Support;
    /// Whether the backend extracts date parts (`year`, `month`, `day`, `week_day`) without a
    /// declared index.
    type DateParts: Support;
    /// Whether the backend runs full-text `search` (and orders by relevance) natively; with
    /// [`No`](capability::No), `search` runs through the field's declared `index(search)`.
    type FullText: Support;

    /// The key kind this backend assigns to automatic keys.
    const AUTO_KEY: KeyKind;

    /// The most values one `in` lookup may carry; the runtime splits larger ones.
    const MAX_IN_VALUES: usize = usize::MAX;

    /// Writes records, all or none where the store allows; returns each record's key.
    fn put(
        &self,
        model: &'static ModelDesc,
        items: Vec<PutItem>,
        mode: WriteMode,
    ) -> impl Future<Output = Result<Vec<KeyValue>>> + Send;

    /// Reads one record's document. The default reads it through [`get_many`](Self::get_many).
    fn get(&self, model: &'static ModelDesc, key: KeyValue) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send {
        async move { Ok(self.get_many(model, vec![key]).await?.pop().flatten()) }
    }

    /// Reads many records, in the order of `keys`, in one round trip.
    fn get_many(
        &self,
        model: &'static ModelDesc,
        keys: Vec<KeyValue>,
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>>> + Send;

    /// Reads many records like [`get_many`](Self::get_many), loading only the fields
    /// `projection` keeps (deferred fields of related selections). The default strips
    /// the others after reading; a server that can project should not send them.
    fn get_many_projected(
        &self,
        model: &'static ModelDesc,
        keys: Vec<KeyValue>,
        projection: crate::plan::Projection,
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>>> + Send {
        async move {
            let docs = self.get_many(model, keys).await?;
            docs.into_iter().map(|d| d.map(|d| crate::plan::eval::project(&d, &projection)).transpose()).collect()
        }
    }

    /// Runs a query together with its lookups across a `Ref` (`joins`, not yet resolved in
    /// `plan`) and its related selections (`related`), each row's selections filled, when the
    /// store does so in fewer round trips (MongoDB's `$lookup`). `None`, the default, leaves
    /// both to the runtime: two-step joins, then one batched key read per selection; the
    /// runtime also offers the selections alone after resolving the joins itself. With
    /// `joins`, only called when the backend declares [`Joins = Yes`](Self::Joins); a backend
    /// declaring [`No`](capability::No) is offered the selections alone (`joins` empty, the
    /// plan naming the key or holding an OR or a NOT only as its
    /// [`KEY_FILTERS`](Self::KEY_FILTERS) and [`BOOLEAN`](Self::BOOLEAN) allow), and may fill
    /// them with the query (the embedded backend reads them in the query's read transaction).
    fn query_joined(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        joins: &[crate::plan::join::JoinFilter],
        related: &[crate::plan::join::Selection],
        max_in: usize,
    ) -> impl Future<Output = Result<Option<Vec<Row>>>> + Send {
        let _ = (model, plan, joins, related, max_in);
        async { Ok(None) }
    }

    /// Runs a query with its related selections, each a `Ref` to one record, and hands every
    /// row to `visit` borrowed instead of returning owned [`Row`]s: first the row
    /// ([`Visit::Row`]), then one [`Visit::Related`] per selection in the order of `related`
    /// (`None` when the row's reference is missing or null, or names no record). Rows come
    /// in the plan's order, offset and limit applied, the related records projected as their
    /// selection asks. An error from `visit` stops the query and is returned.
    ///
    /// Returns whether the backend ran it: `false`, the default, visits nothing and leaves the
    /// query to [`query_joined`](Self::query_joined) and the runtime. Offered under the same
    /// conditions as the selections alone are to `query_joined` (a backend declaring
    /// [`Joins = No`](Self::Joins), no joins left in `plan`), when the caller needs nothing
    /// else of the rows (no prefetches, no annotations); `related` is empty when the query
    /// has no selections and its records are all that is wanted
    /// ([`Query::all`](crate::Query::all)). The embedded backend reads the documents in
    /// place in one read transaction, so a row costs no copy of its own.
    fn visit_related(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        related: &[crate::plan::join::Selection],
        visit: &mut (dyn FnMut(Visit<'_>) -> Result<()> + Send),
    ) -> impl Future<Output = Result<bool>> + Send {
        let _ = (model, plan, related, visit);
        async { Ok(false) }
    }

    /// Writes each item only if its record still holds exactly the document the caller read
    /// (compare-and-set), so maintenance (rebuilds, copy refresh, cascades) never overwrites
    /// or resurrects a record a concurrent write changed; returns, per item, what happened.
    ///
    /// The default reads the records, compares and writes in separate steps: correct only
    /// when nothing writes meanwhile. A backend overrides it to compare inside its write (the
    /// embedded backend re-reads in the write transaction; MongoDB puts the document as read
    /// in the write's filter).
    fn swap(
        &self,
        model: &'static ModelDesc,
        items: Vec<SwapItem>,
    ) -> impl Future<Output = Result<Vec<Swapped>>> + Send {
        async move {
            let keys: Vec<KeyValue> = items.iter().map(|i| i.key.clone()).collect();
            let current = self.get_many(model, keys).await?;
            let mut outcome = Vec::with_capacity(items.len());
            let (mut puts, mut deletes) = (Vec::new(), Vec::new());
            for (item, now) in items.into_iter().zip(current) {
                outcome.push(match now {
                    None => Swapped::Missing,
                    Some(now) if now != item.expected => Swapped::Changed(now),
                    Some(_) => {
                        match item.doc {
                            Some(doc) => puts.push(PutItem { key: Some(item.key), doc }),
                            None => deletes.push(item.key),
                        }
                        Swapped::Written
                    }
                });
            }
            if !puts.is_empty() {
                self.put(model, puts, WriteMode::Upsert).await?;
            }
            if !deletes.is_empty() {
                self.delete(model, deletes).await?;
            }
            Ok(outcome)
        }
    }

    /// Whether [`query`](Self::query), [`count`](Self::count), [`update`](Self::update),
    /// [`query_seek`](Self::query_seek) and [`query_joined`](Self::query_joined) run filters
    /// and ordering terms on the record's key ([`KEY`](crate::plan::KEY), e.g. `Post::id()`)
    /// themselves. When not (the default), a plan naming the key never reaches them: the
    /// runtime reads the keys an `eq` or `is_in` names with [`get_many`](Self::get_many), or
    /// else runs the rest of the plan and checks the key on each row, and an update by key
    /// writes each record with [`swap`](Self::swap), retried when a concurrent write changed it.
    const KEY_FILTERS: bool = false;

    /// Whether [`query`](Self::query), [`count`](Self::count), [`update`](Self::update),
    /// [`query_seek`](Self::query_seek) and [`query_joined`](Self::query_joined) run
    /// [`Op::Or`](crate::plan::Op::Or) and [`Op::Not`](crate::plan::Op::Not) filters themselves
    /// (MongoDB's `$or` and `$nor`). When not (the default), a plan holding one never reaches
    /// them: the runtime runs each branch of an OR as its own plan (so each reads through its
    /// own index), merges the rows, drops duplicates and orders them, and checks a NOT on
    /// the rows the rest of the plan matches, with [`eval`](crate::plan::eval)'s semantics.
    const BOOLEAN: bool = false;

    /// Whether [`put`](Self::put) and [`update`](Self::update) record the pending fan-out to
    /// denormalized copies (the outbox) in the same atomic write as the records. When
    /// not (the default), the runtime records it in a write of its own just before.
    const OUTBOX_IN_WRITE: bool = false;

    /// Whether [`put`](Self::put), [`swap`](Self::swap), [`update`](Self::update) (of a `Ref`)
    /// and transaction commits write the holders' denormalized copies themselves, from the
    /// related records read in the same atomic write. When not (the default), the
    /// runtime reads the related records before the write and again after it.
    const COPIES_IN_WRITE: bool = false;

    /// Deletes records by key without reading them; returns how many existed.
    fn delete(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> impl Future<Output = Result<u64>> + Send;

    /// Runs a query.
    fn query(&self, model: &'static ModelDesc, plan: Plan) -> impl Future<Output = Result<Vec<Row>>> + Send;

    /// Runs a query from a position, for cursor pagination: the rows strictly after
    /// (or, with [`Seek::backward`](crate::plan::seek::Seek::backward), before) the position in the
    /// plan's order then key, at most `plan.limit` of them (the closest), in the plan's order.
    /// `None`, the default, leaves it to the runtime, which runs the plan without its limit
    /// and filters in memory; a backend overrides it to start reading at the position (an
    /// index range, a range filter).
    fn query_seek(
        &self,
        model: &'static ModelDesc,
        plan: Plan,
        seek: crate::plan::seek::Seek,
    ) -> impl Future<Output = Result<Option<Vec<Row>>>> + Send {
        let _ = (model, plan, seek);
        async { Ok(None) }
    }

    /// Computes aggregates over the records a plan matches, grouped as `grouping` says, in
    /// fewer round trips or with less data moved than reading the records (MongoDB's
    /// `$group`, a pass inside the embedded store). `None`, the default, leaves it to the
    /// runtime, which reads the matching records' needed fields through [`query`](Self::query)
    /// and computes them with [`Accumulator`](crate::plan::aggregate::Accumulator), whose
    /// semantics an override must match. The plan names no key unless the backend declares
    /// [`KEY_FILTERS`](Self::KEY_FILTERS), and its `in` lookups fit
    /// [`MAX_IN_VALUES`](Self::MAX_IN_VALUES).
    fn aggregate(
        &self,
        model: &'static ModelDesc,
        plan: &Plan,
        grouping: &crate::plan::aggregate::Grouping,
    ) -> impl Future<Output = Result<Option<Vec<crate::plan::aggregate::GroupRow>>>> + Send {
        let _ = (model, plan, grouping);
        async { Ok(None) }
    }

    /// Counts matches, stopping at `upto` when given (the cost stays bounded by it).
    fn count(
        &self,
        model: &'static ModelDesc,
        plan: Plan,
        upto: Option<u64>,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Applies update operations to every record the plan matches, in the store, without a
    /// read-modify-write in the caller; index entries follow.
    fn update(
        &self,
        model: &'static ModelDesc,
        plan: Plan,
        ops: Vec<UpdateOp>,
    ) -> impl Future<Output = Result<UpdateCounts>> + Send;

    /// Creates every declared index of `models` that does not exist yet (idempotent); returns
    /// how many declared indexes were processed.
    fn sync_indexes(&self, models: Vec<&'static ModelDesc>) -> impl Future<Output = Result<u64>> + Send;

    /// Checks every declared index of `models` against the records. The default, for a store
    /// that keeps no index entries apart from its records, finds nothing to check.
    fn integrity_check(&self, models: Vec<&'static ModelDesc>) -> impl Future<Output = Result<IntegrityReport>> + Send {
        let _ = models;
        async { Ok(IntegrityReport::default()) }
    }

    /// Rebuilds every declared index of `models` from the records; returns the entries written.
    /// The default, for a store that keeps no index entries apart from its records, writes none.
    fn rebuild_indexes(&self, models: Vec<&'static ModelDesc>) -> impl Future<Output = Result<u64>> + Send {
        let _ = models;
        async { Ok(0) }
    }
}
