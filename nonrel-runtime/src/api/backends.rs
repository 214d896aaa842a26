//! The typed API the backends add: explaining a query on the embedded backend, and
//! connecting to MongoDB with the driver's own collections and aggregations at hand.

use crate::api::database::Database;
use crate::backend::Row;
use crate::embedded::{AnnotationExplain, AnnotationRun, Explain, Redb};
use crate::engine::keyed::KeyReads;
use crate::engine::prepare::Reads;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::annotate::AnnotationKind;
use crate::plan::{Op, Plan, Query};
use crate::schema::key::KeyValue;
use crate::schema::model::{Model, ModelDesc};
use std::future::Future;
use std::task::{Context, Poll, Waker};

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
        self.explain_query(query, <Redb as crate::backend::Backend>::MAX_IN_VALUES)
    }

    /// [`explain`](Self::explain), on the query of any target, `in` lookups split at `max_in`
    /// values: the plan as a query runs it (emulated lookups on their index fields, the
    /// conditions across a `Ref` inside ORs and NOTs resolved into `in` lookups by reading
    /// the related keys now), then each annotation, explained with the rows the query has now.
    fn explain_query<M: Model, On>(&self, query: &Query<M, On>, max_in: usize) -> Result<Explain> {
        let prepared = crate::engine::prepare::Prepared::new::<Redb, M>(query.plan()?.clone(), query.joins())?;
        let reads = Now(self);
        let local = now(prepared.clone().resolve_nested(&reads))?.plan;
        let mut explain = self.explain_plan(M::DESC, &local)?;
        let annotations = query.annotations()?;
        if annotations.is_empty() {
            return Ok(explain);
        }
        let plan = crate::engine::keyed::normalized(now(prepared.resolve(&reads))?);
        let rows = now(crate::engine::keyed::answer(&reads, M::DESC, &plan))?;
        for (name, kind) in annotations {
            let runs = match kind {
                AnnotationKind::Len(_) => AnnotationRun::FromRow,
                AnnotationKind::CountOf { related, reference, filters } => {
                    let count = crate::engine::annotate::count_plan(&filters, &reference, &rows)?;
                    let keys = match count.filters.last().map(|f| &f.op) {
                        Some(Op::In(keys)) => keys.len(),
                        _ => 0,
                    };
                    AnnotationRun::CountByKey {
                        model: related.name,
                        reference: reference.into_owned(),
                        queries: keys.div_ceil(max_in.max(1)),
                        read: Box::new(self.explain_plan(related, &count)?),
                    }
                }
            };
            explain.annotations.push(AnnotationExplain { name, runs });
        }
        Ok(explain)
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
        let local = now(prepared.resolve_nested(&Now(self)))?.plan;
        self.explain_count_plan(M::DESC, &local, upto)
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
        let db = self.database();
        db.backend().explain_query(self, db.max_in())
    }
}

/// The embedded store read now, on the calling thread, where a query's steps read (an
/// explanation runs them before explaining): every step is ready at once.
struct Now<'a>(&'a Redb);

impl Reads for Now<'_> {
    async fn rows(&self, model: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        let plan = crate::engine::keyed::normalized(plan);
        if crate::engine::keyed::emulated::<Redb>(&plan) {
            crate::engine::keyed::answer(self, model, &plan).await
        } else {
            self.0.rows_now(model, &plan)
        }
    }
}

impl KeyReads for Now<'_> {
    const BOOLEAN: bool = <Redb as crate::backend::Backend>::BOOLEAN;
    const KEY_FILTERS: bool = <Redb as crate::backend::Backend>::KEY_FILTERS;
    fn docs(
        &self,
        model: &'static ModelDesc,
        keys: Vec<KeyValue>,
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>>> + Send {
        std::future::ready(self.0.docs_now(model, &keys))
    }
    fn plain(&self, model: &'static ModelDesc, plan: Plan) -> impl Future<Output = Result<Vec<Row>>> + Send {
        std::future::ready(self.0.rows_now(model, &plan))
    }
}

/// The output of a future whose every step is ready at once (reading through [`Now`]).
fn now<T>(step: impl Future<Output = Result<T>>) -> Result<T> {
    let mut step = std::pin::pin!(step);
    match step.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => Err(Error::new(ErrorKind::Storage, "an explanation's read did not complete at once")),
    }
}

#[cfg(feature = "mongodb")]
mod mongo {
    use crate::api::database::Database;
    use crate::backend::Backend;
    use crate::engine::prepare::{Direct, Prepared};
    use crate::error::Result;
    use crate::mongo::convert;
    use crate::mongo::{driver, Mongo, MongoExplain};
    use crate::plan::Query;
    use crate::schema::model::Model;
    use bson::{Document, RawDocumentBuf};

