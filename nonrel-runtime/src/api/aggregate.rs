//! Aggregates, distinct values and value projections on a query of a database, typed:
//! `sum`, `avg`, `min`, `max` and [`aggregate`](Query::aggregate) over the matching records,
//! [`group_by`](Query::group_by) for one result per group, [`distinct`](Query::distinct) and
//! [`values`](Query::values).

use crate::api::database::Database;
use crate::backend::Backend;
use crate::core::codec::Decode;
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::aggregate::{decode_value, Aggregate, GroupOrder, GroupRow, GroupTerm, Grouping, NumberKind};
use crate::plan::{Direction, Field, Ordered, Projection, Query, KEY};
use crate::schema::key::KeyValue;
use crate::schema::model::Model;
use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

/// Number types `sum` and `avg` apply to: integers sum exactly into an `i64` (a sum past its
/// range is an error naming model and field), floating-point numbers into an `f64`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a number, so `sum` and `avg` do not apply",
    label = "not a numeric field",
    note = "sum and avg take integer fields (summed as i64) and f32 or f64 fields (summed as f64)"
)]
pub trait Numeric: Ordered + Decode {
    /// What its sum is.
    type Sum: Send + 'static;
    /// How its values add up.
    const KIND: NumberKind;
    #[doc(hidden)]
    fn sum_of(v: &Value) -> Result<Self::Sum>;
}

macro_rules! numeric {
    ($sum:ty, $kind:ident, $($t:ty),*) => {$(
        impl Numeric for $t {
            type Sum = $sum;
            const KIND: NumberKind = NumberKind::$kind;
            fn sum_of(v: &Value) -> Result<$sum> {
                decode_value::<$sum>(v)
            }
        }
    )*};
}

numeric!(i64, Int, i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
numeric!(f64, Float, f32, f64);

/// The number of matching records (or of records in a group): `u64`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count;

/// The sum of a numeric field: `i64` for integers, `f64` for floating-point numbers; `0`
/// over no records. Null and missing values are skipped.
pub struct Sum<M, T, F = ()>(pub Field<M, T, F>);

/// The average of a numeric field, `None` when no record holds a value: `Option<f64>`.
pub struct Avg<M, T, F = ()>(pub Field<M, T, F>);

/// The smallest value of an ordered field, `None` when no record holds one: `Option<T>`.
pub struct Min<M, T, F = ()>(pub Field<M, T, F>);

/// The largest value of an ordered field, `None` when no record holds one: `Option<T>`.
pub struct Max<M, T, F = ()>(pub Field<M, T, F>);

/// What [`aggregate`](Query::aggregate) computes: [`Count`], [`Sum`], [`Avg`], [`Min`],
/// [`Max`], or a tuple of up to six of them (giving a tuple of their results).
pub trait Aggregates<M> {
    /// The typed result.
    type Output;
    #[doc(hidden)]
    fn specs(&self, specs: &mut Vec<Aggregate>, terms: &mut Vec<GroupTerm>);
    #[doc(hidden)]
    fn read(&self, values: &[Value], at: &mut usize) -> Result<Self::Output>;
}

fn next<'a>(values: &'a [Value], at: &mut usize) -> &'a Value {
    let v = values.get(*at).unwrap_or(&Value::Null);
    *at += 1;
    v
}

fn count_of(v: &Value) -> u64 {
    match v {
        Value::Int64(n) => u64::try_from(*n).unwrap_or(0),
        Value::Int32(n) => u64::try_from(*n).unwrap_or(0),
        Value::Double(f) => *f as u64,
        _ => 0,
    }
}

impl<M> Aggregates<M> for Count {
    type Output = u64;
    fn specs(&self, specs: &mut Vec<Aggregate>, terms: &mut Vec<GroupTerm>) {
        terms.push(GroupTerm::ByValue(specs.len()));
        specs.push(Aggregate::Records);
    }
    fn read(&self, values: &[Value], at: &mut usize) -> Result<u64> {
        Ok(count_of(next(values, at)))
    }
}

fn owned(path: &str) -> Cow<'static, str> {
    Cow::Owned(path.to_owned())
}

