//! Prefetches (F2): lists of references and reverse sets, loaded for a whole result set.
//!
//! - [`prefetch_related`](QueryBuilder::prefetch_related) follows a `Vec<Ref<T>>` field: one
//!   batched key read of the union of every row's keys (split at the backend's `in` limit,
//!   F13); each row gets its list's records, in the list's order, duplicates kept.
//! - [`prefetch_reverse`](QueryBuilder::prefetch_reverse) loads, for each row, the records of
//!   another model whose reference field points at it (Django's `user.post_set`): one `in`
//!   query on that field with every row's key (split at the `in` limit as every `in` is),
//!   grouped by row.
//!
//! Either costs one round trip after the query, whatever the number of rows: two in all.
//!
//! On a row ([`Record::related`](crate::api::database::Record::related)), a list's records are kept under
//! the field's path, one row per key in the list's order; a key whose record does not exist
//! keeps its slot with an empty document (no stored document is empty). A reverse set is
//! kept under `<-` then the referring collection and path (`<-posts.author`).

use crate::api::database::{QueryBuilder, Record};
use crate::backend::{Backend, Row};
use crate::core::value::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::join::{reverse_name, Kind, Selection};
use crate::plan::{to_value, Field, Filter, Op, Plan, Projection, Query};
use crate::schema::key::{Key, KeyValue, Ref};
use crate::schema::model::Model;
use std::collections::{HashMap, HashSet};

/// A field that refers to one record: `Ref<T>` or `Option<Ref<T>>`, for
/// [`select_related`](QueryBuilder::select_related).
///
/// ```
/// use nonrel_runtime::{Key, Model, Ref, SingleRef};
/// #[derive(Model)] struct User { #[field(key)] id: Option<Key<User>> }
/// fn target<V: SingleRef>() -> &'static str { <V::Target as Model>::DESC.name }
/// assert_eq!(target::<Option<Ref<User>>>(), "User");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reference to one record",
    label = "`select_related` follows a field of type `Ref<T>` or `Option<Ref<T>>`",
    note = "for a `Vec<Ref<T>>` field use `prefetch_related`; for the records referring to these, `prefetch_reverse`"
)]
pub trait SingleRef {
    /// The model referred to.
    type Target: Model;
}

impl<T: Model> SingleRef for Ref<T> {
    type Target = T;
}

impl<T: Model> SingleRef for Option<Ref<T>> {
    type Target = T;
}

/// A field that refers to records of model `M`: `Ref<M>`, `Option<Ref<M>>` or
/// `Vec<Ref<M>>`, for [`prefetch_reverse`](QueryBuilder::prefetch_reverse).
///
/// ```
/// use nonrel_runtime::{Key, Model, Ref, RefersTo};
/// #[derive(Model)] struct Tag { #[field(key)] name: String }
/// fn refers<V: RefersTo<Tag>>() {}
/// refers::<Vec<Ref<Tag>>>();
/// refers::<Option<Ref<Tag>>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reference to `{M}`",
    label = "not a field that refers to `{M}`",
    note = "`prefetch_reverse` on a query of `{M}` follows a field of another model of type `Ref<{M}>`, \
            `Option<Ref<{M}>>` or `Vec<Ref<{M}>>`"
)]
pub trait RefersTo<M> {}

impl<T: Model> RefersTo<T> for Ref<T> {}

impl<T: Model> RefersTo<T> for Option<Ref<T>> {}

impl<T: Model> RefersTo<T> for Vec<Ref<T>> {}

