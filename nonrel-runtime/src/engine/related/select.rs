//! Related selections (F2): the records a result set's `Ref`s point to, loaded for the
//! whole set in one batched key read, so a query with `select_related` costs two round trips
//! for any number of rows. MongoDB runs the query and the selections as one `$lookup`
//! aggregate instead (one round trip; `mongo::RelatedStrategy`).
//!
//! `select_related` follows a `Ref<T>` or an `Option<Ref<T>>`; lists of references and
//! reverse sets are prefetched (`prefetch.rs`), one batched read or one `in` query each.

use crate::api::database::{QueryBuilder, Record};
use crate::backend::{Backend, Row};
use crate::error::Result;
use crate::plan::join::Selection;
use crate::plan::{Field, Projection};
use crate::schema::key::KeyValue;
use crate::schema::model::{Model, ModelDesc};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

impl<'db, B: Backend, M: Model> QueryBuilder<'db, B, M> {
    /// Loads, with the rows, the record each row's `Ref` (or `Option<Ref>`) field refers to:
    /// one batched key read for the whole result, whatever its size (F2). Read them with
    /// [`Record::related`] on the rows of [`rows`](Self::rows); a row whose optional
    /// reference is `None` has none.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model, Ref};
    /// #[derive(Model, Debug, PartialEq)]
    /// struct User { #[field(key)] id: Option<Key<User>>, name: String, bio: String }
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, title: String, author: Ref<User> }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// let ann = db.save(&mut User { id: None, name: "Ann".into(), bio: "long".into() }).await?;
    /// db.save(&mut Post { id: None, title: "Hi".into(), author: ann.into() }).await?;
    /// let rows = db.query::<Post>().select_related(Post::author()).defer_related(User::bio()).rows().await?;
    /// let author = rows[0].related(Post::author())?.unwrap();
    /// assert_eq!((author.name.as_str(), author.bio.as_str()), ("Ann", "")); // bio deferred
    /// # Ok(()) }
    /// ```
    pub fn select_related<V: super::prefetch::SingleRef, F>(self, field: Field<M, V, F>) -> Self {
        self.add_selection(field.into_path(), V::Target::DESC, crate::plan::join::Kind::One)
    }

    /// Adds a selection unless the query has one of that name.
    pub(super) fn add_selection(
        mut self,
        reference: Cow<'static, str>,
        related: &'static ModelDesc,
        kind: crate::plan::join::Kind,
    ) -> Self {
        let s = Selection { reference, related, projection: None, kind };
        if !self.related.iter().any(|o| o.name() == s.name()) {
            self.related.push(s);
        }
        self
    }

    /// Loads only this field of the related records of model `T` selected with
    /// [`select_related`](Self::select_related), [`prefetch_related`](Self::prefetch_related)
    /// or [`prefetch_reverse`](Self::prefetch_reverse) (call once per field); the others load
    /// as their type's default, and MongoDB does not send them.
    pub fn only_related<T: Model, V, G>(self, field: Field<T, V, G>) -> Self {
        self.project_related::<T>(field.path(), true)
    }

    /// Does not load this field of the related records of model `T` (call once per field);
    /// it loads as its type's default, and MongoDB does not send it.
    pub fn defer_related<T: Model, V, G>(self, field: Field<T, V, G>) -> Self {
        self.project_related::<T>(field.path(), false)
    }

    fn project_related<T: Model>(mut self, path: &str, only: bool) -> Self {
        let name = path.split('.').next().unwrap_or(path).to_owned();
        for s in self.related.iter_mut().filter(|s| super::same_model(s.related, T::DESC)) {
            s.projection = Some(match (s.projection.take(), only) {
                (Some(Projection::Only(mut names)), true) => {
                    names.push(name.clone());
                    Projection::Only(names)
                }
                (Some(Projection::Defer(mut names)), false) => {
                    names.push(name.clone());
                    Projection::Defer(names)
                }
                (_, true) => Projection::Only(vec![name.clone()]),
                (_, false) => Projection::Defer(vec![name.clone()]),
            });
        }
        self
    }
}