impl<M, T: Numeric, F> Aggregates<M> for Sum<M, T, F> {
    type Output = T::Sum;
    fn specs(&self, specs: &mut Vec<Aggregate>, terms: &mut Vec<GroupTerm>) {
        terms.push(GroupTerm::ByValue(specs.len()));
        specs.push(Aggregate::Total(owned(self.0.path()), T::KIND));
    }
    fn read(&self, values: &[Value], at: &mut usize) -> Result<T::Sum> {
        T::sum_of(next(values, at)).map_err(|e| e.with_field(self.0.path()))
    }
}

impl<M, T: Numeric, F> Aggregates<M> for Avg<M, T, F> {
    type Output = Option<f64>;
    fn specs(&self, specs: &mut Vec<Aggregate>, terms: &mut Vec<GroupTerm>) {
        terms.push(GroupTerm::ByAverage(specs.len(), specs.len() + 1));
        specs.push(Aggregate::Total(owned(self.0.path()), T::KIND));
        specs.push(Aggregate::Numbers(owned(self.0.path())));
    }
    fn read(&self, values: &[Value], at: &mut usize) -> Result<Option<f64>> {
        let sum = next(values, at);
        Ok(crate::plan::aggregate::average(Some(sum), Some(next(values, at))))
    }
}

macro_rules! extreme {
    ($t:ident, $op:ident) => {
        impl<M, T: Ordered + Decode, F> Aggregates<M> for $t<M, T, F> {
            type Output = Option<T>;
            fn specs(&self, specs: &mut Vec<Aggregate>, terms: &mut Vec<GroupTerm>) {
                terms.push(GroupTerm::ByValue(specs.len()));
                specs.push(Aggregate::$op(owned(self.0.path())));
            }
            fn read(&self, values: &[Value], at: &mut usize) -> Result<Option<T>> {
                match next(values, at) {
                    Value::Null => Ok(None),
                    v => decode_value(v).map(Some).map_err(|e| e.with_field(self.0.path())),
                }
            }
        }
    };
}

extreme!(Min, Least);
extreme!(Max, Greatest);

macro_rules! tuples {
    ($($name:ident $idx:tt),+) => {
        impl<M, $($name: Aggregates<M>),+> Aggregates<M> for ($($name,)+) {
            type Output = ($($name::Output,)+);
            fn specs(&self, specs: &mut Vec<Aggregate>, terms: &mut Vec<GroupTerm>) {
                $( self.$idx.specs(specs, terms); )+
            }
            fn read(&self, values: &[Value], at: &mut usize) -> Result<Self::Output> {
                Ok(($( self.$idx.read(values, at)?, )+))
            }
        }
        impl<M, On, $($name: GroupKey<M, On>),+> GroupKey<M, On> for ($($name,)+) {
            type Key = ($($name::Key,)+);
            fn paths(&self, out: &mut Vec<Cow<'static, str>>) {
                $( self.$idx.paths(out); )+
            }
            fn read(&self, values: &[Value], at: &mut usize) -> Result<Self::Key> {
                Ok(($( self.$idx.read(values, at)?, )+))
            }
        }
        impl<M, $($name: Projected<M>),+> Projected<M> for ($($name,)+) {
            type Output = ($($name::Output,)+);
            fn paths(&self, out: &mut Vec<Cow<'static, str>>) {
                $( self.$idx.paths(out); )+
            }
            fn read(&self, doc: &[u8], key: Option<&KeyValue>) -> Result<Self::Output> {
                Ok(($( self.$idx.read(doc, key)?, )+))
            }
        }
    };
}

tuples!(A 0);
tuples!(A 0, B 1);
tuples!(A 0, B 1, C 2);
tuples!(A 0, B 1, C 2, D 3);
tuples!(A 0, B 1, C 2, D 3, E 4);
tuples!(A 0, B 1, C 2, D 3, E 4, G 5);

