//! The backend-neutral query plan.

use crate::core::value::Value;
use crate::error::{Error, Result};
use crate::schema::model::Model;
use std::borrow::Cow;
use std::marker::PhantomData;

/// A comparison of one field, as the backend sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Equal (for a list: the list, or any element, is equal).
    Eq(Value),
    /// Not equal (no element equal).
    Ne(Value),
    /// Equal to one of the values.
    In(Vec<Value>),
    /// Greater than.
    Gt(Value),
    /// Greater than or equal.
    Gte(Value),
    /// Less than.
    Lt(Value),
    /// Less than or equal.
    Lte(Value),
    /// Between two values, both included.
    Range(Value, Value),
    /// `true`: null or missing; `false`: present and not null.
    IsNull(bool),
    /// Text starting with the prefix.
    StartsWith(String),
    /// Text containing the substring.
    Contains(String),
    /// A list holding the element.
    Has(Value),
    /// A list with one element (an embedded document) for which every filter holds; the
    /// filters' paths are relative to the element.
    ElemMatch(Vec<Filter>),
    /// An emulated lookup: rewritten onto the field's declared index fields before a
    /// backend sees it, or run natively by a backend that can.
    Lookup(crate::plan::lookup::Lookup),
    /// Any of the branches holds, each branch holding when all its filters do (MongoDB's
    /// `$or`). The filter's path is empty ([`BOOLEAN_PATH`]). A backend sees it only when it
    /// declares [`BOOLEAN`](crate::backend::Backend::BOOLEAN); otherwise the runtime runs
    /// each branch as its own plan and merges the rows.
    Or(Vec<Vec<Filter>>),
    /// Not all of the filters hold (MongoDB's `$nor` of their conjunction): a document
    /// missing the fields matches, and a condition on a list is negated as a whole (no
    /// element matches). The filter's path is empty ([`BOOLEAN_PATH`]); a backend sees it
    /// only when it declares [`BOOLEAN`](crate::backend::Backend::BOOLEAN).
    Not(Vec<Filter>),
    /// A condition across a `Ref` inside an [`Or`](Op::Or) or a [`Not`](Op::Not) (the
    /// filter's path is the `Ref`'s): the runtime resolves it into an [`In`](Op::In) on the
    /// `Ref`, the keys of the related records that match, before any backend sees the plan.
    Join(Box<crate::plan::join::JoinFilter>),
}

impl Op {
    /// The lookup's name, as users write it.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Eq(_) => "exact",
            Op::Ne(_) => "ne",
            Op::In(_) => "in",
            Op::Gt(_) => "gt",
            Op::Gte(_) => "gte",
            Op::Lt(_) => "lt",
            Op::Lte(_) => "lte",
            Op::Range(..) => "range",
            Op::IsNull(_) => "isnull",
            Op::StartsWith(_) => "startswith",
            Op::Contains(_) => "contains",
            Op::Has(_) => "contains",
            Op::ElemMatch(_) => "elem_match",
            Op::Lookup(l) => l.name(),
            Op::Or(_) => "or",
            Op::Not(_) => "not",
            Op::Join(_) => "join",
        }
    }
}

/// One condition on a field path.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Dotted path in the stored document; through a list it matches when any element does.
    pub path: Cow<'static, str>,
    /// The comparison.
    pub op: Op,
}

/// Which stored fields a query loads (MongoDB projects them away; the embedded backend
/// strips them before decoding). Deferred fields load as their type's default.
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    /// Load only these top-level fields (and the key).
    Only(Vec<String>),
    /// Load everything but these top-level fields.
    Defer(Vec<String>),
}

impl Projection {
    /// Whether a top-level field is loaded.
    pub fn loads(&self, name: &[u8]) -> bool {
        match self {
            Projection::Only(names) => name == b"_id" || names.iter().any(|n| n.as_bytes() == name),
            Projection::Defer(names) => !names.iter().any(|n| n.as_bytes() == name),
        }
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// One ordering term.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// Dotted path.
    pub path: Cow<'static, str>,
    /// Direction.
    pub direction: Direction,
}

/// The path of the record's key in a plan's filters and ordering terms (the key field's
/// descriptor, `Post::id()`, names it). A backend sees it only when it declares
/// [`KEY_FILTERS`](crate::backend::Backend::KEY_FILTERS); otherwise the runtime answers
/// such plans itself.
pub const KEY: &str = "_id";

/// The path of an [`Op::Or`] or [`Op::Not`] filter: empty, since it names no one field.
pub const BOOLEAN_PATH: &str = "";

impl Filter {
    /// Whether the filter is an [`Op::Or`] or an [`Op::Not`].
    pub fn is_boolean(&self) -> bool {
        matches!(self.op, Op::Or(_) | Op::Not(_))
    }
}

impl Plan {
    /// Whether a filter or an ordering term names the record's key ([`KEY`]).
    pub fn names_key(&self) -> bool {
        crate::plan::any_filter(&self.filters, &|f| f.path == KEY) || self.order.iter().any(|o| o.path == KEY)
    }

