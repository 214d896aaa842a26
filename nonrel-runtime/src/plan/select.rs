//! Related records selected with a query's rows: `select_related`, `prefetch_related` and
//! `prefetch_reverse` on the query builder (read back from
//! [`Record`](crate::api::database::Record) in the api layer).

use crate::error::{Error, ErrorKind};
use crate::plan::join::{reverse_name, Kind, Selection};
use crate::plan::{Field, Projection, Query};
use crate::schema::key::Ref;
use crate::schema::model::ModelDesc;
use crate::schema::model::{Model, RefField};
use std::borrow::Cow;

impl<M: Model, On> Query<M, On> {
    /// Loads, with the rows, the record each row's `Ref` (or `Option<Ref>`) field refers to:
    /// one batched key read for the whole result, whatever its size. Read them with
    /// [`Record::related`](crate::Record::related) on the rows of [`rows`](Self::rows); a row whose optional
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
    pub fn select_related<V: RefField, F>(self, field: Field<M, V, F>) -> Self {
        self.add_selection(field.into_path(), V::Target::DESC, Kind::One)
    }

    /// Adds a selection unless the query has one of that name.
    pub(crate) fn add_selection(
        mut self,
        reference: Cow<'static, str>,
        related: &'static ModelDesc,
        kind: Kind,
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
        for s in self.related.iter_mut().filter(|s| crate::schema::copies::same_model(s.related, T::DESC)) {
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

impl<M: Model, On> Query<M, On> {
    /// Loads, with the rows, the records each row's `Vec<Ref<T>>` field refers to: one
    /// batched key read of the union of every row's keys, whatever the number of rows (
    /// split at the backend's `in` limit). Read them with [`Record::related_many`](crate::Record::related_many), in
    /// the list's order; a key whose record does not exist is left out there and reported
    /// by [`Record::missing_related`](crate::Record::missing_related).
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
    /// backend's `in` limit), grouped by row in `T`'s key order. `field` may be a
    /// `Ref<M>`, an `Option<Ref<M>>` or a `Vec<Ref<M>>` (a record listing several rows
    /// belongs to each). Read them with [`Record::reverse`](crate::Record::reverse).
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
    pub fn prefetch_reverse<T: Model, V: RefField<C, Target = M>, C, F>(self, field: Field<T, V, F>) -> Self {
        self.prefetch_reverse_with(field, Query::new())
    }

    /// [`prefetch_reverse`](Self::prefetch_reverse) keeping only the records `query` matches,
    /// in its order; its offset and limit apply to each row's set (every match is read, in
    /// the same one query), and its [`only`](Query::only)/[`defer`](Query::defer) fields
    /// as [`only_related`](Self::only_related)/[`defer_related`](Self::defer_related) do.
    /// Conditions across another `Ref` (joins) and related selections of its own are an
    /// error here.
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
    pub fn prefetch_reverse_with<T: Model, V: RefField<C, Target = M>, C, F>(
        self,
        field: Field<T, V, F>,
        query: Query<T>,
    ) -> Self {
        let plan = match (query.plan(), query.joins(), query.selections()) {
            (Ok(plan), [], []) if !crate::plan::has_join(&plan.filters) => Ok(plan.clone()),
            (Ok(plan), joins, _) if !joins.is_empty() || crate::plan::has_join(&plan.filters) => Err(Error::new(
                ErrorKind::Unsupported,
                "a reverse prefetch cannot hold conditions across another `Ref` (joins)",
            )
            .with_model(T::DESC.name)),
            (Ok(_), _, _) => {
                Err(Error::new(ErrorKind::Unsupported, "a reverse prefetch cannot select related records of its own")
                    .with_model(T::DESC.name))
            }
            (Err(e), _, _) => Err(e),
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