/// What records group by in [`group_by`](Query::group_by) on a query of `On`: a field
/// (`Post::author()`, a `Ref` giving the related record's key), a field of the related model
/// across a `Ref` (`Post::author().join(User::name())`, read from its denormalized copy, so
/// it compiles only where the model declares the copy), or a tuple of up to six of them.
#[diagnostic::on_unimplemented(
    message = "records cannot be grouped by `{Self}` here",
    label = "not a group key this query's backend runs",
    note = "group by a field, a tuple of fields, or a related field across a `Ref` whose copy the model declares (`#[model(denormalize(author.name))]`)"
)]
pub trait GroupKey<M, On = crate::plan::Detached> {
    /// The typed key of a group.
    type Key;
    #[doc(hidden)]
    fn paths(&self, out: &mut Vec<Cow<'static, str>>);
    #[doc(hidden)]
    fn read(&self, values: &[Value], at: &mut usize) -> Result<Self::Key>;
}

/// A group key's value as its type, null as the type's missing value if it has one.
fn key_value<T: Decode>(v: &Value, path: &str) -> Result<T> {
    match v {
        Value::Null => T::when_missing().ok_or_else(|| {
            let msg = "records without a value group under null, which the key's type cannot hold: leave them out with `.filter(field.isnull(false))`";
            Error::new(ErrorKind::Decode, msg).with_field(path)
        }),
        v => decode_value(v).map_err(|e| e.with_field(path)),
    }
}

impl<M, T: Decode, F, On> GroupKey<M, On> for Field<M, T, F> {
    type Key = T;
    fn paths(&self, out: &mut Vec<Cow<'static, str>>) {
        out.push(owned(self.path()));
    }
    fn read(&self, values: &[Value], at: &mut usize) -> Result<T> {
        key_value(next(values, at), self.path())
    }
}

/// A related field across a `Ref`: its denormalized copy on `M`, which the backend must run
/// ([`JoinOrder`](crate::engine::related::JoinOrder): the copy declared).
impl<M: Model, T: Model, V: Decode, F, G, On> GroupKey<M, On> for crate::engine::related::Joined<M, T, V, F, G>
where
    On: crate::plan::Accepts<crate::engine::related::JoinOrder<F, G>>,
{
    type Key = V;
    fn paths(&self, out: &mut Vec<Cow<'static, str>>) {
        out.push(self.copy_path());
    }
    fn read(&self, values: &[Value], at: &mut usize) -> Result<V> {
        key_value(next(values, at), &self.copy_path())
    }
}

/// The fields [`values`](Query::values) reads: a field or a tuple of up to six fields
/// (`Post::id()` reads the key).
pub trait Projected<M> {
    /// The typed values of one record.
    type Output;
    #[doc(hidden)]
    fn paths(&self, out: &mut Vec<Cow<'static, str>>);
    #[doc(hidden)]
    fn read(&self, doc: &[u8], key: Option<&KeyValue>) -> Result<Self::Output>;
}

impl<M, T: Decode, F> Projected<M> for Field<M, T, F> {
    type Output = T;
    fn paths(&self, out: &mut Vec<Cow<'static, str>>) {
        out.push(owned(self.path()));
    }
    fn read(&self, doc: &[u8], key: Option<&KeyValue>) -> Result<T> {
        let path = self.path();
        if path == KEY {
            if let Some(k) = key {
                return decode_value(&crate::plan::eval::key_as_value(k)).map_err(|e| e.with_field(path));
            }
        }
        let mut found = crate::plan::eval::values_at(doc, path)?;
        let value = match found.len() {
            0 => {
                return T::when_missing()
                    .ok_or_else(|| Error::new(ErrorKind::Decode, "missing from the stored document").with_field(path))
            }
            1 => found.pop().unwrap_or(Value::Null),
            _ => Value::Array(found),
        };
        match value {
            Value::Null => T::when_missing()
                .ok_or_else(|| Error::new(ErrorKind::Decode, "null in the stored document").with_field(path)),
            v => decode_value(&v).map_err(|e| e.with_field(path)),
        }
    }
}

/// A query's records grouped by a key ([`Query::group_by`]), waiting for what to compute
/// per group.
#[must_use = "a grouping does nothing until its aggregates run"]
pub struct Grouped<'db, B, M, K> {
    query: Query<M, &'db Database<B>>,
    key: K,
}

/// Groups and their aggregates ([`Grouped::aggregate`]): ordered, limited, and awaited (or
/// run with [`all`](Self::all)) for `(key, aggregates)` pairs.
#[must_use = "a grouping does nothing until it runs"]
pub struct GroupedAggregates<'db, B, M, K, A> {
    query: Query<M, &'db Database<B>>,
    key: K,
    aggregates: A,
    grouping: Grouping,
    terms: Vec<GroupTerm>,
    error: Option<Error>,
}