    /// Whether a filter is an [`Op::Or`] or an [`Op::Not`].
    pub fn has_boolean(&self) -> bool {
        self.filters.iter().any(Filter::is_boolean)
    }
}

/// The untyped plan a backend executes: every filter must hold; rows sorted by `order` then
/// key; `offset` rows skipped; at most `limit` returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Conditions, all of which must hold.
    pub filters: Vec<Filter>,
    /// Ordering terms, the key breaking ties.
    pub order: Vec<OrderBy>,
    /// Rows to skip.
    pub offset: usize,
    /// Most rows to return.
    pub limit: Option<usize>,
    /// Fields not to load, if any.
    pub projection: Option<Projection>,
}

/// A typed condition on model `M`: only `M`'s field descriptors make one.
///
/// `R` is what the condition needs of the backend that runs it: [`Native`] (every backend)
/// for the plain lookups; emulated lookups and lookups across a `Ref` carry their own
/// requirement, which [`Query::filter`] checks with
/// [`Runs`](crate::backend::capability::Runs) at compile time on a query of a database.
#[must_use]
pub struct Condition<M, R = Native> {
    pub(crate) filter: Result<Filter>,
    /// For a lookup across a `Ref` run as a two-step join: the `Ref` and the related model
    /// (`filter` is then on the related model).
    pub(crate) via: Option<crate::plan::join::Via>,
    _model: PhantomData<fn() -> (M, R)>,
}

/// The requirement of a plan every backend runs: no capability beyond [`Backend`](crate::backend::Backend).
#[derive(Debug, Clone, Copy, Default)]
pub struct Native;

/// A condition on one element of a list of embedded models (used by generated code).
#[doc(hidden)]
pub fn elem_match<M, E, const N: usize>(path: Cow<'static, str>, conditions: [Condition<E>; N]) -> Condition<M> {
    let filters: Result<Vec<Filter>> = conditions.into_iter().map(|c| c.filter).collect();
    Condition::new(path, filters.map(Op::ElemMatch))
}

impl<M> Condition<M> {
    pub(crate) fn new(path: Cow<'static, str>, op: Result<Op>) -> Self {
        let filter = match check_path(&path) {
            Err(e) => Err(e),
            Ok(()) => op.map(|op| Filter { path: path.clone(), op }).map_err(|e| e.with_field(&path)),
        };
        Condition { filter, via: None, _model: PhantomData }
    }
}

impl<M, R> Condition<M, R> {
    /// The same condition, carrying requirement `R2` instead of `R`: with `R2` inferred as
    /// [`Native`], a condition that needs a capability or a declaration can join a
    /// [`Detached`] [`Query`]. The compile-time check is then given up: a backend that cannot
    /// run the condition reports the missing declaration when the query runs.
    pub fn require<R2>(self) -> Condition<M, R2> {
        Condition { filter: self.filter, via: self.via, _model: PhantomData }
    }

    /// A condition from an untyped filter, carrying requirement `R`.
    pub(crate) fn from_filter(filter: Result<Filter>) -> Self {
        Condition { filter, via: None, _model: PhantomData }
    }

    /// The untyped filter (or the error building it met).
    pub fn filter(&self) -> Result<&Filter, &Error> {
        self.filter.as_ref()
    }
}

/// A typed ordering term on model `M`; `R` is what it needs of the backend (see [`Condition`]).
#[must_use]
pub struct Order<M, R = Native> {
    pub(crate) order: OrderBy,
    _model: PhantomData<fn() -> (M, R)>,
}

impl<M> Order<M> {
    pub(crate) fn new(path: Cow<'static, str>, direction: Direction) -> Self {
        Order { order: OrderBy { path, direction }, _model: PhantomData }
    }
}

impl<M, R> Order<M, R> {
    /// The same ordering term, carrying requirement `R2` instead of `R` (see
    /// [`Condition::require`]).
    pub fn require<R2>(self) -> Order<M, R2> {
        Order { order: self.order, _model: PhantomData }
    }

    /// The untyped ordering term.
    pub fn order_by(&self) -> &OrderBy {
        &self.order
    }
}

