//! Atomic updates: typed builder, and the document rewriting backends without
//! native update operators use.

use crate::api::database::QueryBuilder;
use crate::backend::{Backend, UpdateCounts, UpdateKind, UpdateOp};
use crate::core::codec::{Encode, MAX_DEPTH};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Field, IntoLookup};
use crate::schema::model::Model;
use rust_decimal::Decimal;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

/// Number types: `inc` applies. An `Option` of a number is one too: `inc` on a null or
/// missing value stores the increment.
#[diagnostic::on_unimplemented(
    message = "`inc` needs a number field, and `{Self}` is not a number",
    label = "not a number field"
)]
pub trait Numeric {
    /// The type of the increment.
    type Number: crate::core::codec::Encode;
}

macro_rules! numeric {
    ($($t:ty),*) => {$( impl Numeric for $t { type Number = $t; } )*};
}

numeric!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, Decimal);

impl<T: Numeric> Numeric for Option<T> {
    type Number = T::Number;
}

/// Update operations on the records a query matches, run in the store in one step: no
/// record is read into the program. Await it for the matched and modified counts.
///
/// ```
/// # use nonrel_runtime::{Database, Key, Model};
/// #[derive(Model)]
/// struct Post { #[field(key)] id: Option<Key<Post>>, title: String, views: u32, tags: Vec<String> }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// let db = Database::in_memory()?;
/// let mut p = Post { id: None, title: "Hi".into(), views: 1, tags: vec![] };
/// db.save(&mut p).await?;
/// let done = db
///     .query::<Post>()
///     .filter(Post::title().eq("Hi"))
///     .update()
///     .inc(Post::views(), 1u32)
///     .push(Post::tags(), "new")
///     .await?;
/// assert_eq!((done.matched, done.modified), (1, 1));
/// assert_eq!(db.get(p.id.as_ref().unwrap()).await?.unwrap().views, 2);
/// # Ok(()) }
/// ```
#[must_use = "an update does nothing until awaited"]
pub struct UpdateBuilder<'db, B, M> {
    query: QueryBuilder<'db, B, M>,
    ops: Vec<UpdateOp>,
    error: Option<Error>,
}

/// An update ready for the store: its query and its operations.
type Checked<'db, B, M> = (QueryBuilder<'db, B, M>, Vec<UpdateOp>);

impl<'db, B: Backend, M: Model> UpdateBuilder<'db, B, M> {
    pub(crate) fn new(query: QueryBuilder<'db, B, M>) -> Self {
        UpdateBuilder { query, ops: Vec::new(), error: None }
    }

    fn op<T, F>(mut self, field: Field<M, T, F>, kind: UpdateKind, value: Result<Value>) -> Self {
        let path = field.into_path();
        if path == crate::plan::KEY {
            let msg = format!(
                "an update cannot change a record's key (`{}` of `{}`): save the record under the new key and delete the old one",
                M::DESC.key.field,
                M::DESC.name
            );
            let e = Error::new(crate::error::ErrorKind::InvalidKey, msg).with_model(M::DESC.name);
            self.error.get_or_insert(e.with_field(M::DESC.key.field));
            return self;
        }
        if let Err(e) = crate::plan::check_path(&path) {
            self.error.get_or_insert(e.with_model(M::DESC.name));
            return self;
        }
        match value.and_then(|value| check_depth(&path, kind, value)) {
            Ok(value) => self.ops.push(UpdateOp { path, kind, value }),
            Err(e) => {
                self.error.get_or_insert(e.with_model(M::DESC.name).with_field(&path));
            }
        }
        self
    }

    /// Sets a field.
    pub fn set<T: Encode, F>(self, field: Field<M, T, F>, value: impl IntoLookup<T>) -> Self {
        self.op(field, UpdateKind::Set, value.into_lookup())
    }

    /// Adds to a number field. A missing or null value counts as 0, so the field becomes
    /// `by`; a stored value that is not a number is an error naming it, and the update
    /// writes nothing on a backend with transactions. The result has MongoDB's `$inc` types:
    /// two 32-bit integers give a 32-bit integer (a 64-bit one on overflow), a 64-bit integer
    /// a 64-bit integer (an error on overflow), a double a double.
    pub fn inc<T: Numeric, F>(self, field: Field<M, T, F>, by: impl IntoLookup<T::Number>) -> Self {
        self.op(field, UpdateKind::Inc, by.into_lookup())
    }

    /// Appends to a list field.
    pub fn push<T, F>(self, field: Field<M, Vec<T>, F>, value: impl IntoLookup<T>) -> Self {
        self.op(field, UpdateKind::Push, value.into_lookup())
    }

    /// Removes every element equal to `value` from a list field.
    pub fn pull<T, F>(self, field: Field<M, Vec<T>, F>, value: impl IntoLookup<T>) -> Self {
        self.op(field, UpdateKind::Pull, value.into_lookup())
    }

    /// The checks before the store is asked: `Ok(None)` when there is nothing to update,
    /// else the query and its operations with the derived index fields they change.
    fn checked(self) -> Result<Option<Checked<'db, B, M>>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        check_paths(&self.ops).map_err(|e| e.with_model(M::DESC.name))?;
        if self.ops.is_empty() {
            return Ok(None);
        }
        let mut ops = self.ops;
        crate::engine::lookup::derived_updates(M::LOOKUPS, &mut ops).map_err(|e| e.with_model(M::DESC.name))?;
        Ok(Some((self.query, ops)))
    }
}

impl<'db, B: Backend, M: Model> IntoFuture for UpdateBuilder<'db, B, M> {
    type Output = Result<UpdateCounts>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<UpdateCounts>> + Send + 'db>>;

    fn into_future(self) -> Self::IntoFuture {
        // The checks run here, so the boxed future is the store's work alone.
        match self.checked() {
            Ok(Some((query, ops))) => Box::pin(query.run_update(ops)),
            Ok(None) => Box::pin(std::future::ready(Ok(UpdateCounts::default()))),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

/// Refuses a value that would nest documents and arrays past [`MAX_DEPTH`] levels where the
/// update puts it (a `set` at the path's level, a `push` one level below): the record could
/// never be read back.
fn check_depth(path: &str, kind: UpdateKind, value: Value) -> Result<Value> {
    let level = path.split('.').count() + usize::from(matches!(kind, UpdateKind::Push));
    match MAX_DEPTH.checked_sub(level - 1) {
        Some(room) if !value.nests_past(room) => Ok(value),
        _ if matches!(kind, UpdateKind::Pull | UpdateKind::Inc) => Ok(value),
        _ => Err(crate::core::codec::too_deep_error()),
    }
}

/// Two operations on one path (or a path and its parent) would conflict on every store.
fn check_paths(ops: &[UpdateOp]) -> Result<()> {
    for (i, a) in ops.iter().enumerate() {
        for b in &ops[i + 1..] {
            let nested =
                |x: &str, y: &str| y.strip_prefix(x).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
            if nested(&a.path, &b.path) || nested(&b.path, &a.path) {
                let msg = format!("one update cannot change both `{}` and `{}`", a.path, b.path);
                return Err(Error::new(ErrorKind::Unsupported, msg).with_field(&a.path));
            }
        }
    }
    Ok(())
}

impl<'db, B: Backend, M: Model> crate::plan::Query<M, &'db crate::api::database::Database<B>> {
    /// Atomic update operations on the matching records.
    pub fn update(self) -> UpdateBuilder<'db, B, M> {
        UpdateBuilder::new(self)
    }
}