impl<'db, B: Backend, M: Model, K: GroupKey<M, &'db Database<B>>> Grouped<'db, B, M, K> {
    /// Computes `aggregates` (one of [`Count`], [`Sum`], [`Avg`], [`Min`], [`Max`] or a tuple
    /// of them) per group.
    pub fn aggregate<A: Aggregates<M>>(self, aggregates: A) -> GroupedAggregates<'db, B, M, K, A> {
        let mut grouping = Grouping::default();
        self.key.paths(&mut grouping.keys);
        let mut terms = Vec::new();
        aggregates.specs(&mut grouping.aggregates, &mut terms);
        GroupedAggregates { query: self.query, key: self.key, aggregates, grouping, terms, error: None }
    }

    /// The number of records per group.
    pub fn count(self) -> GroupedAggregates<'db, B, M, K, Count> {
        self.aggregate(Count)
    }
}

impl<'db, B: Backend, M: Model, K: GroupKey<M, &'db Database<B>>, A: Aggregates<M>> GroupedAggregates<'db, B, M, K, A> {
    /// Orders the groups by their key (every key field, in turn) in this direction; earlier
    /// terms take precedence, the key ascending breaks ties.
    pub fn order_by_key(mut self, direction: Direction) -> Self {
        for i in 0..self.grouping.keys.len() {
            self.grouping.order.push(GroupOrder { term: GroupTerm::ByKey(i), direction });
        }
        self
    }

    /// Orders the groups by the aggregate at position `index` of the aggregates (0 for a
    /// single one); an index past them makes the query fail.
    pub fn order_by_aggregate(mut self, index: usize, direction: Direction) -> Self {
        match self.terms.get(index) {
            Some(term) => self.grouping.order.push(GroupOrder { term: *term, direction }),
            None => {
                let msg = format!("no aggregate at position {index} to order the groups by");
                self.error.get_or_insert(Error::new(ErrorKind::Unsupported, msg).with_model(M::DESC.name));
            }
        }
        self
    }

    /// Returns at most `n` groups (after ordering).
    pub fn limit(mut self, n: usize) -> Self {
        self.grouping.limit = Some(n);
        self
    }

    /// The untyped grouping the backend runs.
    pub fn grouping(&self) -> &Grouping {
        &self.grouping
    }

    /// The groups: each key with its aggregates.
    pub async fn all(self) -> Result<Vec<(K::Key, A::Output)>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let rows = run(&self.query, &self.grouping).await?;
        let read = |row: &GroupRow| {
            let key = self.key.read(&row.key, &mut 0)?;
            Ok((key, self.aggregates.read(&row.values, &mut 0)?))
        };
        rows.iter().map(|r| read(r).map_err(|e: Error| e.with_model(M::DESC.name))).collect()
    }
}

impl<'db, B: Backend, M: Model, K, A> IntoFuture for GroupedAggregates<'db, B, M, K, A>
where
    K: GroupKey<M, &'db Database<B>> + Send + 'db,
    A: Aggregates<M> + Send + 'db,
    K::Key: Send,
    A::Output: Send,
{
    type Output = Result<Vec<(K::Key, A::Output)>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'db>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.all())
    }
}

/// The groups of a query's records on its database.
async fn run<B: Backend, M: Model>(query: &Query<M, &Database<B>>, grouping: &Grouping) -> Result<Vec<GroupRow>> {
    let plan = query.backend_plan().await.map_err(|e| e.with_model(M::DESC.name))?;
    let db = query.database();
    crate::engine::aggregate::aggregate(db.backend(), M::DESC, plan, grouping, db.max_in()).await
}