/// A query on model `M`: conditions, ordering, offset, limit, the fields loaded and the
/// related records selected with the rows. It is the one query builder: every chaining
/// method is defined here, once, whatever the query runs on.
///
/// `On` is what the query runs on:
/// - a database, for the query [`Database::query`](crate::api::database::Database::query)
///   starts (`Query<M, &Database<B>>`, named [`QueryBuilder`](crate::QueryBuilder)): it is
///   awaited to run, and [`filter`](Self::filter) and [`order_by`](Self::order_by) check at
///   compile time that backend `B` can run each condition ([`Runs`](crate::backend::capability::Runs));
/// - [`Detached`] (the default), for a query described apart from any database, to run
///   later: on a database with [`with`](Self::with), in a transaction, as the query of a
///   [`prefetch_reverse_with`](Self::prefetch_reverse_with), or explained. It takes the
///   conditions every backend runs; [`Condition::require`] lets one that needs more join
///   it, the backend then checking when the query runs.
///
/// ```
/// use nonrel_runtime::{Key, Model, Query};
/// #[derive(Model)]
/// struct Post { #[field(key)] id: Option<Key<Post>>, title: String, views: u32 }
///
/// let q = Query::<Post>::new()
///     .filter(Post::title().startswith("Rust"))
///     .filter(Post::views().gte(100u32))
///     .order_by(Post::views().desc())
///     .limit(10);
/// assert_eq!(q.plan().unwrap().filters.len(), 2);
/// ```
#[must_use = "a query does nothing until it runs"]
pub struct Query<M, On = Detached> {
    /// What the query runs on.
    pub(crate) on: On,
    pub(crate) plan: Plan,
    /// Lookups across a `Ref` resolved before the plan runs (two-step joins).
    pub(crate) joins: Vec<crate::plan::join::JoinFilter>,
    /// Related records loaded with the rows (`select_related`, `prefetch_*`).
    pub(crate) related: Vec<crate::plan::join::Selection>,
    /// Values computed for each row, by name (`annotate`).
    pub(crate) annotations: Vec<crate::plan::annotate::Annotation>,
    error: Option<Error>,
    _model: PhantomData<fn() -> M>,
}

/// What a [`Query`] built apart from any database runs on: nothing yet. It takes the
/// conditions and ordering terms every backend runs ([`Native`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Detached;

/// What a query's target lets its builder add: a condition or an ordering term with
/// requirement `R`. A database on backend `B` accepts what `B` [`Runs`](crate::backend::capability::Runs);
/// a [`Detached`] query what every backend runs.
#[diagnostic::on_unimplemented(
    message = "a query built apart from a database takes only what every backend runs, not `{R}`",
    label = "needs a backend that declares it",
    note = "build the query on the database (`db.query::<Model>()`) to have the backend checked at compile time, or call `.require()` on the condition to have it checked when the query runs"
)]
pub trait Accepts<R> {}

impl Accepts<Native> for Detached {}

impl<M: Model> Default for Query<M> {
    fn default() -> Self {
        // A subclass (F11) only sees its own records.
        let filters = M::CLASS.map(class_filter).into_iter().collect();
        Query {
            on: Detached,
            plan: Plan { filters, ..Plan::default() },
            joins: Vec::new(),
            related: Vec::new(),
            annotations: Vec::new(),
            error: None,
            _model: PhantomData,
        }
    }
}

impl<M: Model, On: Clone> Clone for Query<M, On> {
    fn clone(&self) -> Self {
        Query {
            on: self.on.clone(),
            plan: self.plan.clone(),
            joins: self.joins.clone(),
            related: self.related.clone(),
            annotations: self.annotations.clone(),
            error: self.error.clone(),
            _model: PhantomData,
        }
    }
}

impl<M: Model> Query<M> {
    /// A query matching every record, on no database yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<M: Model, On> Query<M, On> {
    /// Adds a condition; every condition must hold.
    ///
    /// On a query of a database, a condition that needs a capability the backend lacks (an
    /// emulated lookup whose index is not declared, a JOIN on a backend without joins) does
    /// not compile: see [`Runs`](crate::backend::capability::Runs).
    pub fn filter<R>(mut self, condition: Condition<M, R>) -> Self
    where
        On: Accepts<R>,
    {
        match condition.filter {
            Ok(f) => match condition.via {
                Some(via) => self.joins.push(via.with(f)),
                // `a & b` (an OR of one branch) adds its conditions one by one, those across
                // a `Ref` among the query's joins.
                None => {
                    for f in crate::plan::conjunction(f) {
                        match f.op {
                            Op::Join(j) => self.joins.push(*j),
                            op => self.plan.filters.push(Filter { path: f.path, op }),
                        }
                    }
                }
            },
            Err(e) => {
                self.error.get_or_insert(e.with_model(M::DESC.name));
            }
        }
        self
    }

