//! The typed API the backends add: explaining a query on the embedded backend, and
//! connecting to MongoDB with the driver's own collections and aggregations at hand.

use crate::api::database::Database;
use crate::embedded::{Explain, Redb};
use crate::error::Result;
use crate::plan::Query;
use crate::schema::model::Model;

impl Redb {
    /// How the embedded backend would run a query: which index, if any, it reads.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model, Query};
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] title: String, body: String }
    /// let db = Database::in_memory().unwrap();
    /// let by_title = Query::<Post>::new().filter(Post::title().eq("Hi"));
    /// assert_eq!(db.backend().explain(&by_title).unwrap().index, Some("title"));
    /// let by_body = Query::<Post>::new().filter(Post::body().eq("Hi"));
    /// assert_eq!(db.backend().explain(&by_body).unwrap().index, None); // a scan
    /// ```
    pub fn explain<M: Model>(&self, query: &Query<M>) -> Result<Explain> {
        // The plan as a query runs it: emulated lookups on their index fields.
        let prepared = crate::engine::prepare::Prepared::new::<Redb, M>(query.plan()?.clone(), query.joins())?;
        self.explain_plan(M::DESC, &prepared.plan)
    }

    /// How the embedded backend would count a query's records (up to `upto` when given):
    /// what it reads. A count that an index range or a key range answers alone counts
    /// entries and reads no record.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model, Query};
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] votes: i64 }
    /// let db = Database::in_memory().unwrap();
    /// let popular = Query::<Post>::new().filter(Post::votes().gte(100));
    /// let counted = db.backend().explain_count(&popular, Some(10)).unwrap();
    /// assert_eq!((counted.index, counted.records_read), (Some("votes"), 0));
    /// ```
    pub fn explain_count<M: Model>(&self, query: &Query<M>, upto: Option<u64>) -> Result<Explain> {
        let prepared = crate::engine::prepare::Prepared::new::<Redb, M>(query.plan()?.clone(), query.joins())?;
        self.explain_count_plan(M::DESC, &prepared.plan, upto)
    }
}

impl<M: Model> Query<M, &Database<Redb>> {
    /// How the embedded backend would run this query (emulated lookups rewritten onto their
    /// index fields): which index it reads, if any.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model};
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index(icontains))] title: String }
    /// let db = Database::in_memory().unwrap();
    /// let plan = db.query::<Post>().filter(Post::title().icontains("rust")).explain().unwrap();
    /// assert_eq!(plan.index, Some("_ix_title_grams"));
    /// ```
    pub fn explain(&self) -> Result<Explain> {
        let plan = self.local_plan()?;
        self.database().backend().explain_plan(M::DESC, &plan)
    }
}

#[cfg(feature = "mongodb")]
mod mongo {
    use crate::api::database::Database;
    use crate::error::Result;
    use crate::mongo::convert;
    use crate::mongo::{driver, Mongo};
    use crate::schema::model::Model;
    use bson::{Document, RawDocumentBuf};

    impl Database<Mongo> {
        /// Connects to MongoDB at `uri` and uses `database`.
        ///
        /// ```no_run
        /// # async fn run() -> nonrel_runtime::Result<()> {
        /// let db = nonrel_runtime::Database::connect("mongodb://127.0.0.1:27017", "blog").await?;
        /// db.sync_indexes().await?;
        /// # Ok(()) }
        /// ```
        pub async fn connect(uri: &str, database: &str) -> Result<Self> {
            Mongo::connect(uri, database).await.map(Database::new)
        }

        /// The driver collection behind `M`, for what only the driver can do.
        pub fn collection<M: Model>(&self) -> mongodb::Collection<RawDocumentBuf> {
            self.backend().raw_collection(M::DESC)
        }

        /// Runs an aggregation pipeline on `M`'s collection and decodes the results as `M`.
        pub async fn aggregate<M: Model>(&self, pipeline: Vec<Document>) -> Result<Vec<M>> {
            let coll = self.collection::<M>();
            let mut cursor = coll.aggregate(pipeline).await.map_err(|e| driver(e, "running an aggregation"))?;
            let mut out = Vec::new();
            while cursor.advance().await.map_err(|e| driver(e, "reading an aggregation"))? {
                let raw = cursor.current().as_bytes();
                let key = convert::id_of(raw).ok();
                out.push(M::decode(key.as_ref(), raw).map_err(|e| e.with_model(M::DESC.name))?);
            }
            Ok(out)
        }
    }
}