impl<'db, B: Backend, M: Model> Query<M, &'db Database<B>> {
    /// Computes aggregates over the matching records (honouring offset and limit): one of
    /// [`Count`], [`Sum`], [`Avg`], [`Min`], [`Max`], or a tuple of them.
    ///
    /// ```
    /// use nonrel_runtime::aggregate::{Avg, Count, Max, Sum};
    /// # use nonrel_runtime::{Database, Key, Model};
    /// # #[derive(Model)]
    /// # struct Post { #[field(key)] id: Option<Key<Post>>, category: String, views: u32 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// for views in [3, 5] {
    ///     db.save(&mut Post { id: None, category: "rust".into(), views }).await?;
    /// }
    /// let (n, total, mean, most) =
    ///     db.query::<Post>().aggregate((Count, Sum(Post::views()), Avg(Post::views()), Max(Post::views()))).await?;
    /// assert_eq!((n, total, mean, most), (2, 8, Some(4.0), Some(5)));
    /// # Ok(()) }
    /// ```
    pub async fn aggregate<A: Aggregates<M>>(self, aggregates: A) -> Result<A::Output> {
        let mut grouping = Grouping::default();
        aggregates.specs(&mut grouping.aggregates, &mut Vec::new());
        let rows = run(&self, &grouping).await?;
        let values = match rows.into_iter().next() {
            Some(row) => row.values,
            None => grouping.aggregates.iter().map(Aggregate::empty).collect(),
        };
        aggregates.read(&values, &mut 0).map_err(|e| e.with_model(M::DESC.name))
    }

    /// The sum of a numeric field over the matching records: `i64` for integer fields (a sum
    /// past its range is an error naming model and field), `f64` for floating-point ones.
    /// Null and missing values are skipped; no records sum to 0. A field that is not a number
    /// does not compile ([`Numeric`]).
    pub async fn sum<T: Numeric, F>(self, field: Field<M, T, F>) -> Result<T::Sum> {
        self.aggregate(Sum(field)).await
    }

    /// The average of a numeric field over the matching records that hold a value; `None`
    /// when none does.
    pub async fn avg<T: Numeric, F>(self, field: Field<M, T, F>) -> Result<Option<f64>> {
        self.aggregate(Avg(field)).await
    }

    /// The smallest value of a field over the matching records; `None` when none holds one.
    pub async fn min<T: Ordered + Decode, F>(self, field: Field<M, T, F>) -> Result<Option<T>> {
        self.aggregate(Min(field)).await
    }

    /// The largest value of a field over the matching records; `None` when none holds one.
    pub async fn max<T: Ordered + Decode, F>(self, field: Field<M, T, F>) -> Result<Option<T>> {
        self.aggregate(Max(field)).await
    }

    /// Groups the matching records by a field or a tuple of fields; then
    /// [`aggregate`](Grouped::aggregate) or [`count`](Grouped::count) says what to compute per
    /// group. Groups come in key order unless ordered otherwise. Records without a value of a
    /// key field group under null, an error unless the key's type holds it (filter them out
    /// with `isnull(false)`).
    ///
    /// ```
    /// use nonrel_runtime::aggregate::{Count, Sum};
    /// use nonrel_runtime::query::Direction;
    /// # use nonrel_runtime::{Database, Key, Model};
    /// # #[derive(Model)]
    /// # struct Post { #[field(key)] id: Option<Key<Post>>, category: String, views: u32 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// for (category, views) in [("rust", 3), ("go", 1), ("rust", 5)] {
    ///     db.save(&mut Post { id: None, category: category.into(), views }).await?;
    /// }
    /// let top = db.query::<Post>()
    ///     .group_by(Post::category())
    ///     .aggregate((Count, Sum(Post::views())))
    ///     .order_by_aggregate(1, Direction::Desc)
    ///     .limit(1)
    ///     .await?;
    /// assert_eq!(top, [("rust".to_string(), (2, 8))]);
    /// let per: Vec<(String, u64)> = db.query::<Post>().group_by(Post::category()).count().await?;
    /// assert_eq!(per, [("go".to_string(), 1), ("rust".to_string(), 2)]);
    /// # Ok(()) }
    /// ```
    pub fn group_by<K: GroupKey<M, &'db Database<B>>>(self, key: K) -> Grouped<'db, B, M, K> {
        Grouped { query: self, key }
    }