    /// Adds an ordering term; earlier terms take precedence, the key breaks ties. A term on
    /// a path already ordered by is left out: it could never break a tie (and MongoDB's
    /// sort document cannot name a path twice). Checked as [`filter`](Self::filter) is.
    pub fn order_by<R>(mut self, order: Order<M, R>) -> Self
    where
        On: Accepts<R>,
    {
        if let Err(e) = check_path(&order.order.path) {
            self.error.get_or_insert(e.with_model(M::DESC.name));
        }
        if !self.plan.order.iter().any(|o| o.path == order.order.path) {
            self.plan.order.push(order.order);
        }
        self
    }

    /// Returns at most `n` records.
    pub fn limit(mut self, n: usize) -> Self {
        self.plan.limit = Some(n);
        self
    }

    /// Skips the first `n` records.
    pub fn offset(mut self, n: usize) -> Self {
        self.plan.offset = n;
        self
    }

    /// The lookups across a `Ref` that run as a two-step join before the plan.
    pub(crate) fn joins(&self) -> &[crate::plan::join::JoinFilter] {
        &self.joins
    }

    /// The related selections.
    pub(crate) fn selections(&self) -> &[crate::plan::join::Selection] {
        &self.related
    }

    /// The plan, or the first error met while building it (a lookup value that cannot be
    /// stored, say).
    pub fn plan(&self) -> Result<&Plan> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(&self.plan),
        }
    }

    /// The plan and the lookups across a `Ref`, moved out (or the first error met while
    /// building them): for a query that runs once, without copying its plan.
    pub(crate) fn into_plan(self) -> Result<(Plan, Vec<crate::plan::join::JoinFilter>)> {
        match self.error {
            Some(e) => Err(e),
            None => Ok((self.plan, self.joins)),
        }
    }

    /// The same query on another target.
    pub(crate) fn retarget<On2>(self, on: On2) -> Query<M, On2> {
        let Query { plan, joins, related, annotations, error, .. } = self;
        Query { on, plan, joins, related, annotations, error, _model: PhantomData }
    }

    /// The target and the query apart from it.
    pub(crate) fn detach(self) -> (On, Query<M>) {
        let Query { on, plan, joins, related, annotations, error, _model } = self;
        (on, Query { on: Detached, plan, joins, related, annotations, error, _model })
    }
}

pub(super) fn top_level(path: &str) -> String {
    path.split('.').next().unwrap_or(path).to_owned()
}

/// The first `in` filter with more values than `max_in`.
pub(crate) fn oversized(plan: &Plan, max_in: usize) -> Option<usize> {
    plan.filters.iter().position(|f| oversized_filter(f, max_in))
}

/// Whether one condition is an `in` with more values than `max_in`.
pub(crate) fn oversized_filter(f: &Filter, max_in: usize) -> bool {
    matches!(&f.op, Op::In(vs) if vs.len() > max_in)
}

/// Whether the plan holds an `in` lookup with more values than `max_in`.
pub(crate) fn needs_split(plan: &Plan, max_in: usize) -> bool {
    oversized(plan, max_in).is_some()
}

/// The filter a subclass's queries carry.
pub(crate) fn class_filter(class: &crate::schema::class::ClassDesc) -> Filter {
    Filter { path: crate::schema::class::CLASS_FIELD.into(), op: Op::Has(Value::String(class.name.into())) }
}

/// A path made with a map key no map can store is an error naming the map field and the key.
pub(crate) fn check_path(path: &str) -> Result<()> {
    let Some(at) = path.find(BAD_KEY) else { return Ok(()) };
    let field = path[..at].trim_end_matches('.');
    let hex = path[at + 1..].split(BAD_KEY).next().unwrap_or_default();
    let bytes: Vec<u8> =
        (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect();
    let key = String::from_utf8_lossy(&bytes);
    let err = crate::core::codec::bad_map_key(&key, crate::error::ErrorKind::Encode)
        .unwrap_or_else(|| Error::new(crate::error::ErrorKind::Encode, format!("map key {key:?} cannot be looked up")));
    Err(err.with_field(field))
}

/// Marks, in a path, a map key no map can store: `map.\0<key in hex>\0` (NUL, which no
/// valid key or field name holds). [`check_path`] turns it into the error when a condition,
/// an ordering or an update uses the path.
pub(super) const BAD_KEY: char = '\0';