/// Fills each row's related selections: one batched read per selection. Only selections
/// of one `Ref` come here (and to a backend's `query_joined`); see [`super::prefetch::load`]
/// for the others.
pub(crate) async fn load<B: Backend>(backend: &B, selections: &[Selection], rows: &mut [Row]) -> Result<()> {
    for s in selections {
        debug_assert!(matches!(s.kind, crate::plan::join::Kind::One), "prefetches load apart");
        let keys: Vec<Option<KeyValue>> =
            rows.iter().map(|r| super::copies::ref_key(&r.doc, &s.reference)).collect::<Result<_>>()?;
        let mut seen = HashSet::new();
        let distinct: Vec<KeyValue> = keys.iter().flatten().filter(|k| seen.insert((*k).clone())).cloned().collect();
        let docs = if distinct.is_empty() {
            Vec::new()
        } else {
            match &s.projection {
                Some(p) => backend.get_many_projected(s.related, distinct.clone(), p.clone()).await?,
                None => backend.get_many(s.related, distinct.clone()).await?,
            }
        };
        let found: HashMap<KeyValue, Vec<u8>> =
            distinct.into_iter().zip(docs).filter_map(|(k, d)| d.map(|d| (k, d))).collect();
        for (row, key) in rows.iter_mut().zip(keys) {
            let related: Vec<Row> = key
                .and_then(|k| found.get(&k).map(|d| Row { doc: d.clone(), key: Some(k), ..Row::default() }))
                .into_iter()
                .collect();
            row.related.push((s.reference.to_string(), related));
        }
    }
    Ok(())
}

/// Reads by key the selections a backend's joined query left out of its rows (a row holds an
/// entry for each selection the backend filled).
pub(crate) async fn load_missing<B: Backend>(backend: &B, selections: &[Selection], rows: &mut [Row]) -> Result<()> {
    let Some(first) = rows.first() else { return Ok(()) };
    let missing: Vec<Selection> =
        selections.iter().filter(|s| !first.related.iter().any(|(name, _)| name == &*s.reference)).cloned().collect();
    if missing.is_empty() {
        return Ok(());
    }
    load(backend, &missing, rows).await
}

/// The projections of a query's related selections, by relation name (kept on its records
/// to decode deferred fields as defaults).
pub(crate) fn projections(selections: &[Selection]) -> Vec<(String, Projection)> {
    selections.iter().filter_map(|s| Some((s.name(), s.projection.clone()?))).collect()
}

impl<M: Model> Record<M> {
    /// The record this row's `Ref` (or `Option<Ref>`) field refers to, loaded by
    /// [`select_related`](QueryBuilder::select_related): `None` when the query did not select
    /// it, the optional reference is `None` or the referred record does not exist.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model, Ref};
    /// #[derive(Model)]
    /// struct User { #[field(key)] id: Option<Key<User>>, name: String }
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, author: Ref<User> }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// let ann = db.save(&mut User { id: None, name: "Ann".into() }).await?;
    /// db.save(&mut Post { id: None, author: ann.into() }).await?;
    /// let rows = db.query::<Post>().select_related(Post::author()).rows().await?;
    /// assert_eq!(rows[0].related(Post::author())?.unwrap().name, "Ann");
    /// # Ok(()) }
    /// ```
    pub fn related<V: super::prefetch::SingleRef, F>(&self, field: Field<M, V, F>) -> Result<Option<V::Target>> {
        Ok(self.related_rows::<V::Target>(field.path())?.into_iter().next())
    }

    /// The records kept under relation `name`, decoded, in order (slots of missing records,
    /// which have no document, left out).
    pub(super) fn related_rows<T: Model>(&self, name: &str) -> Result<Vec<T>> {
        let Some((_, rows)) = self.related.iter().find(|(n, _)| n == name) else { return Ok(Vec::new()) };
        let projection = self.related_projections.iter().find(|(n, _)| n == name).map(|(_, p)| p);
        crate::plan::with_projection(projection, || {
            rows.iter()
                .filter(|row| !row.doc.is_empty())
                .map(|row| crate::api::database::decode::<T>(row.key.as_ref(), &row.doc))
                .collect()
        })
    }
}