    /// The distinct values of a field over the matching records, in the field's order
    /// (MongoDB's), records without a value left out.
    ///
    /// ```
    /// # use nonrel_runtime::{Database, Key, Model};
    /// # #[derive(Model)]
    /// # struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] category: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// for category in ["rust", "go", "rust"] {
    ///     db.save(&mut Post { id: None, category: category.into() }).await?;
    /// }
    /// assert_eq!(db.query::<Post>().distinct(Post::category()).await?, ["go", "rust"]);
    /// # Ok(()) }
    /// ```
    pub async fn distinct<T: Decode, F>(self, field: Field<M, T, F>) -> Result<Vec<T>> {
        let grouping = Grouping { keys: vec![owned(field.path())], ..Grouping::default() };
        let rows = run(&self, &grouping).await?;
        let values = rows.into_iter().filter_map(|mut r| r.key.pop()).filter(|v| !matches!(v, Value::Null));
        values.map(|v| decode_value(&v).map_err(|e| e.with_field(field.path()).with_model(M::DESC.name))).collect()
    }

    /// The values of a field, or of a tuple of up to six fields, of each matching record, in
    /// the query's order: only those fields are loaded (and sent, by stores that project).
    ///
    /// ```
    /// # use nonrel_runtime::{Database, Key, Model};
    /// # #[derive(Model)]
    /// # struct Post { #[field(key)] id: Option<Key<Post>>, title: String, views: u32, body: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// db.save(&mut Post { id: None, title: "Hello".into(), views: 3, body: "long".into() }).await?;
    /// let rows: Vec<(String, u32)> = db.query::<Post>().values((Post::title(), Post::views())).await?;
    /// assert_eq!(rows, [("Hello".to_string(), 3)]);
    /// # Ok(()) }
    /// ```
    pub async fn values<V: Projected<M>>(mut self, fields: V) -> Result<Vec<V::Output>> {
        let mut paths = Vec::new();
        fields.paths(&mut paths);
        let mut names: Vec<String> =
            paths.iter().filter(|p| *p != KEY).map(|p| p.split('.').next().unwrap_or(p).to_owned()).collect();
        names.sort();
        names.dedup();
        self.plan.projection = Some(Projection::Only(names));
        let rows = self.run().await.map_err(|e| e.with_model(M::DESC.name))?;
        rows.iter()
            .map(|r| {
                fields.read(&r.doc, r.key.as_ref()).map_err(|e| {
                    let e = e.with_model(M::DESC.name);
                    match &r.key {
                        Some(k) => e.with_key(k),
                        None => e,
                    }
                })
            })
            .collect()
    }
}

impl<'db, B: Backend, M: Model, K: GroupKey<M, &'db Database<B>>, A: Aggregates<M>> GroupedAggregates<'db, B, M, K, A> {
    /// The query's plan as the backend runs it, before lookups across a `Ref` are resolved.
    fn local_plan(&self) -> Result<crate::plan::Plan> {
        self.query.local_plan()
    }
}

impl<'db, M: Model, K, A: Aggregates<M>> GroupedAggregates<'db, crate::embedded::Redb, M, K, A>
where
    K: GroupKey<M, &'db Database<crate::embedded::Redb>>,
{
    /// How the embedded backend computes these groups: in one pass inside the store (and
    /// through which index), or by the runtime; counted by running it.
    ///
    /// ```
    /// use nonrel_runtime::aggregate::{AggregateStrategy, Sum};
    /// # use nonrel_runtime::{Database, Key, Model};
    /// # #[derive(Model)]
    /// # struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] category: String, views: u32 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// let rust = db.query::<Post>().filter(Post::category().eq("rust"));
    /// let how = rust.group_by(Post::category()).aggregate(Sum(Post::views())).explain()?;
    /// assert_eq!((how.strategy, how.read.index), (AggregateStrategy::InStore, Some("category")));
    /// # Ok(()) }
    /// ```
    pub fn explain(&self) -> Result<crate::embedded::AggregateExplain> {
        let db = self.query.database();
        db.backend().explain_aggregate_plan(M::DESC, &self.local_plan()?, &self.grouping)
    }
}

