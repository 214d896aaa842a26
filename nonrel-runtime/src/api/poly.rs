//! The typed API of polymorphic models: queries of a base that load each record as its own
//! class, and reads by key as the record's class.

use crate::api::database::Database;
use crate::backend::{Backend, Row};
use crate::engine::poly::*;
use crate::error::Result;
use crate::plan::{Field, Projection, Query};
use crate::schema::key::AsKey;

impl<B: Backend, M: PolymorphicBase> Query<M, &Database<B>> {
    /// The matching records, each as its own class.
    ///
    /// `only` and `defer` apply to every class: a field they leave out loads as its type's
    /// default, in the base and in the subclass alike (the class list is always read).
    ///
    /// ```
    /// # use nonrel_runtime::{Database, Model};
    /// # #[derive(Model, Debug, Clone, PartialEq)]
    /// # #[model(polymorphic, collection = "poly_doc_only")]
    /// # struct Shape { #[field(key)] id: i64, name: String, notes: String }
    /// # #[derive(Model, Debug, Clone, PartialEq)]
    /// # #[model(extends = Shape)]
    /// # struct Circle { #[field(key)] id: i64, name: String, notes: String, r: f64 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// db.save(&mut Circle { id: 1, name: "c".into(), notes: "long".into(), r: 2.0 }).await?;
    /// let found = db.query::<Shape>().only(Shape::name()).polymorphic().await?;
    /// let circle = found[0].downcast_ref::<Circle>().unwrap();
    /// assert_eq!((circle.name.as_str(), circle.notes.as_str(), circle.r), ("c", "", 0.0));
    /// # Ok(()) }
    /// ```
    pub async fn polymorphic(mut self) -> Result<Vec<Poly<M>>> {
        let only = |p: &Option<Projection>| match p {
            Some(Projection::Only(names)) => !names.iter().any(|n| n == CLASS_FIELD),
            _ => false,
        };
        if only(&self.local_plan()?.projection) {
            self = self.only(Field::<M, Vec<String>>::at(CLASS_FIELD.into()));
        }
        let projection = self.local_plan()?.projection;
        let rows: Vec<Row> = self.run().await?;
        crate::plan::with_projection(projection.as_ref(), || {
            rows.into_iter().map(|r| Poly::from_row(r.key.as_ref(), r.doc)).collect()
        })
    }
}

impl<B: Backend> Database<B> {
    /// Reads the record with this key as its own class.
    pub async fn get_polymorphic<M: PolymorphicBase>(&self, key: impl AsKey<M>) -> Result<Option<Poly<M>>> {
        let key = key.as_key();
        match self.backend().get(M::DESC, key.clone()).await? {
            Some(doc) => Poly::from_row(Some(&key), doc).map(Some),
            None => Ok(None),
        }
    }
}