impl<'db, B: Backend, M: Model> QueryBuilder<'db, B, M> {
    /// Loads, with the rows, the records each row's `Vec<Ref<T>>` field refers to: one
    /// batched key read of the union of every row's keys, whatever the number of rows (F2;
    /// split at the backend's `in` limit, F13). Read them with [`Record::related_many`], in
    /// the list's order; a key whose record does not exist is left out there and reported
    /// by [`Record::missing_related`].
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model, Ref};
    /// #[derive(Model, Debug, PartialEq)]
    /// struct Tag { #[field(key)] name: String, about: String }
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, tags: Vec<Ref<Tag>> }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// let mut tags = vec![Tag { name: "rust".into(), about: "a language".into() }, Tag { name: "db".into(), about: "stores".into() }];
    /// let keys = db.save_many(&mut tags).await?;
    /// let gone: Key<Tag> = Key::from("gone");
    /// db.save(&mut Post { id: None, tags: vec![keys[1].clone().into(), gone.clone().into(), keys[0].clone().into()] }).await?;
    /// let rows = db.query::<Post>().prefetch_related(Post::tags()).defer_related(Tag::about()).rows().await?;
    /// let tags: Vec<(String, String)> = rows[0].related_many(Post::tags())?.into_iter().map(|t| (t.name, t.about)).collect();
    /// assert_eq!(tags, [("db".into(), String::new()), ("rust".into(), String::new())]); // the list's order; `about` deferred
    /// assert_eq!(rows[0].missing_related(Post::tags()), [gone]); // the dangling key
    /// # Ok(()) }
    /// ```
    pub fn prefetch_related<T: Model, F>(self, field: Field<M, Vec<Ref<T>>, F>) -> Self {
        self.add_selection(field.into_path(), T::DESC, Kind::Many)
    }

    /// Loads, with the rows, the records of model `T` whose reference field `field` refers to
    /// each row (Django's reverse relations: a user's posts through `Post::author()`): one
    /// `in` query on `field` with every row's key, whatever the number of rows (split at the
    /// backend's `in` limit, F13), grouped by row in `T`'s key order. `field` may be a
    /// `Ref<M>`, an `Option<Ref<M>>` or a `Vec<Ref<M>>` (a record listing several rows
    /// belongs to each). Read them with [`Record::reverse`].
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model, Ref};
    /// #[derive(Model)]
    /// struct User { #[field(key)] name: String }
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, title: String, author: Ref<User> }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// for name in ["ann", "bob"] {
    ///     db.save(&mut User { name: name.into() }).await?;
    /// }
    /// for title in ["one", "two"] {
    ///     db.save(&mut Post { id: None, title: title.into(), author: Key::from("ann").into() }).await?;
    /// }
    /// let users = db.query::<User>().prefetch_reverse(Post::author()).rows().await?;
    /// let titles: Vec<String> = users[0].reverse(Post::author())?.into_iter().map(|p| p.title).collect();
    /// assert_eq!((users[0].record.name.as_str(), titles), ("ann", vec!["one".to_string(), "two".to_string()]));
    /// assert!(users[1].reverse(Post::author())?.is_empty()); // bob wrote nothing
    /// # Ok(()) }
    /// ```
    pub fn prefetch_reverse<T: Model, V: RefersTo<M>, F>(self, field: Field<T, V, F>) -> Self {
        self.prefetch_reverse_with(field, Query::new())
    }

    /// [`prefetch_reverse`](Self::prefetch_reverse) keeping only the records `query` matches,
    /// in its order; its offset and limit apply to each row's set (every match is read, in
    /// the same one query), and its [`only`](Query::only)/[`defer`](Query::defer) fields
    /// as [`only_related`](Self::only_related)/[`defer_related`](Self::defer_related) do.
    /// Conditions across another `Ref` (joins) are an error here.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model, Query, Ref};
    /// #[derive(Model)]
    /// struct User { #[field(key)] name: String }
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, views: i32, author: Ref<User> }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// db.save(&mut User { name: "ann".into() }).await?;
    /// for views in [5, 50, 500] {
    ///     db.save(&mut Post { id: None, views, author: Key::from("ann").into() }).await?;
    /// }
    /// let top = Query::<Post>::new().filter(Post::views().gt(10)).order_by(Post::views().desc()).limit(1);
    /// let users = db.query::<User>().prefetch_reverse_with(Post::author(), top).rows().await?;
    /// assert_eq!(users[0].reverse(Post::author())?[0].views, 500); // each user's most viewed
    /// # Ok(()) }
    /// ```
    pub fn prefetch_reverse_with<T: Model, V: RefersTo<M>, F>(self, field: Field<T, V, F>, query: Query<T>) -> Self {
        let plan = match (query.plan(), query.joins()) {
            (Ok(plan), []) => Ok(plan.clone()),
            (Ok(_), _) => Err(Error::new(
                ErrorKind::Unsupported,
                "a reverse prefetch cannot hold conditions across another `Ref` (joins)",
            )
            .with_model(T::DESC.name)),
            (Err(e), _) => Err(e),
        };
        let projection = plan.as_ref().ok().and_then(|p| p.projection.clone());
        let reference = field.into_path();
        let name = reverse_name(T::DESC, &reference);
        let mut q = self.add_selection(reference, T::DESC, Kind::Reverse(Box::new(plan)));
        if let Some(s) = q.related.iter_mut().find(|s| s.name() == name && s.projection.is_none()) {
            s.projection = projection;
        }
        q
    }
}