    impl Mongo {
        /// How MongoDB runs a query: the command nonrel sends (one `find`, or one aggregate
        /// with `$lookup`s for conditions across a `Ref`, as the handle's join strategy
        /// says) and the indexes the server's plan reads. Conditions across a `Ref` that
        /// run in two steps (inside an OR or a NOT, or with the two-step strategy) are
        /// resolved first by reading the related keys, as the query would.
        ///
        /// ```no_run
        /// use nonrel_runtime::mongo::MongoRuns;
        /// use nonrel_runtime::{Database, Key, Model, Query};
        /// #[derive(Model)]
        /// struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] title: String, votes: i64 }
        /// # async fn run() -> nonrel_runtime::Result<()> {
        /// let db = Database::connect("mongodb://127.0.0.1:27017", "blog").await?;
        /// db.sync_indexes().await?;
        /// let hot = Query::<Post>::new().filter(Post::title().eq("Hi") | Post::votes().gt(100));
        /// let how = db.backend().explain(&hot).await?;
        /// assert_eq!(how.runs, MongoRuns::Find); // the server evaluates the `$or`
        /// println!("{:?} reads {:?}", how.command, how.indexes);
        /// # Ok(()) }
        /// ```
        pub async fn explain<M: Model>(&self, query: &Query<M>) -> Result<MongoExplain> {
            self.explain_query(query, <Mongo as Backend>::MAX_IN_VALUES).await
        }

        /// [`explain`](Self::explain) on the query of any target, `in` lookups split at
        /// `max_in` values.
        async fn explain_query<M: Model, On>(&self, query: &Query<M, On>, max_in: usize) -> Result<MongoExplain> {
            let reads = Direct { backend: self, max_in };
            let prepared = Prepared::new::<Mongo, M>(query.plan()?.clone(), query.joins())?;
            let prepared = prepared.resolve_nested(&reads).await?;
            if !prepared.joins.is_empty() {
                let plan = crate::engine::keyed::normalized(prepared.plan.clone());
                if let Some(joined) = self.explain_joined(M::DESC, &plan, &prepared.joins, &[], max_in).await? {
                    return Ok(joined);
                }
            }
            let plan = crate::engine::keyed::normalized(prepared.resolve(&reads).await?);
            self.explain_plan(M::DESC, &plan).await
        }

        /// How MongoDB counts a query's records (up to `upto` when given): from a declared
        /// counter (`#[model(count_by(...))]`) when one answers the query and is built, else
        /// by counting the records the filter matches.
        ///
        /// ```no_run
        /// use nonrel_runtime::mongo::MongoRuns;
        /// use nonrel_runtime::{Database, Key, Model, Query};
        /// #[derive(Model)]
        /// #[model(count_by(author))]
        /// struct Post { #[field(key)] id: Option<Key<Post>>, author: String }
        /// # async fn run() -> nonrel_runtime::Result<()> {
        /// let db = Database::connect("mongodb://127.0.0.1:27017", "blog").await?;
        /// db.sync_indexes().await?; // on an empty collection: the counter is built at once
        /// let by_ann = Query::<Post>::new().filter(Post::author().eq("ann"));
        /// assert_eq!(db.backend().explain_count(&by_ann, None).await?.runs, MongoRuns::Counter("author"));
        /// # Ok(()) }
        /// ```
        pub async fn explain_count<M: Model>(&self, query: &Query<M>, upto: Option<u64>) -> Result<MongoExplain> {
            let reads = Direct { backend: self, max_in: <Mongo as Backend>::MAX_IN_VALUES };
            let plan =
                crate::engine::prepare::backend_plan::<Mongo, M>(&reads, query.plan()?.clone(), query.joins()).await?;
            let mut plan = crate::engine::keyed::normalized(plan);
            let offset = std::mem::take(&mut plan.offset) as u64;
            let cap = match (plan.limit.take().map(|l| l as u64), upto) {
                (Some(l), Some(n)) => Some(l.min(n)),
                (l, n) => l.or(n),
            };
            self.explain_count_plan(M::DESC, &plan, cap.map(|c| c.saturating_add(offset))).await
        }
    }

    impl<M: Model> Query<M, &Database<Mongo>> {
        /// How MongoDB runs this query: see [`Mongo::explain`].
        pub async fn explain(&self) -> Result<MongoExplain> {
            let db = self.database();
            db.backend().explain_query(self, db.max_in()).await
        }
    }

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