impl<M: Model> Query<M, &Database<crate::embedded::Redb>> {
    /// How the embedded backend reads the distinct values of a field
    /// ([`distinct`](Self::distinct)): a walk of the field's index when one serves, else a
    /// pass over the query's records; counted by running it.
    ///
    /// ```
    /// use nonrel_runtime::aggregate::AggregateStrategy;
    /// # use nonrel_runtime::{Database, Key, Model};
    /// # #[derive(Model)]
    /// # struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] category: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// for category in ["go", "rust", "rust", "rust"] {
    ///     db.save(&mut Post { id: None, category: category.into() }).await?;
    /// }
    /// let how = db.query::<Post>().explain_distinct(Post::category())?;
    /// assert_eq!(how.strategy, AggregateStrategy::IndexWalk);
    /// assert_eq!(how.read.entries_read, 2); // one entry per value
    /// # Ok(()) }
    /// ```
    pub fn explain_distinct<T, F>(&self, field: Field<M, T, F>) -> Result<crate::embedded::AggregateExplain> {
        let grouping = Grouping { keys: vec![owned(field.path())], ..Grouping::default() };
        self.database().backend().explain_aggregate_plan(M::DESC, &self.local_plan()?, &grouping)
    }
}

#[cfg(feature = "mongodb")]
impl<'db, M: Model, K, A: Aggregates<M>> GroupedAggregates<'db, crate::mongo::Mongo, M, K, A>
where
    K: GroupKey<M, &'db Database<crate::mongo::Mongo>>,
{
    /// How MongoDB computes these groups: one `$group` pipeline (the command and the indexes
    /// the server's plan reads), or `None` when the runtime computes them from the records
    /// (a filter an aggregation refuses, a path it cannot name).
    ///
    /// ```no_run
    /// use nonrel_runtime::aggregate::Sum;
    /// use nonrel_runtime::mongo::MongoRuns;
    /// # use nonrel_runtime::{Database, Key, Model};
    /// # #[derive(Model)]
    /// # struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] category: String, views: u32 }
    /// # async fn run() -> nonrel_runtime::Result<()> {
    /// let db = Database::connect("mongodb://127.0.0.1:27017", "blog").await?;
    /// let rust = db.query::<Post>().filter(Post::category().eq("rust"));
    /// let how = rust.group_by(Post::category()).aggregate(Sum(Post::views())).explain().await?.unwrap();
    /// assert_eq!(how.runs, MongoRuns::Pipeline);
    /// # Ok(()) }
    /// ```
    pub async fn explain(&self) -> Result<Option<crate::mongo::MongoExplain>> {
        let plan = self.query.backend_plan().await.map_err(|e| e.with_model(M::DESC.name))?;
        self.query.database().backend().explain_aggregate_plan(M::DESC, &mongo_plan(plan), &self.grouping).await
    }
}

#[cfg(feature = "mongodb")]
impl<M: Model> Query<M, &Database<crate::mongo::Mongo>> {
    /// How MongoDB reads the distinct values of a field ([`distinct`](Self::distinct)): one
    /// `$group` pipeline on the field, as [`GroupedAggregates::explain`] tells.
    pub async fn explain_distinct<T, F>(&self, field: Field<M, T, F>) -> Result<Option<crate::mongo::MongoExplain>> {
        let grouping = Grouping { keys: vec![owned(field.path())], ..Grouping::default() };
        let plan = self.backend_plan().await.map_err(|e| e.with_model(M::DESC.name))?;
        self.database().backend().explain_aggregate_plan(M::DESC, &mongo_plan(plan), &grouping).await
    }
}

/// The plan an aggregate sends MongoDB (as `engine::aggregate` prepares it).
#[cfg(feature = "mongodb")]
fn mongo_plan(plan: crate::plan::Plan) -> crate::plan::Plan {
    let mut plan = crate::engine::keyed::normalized(plan);
    plan.projection = None;
    plan
}