impl<M: Model> Record<M> {
    /// The records this row's `Vec<Ref<T>>` field refers to, loaded by
    /// [`prefetch_related`](QueryBuilder::prefetch_related): in the list's order, a key
    /// listed twice giving its record twice; keys whose record does not exist are left out
    /// (see [`missing_related`](Self::missing_related)). Empty when the query did not
    /// prefetch the field.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model, Ref};
    /// #[derive(Model)]
    /// struct Tag { #[field(key)] name: String }
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, tags: Vec<Ref<Tag>> }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// let rust = db.save(&mut Tag { name: "rust".into() }).await?;
    /// db.save(&mut Post { id: None, tags: vec![rust.clone().into(), rust.into()] }).await?;
    /// let rows = db.query::<Post>().prefetch_related(Post::tags()).rows().await?;
    /// assert_eq!(rows[0].related_many(Post::tags())?.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn related_many<T: Model, F>(&self, field: Field<M, Vec<Ref<T>>, F>) -> Result<Vec<T>> {
        self.related_rows(field.path())
    }

    /// The keys of this row's `Vec<Ref<T>>` field, prefetched by
    /// [`prefetch_related`](QueryBuilder::prefetch_related), whose records do not exist (a
    /// dangling reference), in the list's order.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model, Ref};
    /// #[derive(Model)]
    /// struct Tag { #[field(key)] name: String }
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, tags: Vec<Ref<Tag>> }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// db.save(&mut Post { id: None, tags: vec![Key::from("gone").into()] }).await?;
    /// let rows = db.query::<Post>().prefetch_related(Post::tags()).rows().await?;
    /// assert_eq!(rows[0].missing_related(Post::tags()), [Key::from("gone")]);
    /// # Ok(()) }
    /// ```
    pub fn missing_related<T: Model, F>(&self, field: Field<M, Vec<Ref<T>>, F>) -> Vec<Key<T>> {
        let name = field.path();
        let rows = self.related.iter().find(|(n, _)| n == name).map(|(_, rows)| rows.as_slice()).unwrap_or(&[]);
        rows.iter().filter(|r| r.doc.is_empty()).filter_map(|r| r.key.clone()).map(Key::from_value).collect()
    }

    /// The records of model `T` whose reference field `field` refers to this row, loaded by
    /// [`prefetch_reverse`](QueryBuilder::prefetch_reverse): in `T`'s key order (or the
    /// order of [`prefetch_reverse_with`](QueryBuilder::prefetch_reverse_with)'s query).
    /// Empty when none refers to it or the query did not prefetch them.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model, Ref};
    /// #[derive(Model)]
    /// struct User { #[field(key)] name: String }
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, author: Ref<User> }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// let ann = db.save(&mut User { name: "ann".into() }).await?;
    /// db.save(&mut Post { id: None, author: ann.into() }).await?;
    /// let users = db.query::<User>().prefetch_reverse(Post::author()).rows().await?;
    /// assert_eq!(users[0].reverse(Post::author())?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn reverse<T: Model, V: RefersTo<M>, F>(&self, field: Field<T, V, F>) -> Result<Vec<T>> {
        self.related_rows(&reverse_name(T::DESC, field.path()))
    }
}

/// Splits a query's selections into those of one `Ref` (which a backend may run with the
/// query, by `$lookup`) and the prefetches, which [`load`] runs after it.
pub(crate) fn partition(selections: &[Selection]) -> (Vec<Selection>, Vec<Selection>) {
    selections.iter().cloned().partition(|s| matches!(s.kind, Kind::One))
}

/// Fills each row's prefetches: one batched read (lists) or one query (reverse sets) each,
/// split at `max_in` keys.
pub(crate) async fn load<B: Backend>(
    backend: &B,
    selections: &[Selection],
    rows: &mut [Row],
    max_in: usize,
) -> Result<()> {
    for s in selections {
        let sets = match &s.kind {
            Kind::One => continue,
            Kind::Many => lists(backend, s, rows, max_in).await,
            Kind::Reverse(plan) => reverse_sets(backend, s, (**plan).clone()?, rows, max_in).await,
        }
        .map_err(|e| e.with_model(s.related.name))?;
        let name = s.name();
        for (row, set) in rows.iter_mut().zip(sets) {
            row.related.push((name.clone(), set));
        }
    }
    Ok(())
}

/// The keys a stored reference holds at `path`: one for a `Ref`, none for null or missing,
/// each element's for a list.
fn keys_at(doc: &[u8], path: &str) -> Result<Vec<KeyValue>> {
    let mut out = Vec::new();
    for v in crate::plan::eval::values_at(doc, path)? {
        match v {
            Value::Array(items) => out.extend(items.into_iter().filter_map(key_of)),
            v => out.extend(key_of(v)),
        }
    }
    Ok(out)
}

