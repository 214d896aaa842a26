//! The typed count of one group of a declared grouping (`#[model(count_by(author))]`).

use crate::api::database::Database;
use crate::backend::Backend;
use crate::core::codec::Encode;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Field, IntoLookup};
use crate::schema::model::Model;

impl<B: Backend> Database<B> {
    /// How many records of `M` hold `value` in `field`, a field the model counts by
    /// (`#[model(count_by(field))]`): the same as
    /// `db.query::<M>().filter(field.eq(value)).count()`, which a backend keeping counters
    /// answers from the group's counter (the embedded backend reads one counter entry at
    /// any number of records). A field without a declared count is an error naming it.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model};
    /// #[derive(Model)]
    /// #[model(count_by(author))]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, author: String, title: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// for title in ["one", "two"] {
    ///     db.save(&mut Post { id: None, author: "ann".into(), title: title.into() }).await?;
    /// }
    /// assert_eq!(db.count_by(Post::author(), "ann").await?, 2);
    /// assert!(db.count_by(Post::title(), "one").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn count_by<M: Model, T: Encode, F>(
        &self,
        field: Field<M, T, F>,
        value: impl IntoLookup<T>,
    ) -> Result<u64> {
        let declared = M::DESC.counters.iter().any(|c| c.fields == [field.path()]);
        if !declared {
            let msg = format!(
                "`{}` declares no count by `{}`: add #[model(count_by({}))], or count with a query",
                M::DESC.name,
                field.path(),
                field.path()
            );
            return Err(Error::new(ErrorKind::Unsupported, msg).with_model(M::DESC.name).with_field(field.path()));
        }
        self.query::<M>().filter(field.eq(value)).count().await
    }
}
