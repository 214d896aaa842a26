//! The typed API of related records: those read from a [`Record`], selected on the query
//! with [`select_related`](crate::Query::select_related),
//! [`prefetch_related`](crate::Query::prefetch_related) and
//! [`prefetch_reverse`](crate::Query::prefetch_reverse).

use crate::api::database::Record;
use crate::error::Result;
use crate::plan::join::reverse_name;
use crate::plan::Field;
use crate::schema::key::{Key, Ref};
use crate::schema::model::{Model, RefField};

impl<M: Model> Record<M> {
    /// The record this row's `Ref` (or `Option<Ref>`) field refers to, loaded by
    /// [`select_related`](crate::Query::select_related): `None` when the query did not select
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
    pub fn related<V: RefField, F>(&self, field: Field<M, V, F>) -> Result<Option<V::Target>> {
        // A selection of one `Ref` keeps at most one row: decoded alone, with no list.
        let name = field.path();
        let Some((_, rows)) = self.related.iter().find(|(n, _)| n == name) else { return Ok(None) };
        let projection = self.related_projections.iter().find(|(n, _)| n == name).map(|(_, p)| p);
        crate::plan::with_projection(projection, || {
            let row = rows.iter().find(|row| !row.doc.is_empty());
            row.map(|row| crate::api::database::decode::<V::Target>(row.key.as_ref(), &row.doc)).transpose()
        })
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

impl<M: Model> Record<M> {
    /// The records this row's `Vec<Ref<T>>` field refers to, loaded by
    /// [`prefetch_related`](crate::Query::prefetch_related): in the list's order, a key
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
    /// [`prefetch_related`](crate::Query::prefetch_related), whose records do not exist (a
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
    /// [`prefetch_reverse`](crate::Query::prefetch_reverse): in `T`'s key order (or the
    /// order of [`prefetch_reverse_with`](crate::Query::prefetch_reverse_with)'s query).
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
    pub fn reverse<T: Model, V: RefField<C, Target = M>, C, F>(&self, field: Field<T, V, F>) -> Result<Vec<T>> {
        self.related_rows(&reverse_name(T::DESC, field.path()))
    }
}