fn key_of(v: Value) -> Option<KeyValue> {
    match v {
        Value::Int32(n) => Some(KeyValue::Int(n.into())),
        Value::Int64(n) => Some(KeyValue::Int(n)),
        Value::String(s) => Some(KeyValue::Str(s)),
        Value::ObjectId(o) => Some(KeyValue::ObjectId(o)),
        _ => None,
    }
}

/// Each row's list of related records, in its list's order: one slot per key, a missing
/// record's slot holding its key and no document.
async fn lists<B: Backend>(backend: &B, s: &Selection, rows: &[Row], max_in: usize) -> Result<Vec<Vec<Row>>> {
    let lists: Vec<Vec<KeyValue>> = rows.iter().map(|r| keys_at(&r.doc, &s.reference)).collect::<Result<_>>()?;
    let mut seen = HashSet::new();
    let distinct: Vec<KeyValue> = lists.iter().flatten().filter(|k| seen.insert(*k)).cloned().collect();
    let mut found: HashMap<KeyValue, Vec<u8>> = HashMap::with_capacity(distinct.len());
    for chunk in distinct.chunks(max_in.max(1)) {
        let docs = match &s.projection {
            Some(p) => backend.get_many_projected(s.related, chunk.to_vec(), p.clone()).await?,
            None => backend.get_many(s.related, chunk.to_vec()).await?,
        };
        found.extend(chunk.iter().cloned().zip(docs).filter_map(|(k, d)| d.map(|d| (k, d))));
    }
    Ok(lists
        .into_iter()
        .map(|keys| {
            keys.into_iter()
                .map(|k| Row { doc: found.get(&k).cloned().unwrap_or_default(), key: Some(k), ..Row::default() })
                .collect()
        })
        .collect())
}

/// Each row's reverse set: one query on the referring model, `reference in [row keys]`,
/// grouped by the keys each record refers to.
async fn reverse_sets<B: Backend>(
    backend: &B,
    s: &Selection,
    mut plan: Plan,
    rows: &[Row],
    max_in: usize,
) -> Result<Vec<Vec<Row>>> {
    let mut sets: Vec<Vec<Row>> = vec![Vec::new(); rows.len()];
    let mut at: HashMap<&KeyValue, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(k) = &r.key {
            at.entry(k).or_default().push(i);
        }
    }
    if at.is_empty() || plan.limit == Some(0) {
        return Ok(sets);
    }
    let mut seen = HashSet::new();
    let keys: Vec<Value> =
        rows.iter().filter_map(|r| r.key.as_ref()).filter(|k| seen.insert(*k)).map(to_value).collect::<Result<_>>()?;
    // Offset and limit apply to each row's set: every match is read.
    let (offset, limit) = (std::mem::take(&mut plan.offset), plan.limit.take());
    // The reference must be read to group by it; left out again afterwards if not wanted.
    let top = s.reference.split('.').next().unwrap_or(&s.reference);
    let wanted = s.projection.clone().filter(|p| !p.loads(top.as_bytes()));
    plan.projection = s.projection.clone().map(|p| with_field(p, top));
    plan.filters.push(Filter { path: s.reference.clone(), op: Op::In(keys) });
    let by_key = plan.order.is_empty();
    let mut found = crate::engine::split::query(backend, s.related, plan, max_in).await?;
    if by_key {
        // Without an order a backend may answer in index order: the sets are in key order.
        found.sort_by(|a, b| a.key.cmp(&b.key));
    }
    for found in found {
        let targets = keys_at(&found.doc, &s.reference)?;
        let mut done = HashSet::new();
        let doc = match &wanted {
            Some(p) => super::project(&found.doc, p)?,
            None => found.doc,
        };
        for k in &targets {
            for &i in at.get(k).into_iter().flatten() {
                if done.insert(i) {
                    sets[i].push(Row { doc: doc.clone(), key: found.key.clone(), ..Row::default() });
                }
            }
        }
    }
    for set in &mut sets {
        let end = limit.map_or(set.len(), |l| offset.saturating_add(l).min(set.len()));
        set.truncate(end);
        set.drain(..offset.min(set.len()));
    }
    Ok(sets)
}

/// The projection with top-level field `name` loaded.
fn with_field(p: Projection, name: &str) -> Projection {
    match p {
        Projection::Only(mut names) => {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
            Projection::Only(names)
        }
        Projection::Defer(names) => Projection::Defer(names.into_iter().filter(|n| n != name).collect()),
    }
}
