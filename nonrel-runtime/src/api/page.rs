//! The typed API of pages: a page of records and the cursors around it, read from a
//! query's start or from a cursor.

use crate::api::database::Database;
use crate::backend::{Backend, Row};
use crate::engine::page::*;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Filter, Plan, Projection, Query};
use crate::schema::model::{decode, Model};
use std::future::{Future, IntoFuture};
use std::pin::Pin;

/// One page of a query: the records, and the cursors to the pages around it.
///
/// ```
/// # use nonrel_runtime::{Database, Model, Page};
/// # #[derive(Model, Debug)] struct Note { #[field(key)] id: i64 }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// # let db = Database::in_memory()?;
/// for id in 1..=3 { db.save(&mut Note { id }).await?; }
/// let page: Page<Note> = db.query::<Note>().page(2).await?;
/// assert_eq!(page.items.len(), 2);
/// assert!(page.next.is_some() && page.prev.is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Page<M> {
    /// The records, in the query's order.
    pub items: Vec<M>,
    /// Resumes after the last record ([`PageBuilder::after`]); `None` on the last page.
    pub next: Option<String>,
    /// Resumes before the first record ([`PageBuilder::before`]); `None` on the first page.
    pub prev: Option<String>,
}

enum From {
    Start,
    After(String),
    Before(String),
}

/// A page of a query being built; await it for the [`Page`].
///
/// ```
/// use nonrel_runtime::{Database, Key, Model};
///
/// #[derive(Model, Debug)]
/// struct Post { #[field(key)] id: Option<Key<Post>>, #[field(index)] views: u32 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// let db = Database::in_memory()?;
/// for views in 0..25u32 {
///     db.save(&mut Post { id: None, views }).await?;
/// }
/// let first = db.query::<Post>().order_by(Post::views().desc()).page(10).await?;
/// assert_eq!(first.items[0].views, 24);
/// let next = first.next.as_deref().unwrap();             // URL-safe: /posts?after=...
/// let second = db.query::<Post>().order_by(Post::views().desc()).page(10).after(next).await?;
/// assert_eq!(second.items[0].views, 14);
/// let back = db.query::<Post>().order_by(Post::views().desc()).page(10)
///     .before(second.prev.as_deref().unwrap()).await?;
/// assert_eq!(back.items[0].views, 24);
/// assert!(back.prev.is_none());                            // the first page
/// # Ok(()) }
/// ```
#[must_use = "a page does nothing until awaited"]
pub struct PageBuilder<'db, B, M> {
    db: &'db Database<B>,
    query: Query<M>,
    size: usize,
    from: From,
}

impl<'db, B: Backend, M: Model> PageBuilder<'db, B, M> {
    pub(crate) fn new(db: &'db Database<B>, query: Query<M>, size: usize) -> Self {
        PageBuilder { db, query, size, from: From::Start }
    }

    /// Reads the page after a cursor (a page's `next`); see the example on [`PageBuilder`].
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.from = From::After(cursor.into());
        self
    }

    /// Reads the page before a cursor (a page's `prev`); see the example on [`PageBuilder`].
    pub fn before(mut self, cursor: impl Into<String>) -> Self {
        self.from = From::Before(cursor.into());
        self
    }

    /// The cursor of a record in this query: [`after`](Self::after) it reads the records that
    /// follow it, [`before`](Self::before) those that precede it.
    ///
    /// ```
    /// # use nonrel_runtime::{Database, Model};
    /// # #[derive(Model)] struct Note { #[field(key)] id: i64, #[field(index)] rank: i32 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// # let db = Database::in_memory()?;
    /// for id in 1..=5 { db.save(&mut Note { id, rank: id as i32 * 10 }).await?; }
    /// let third = db.get::<Note>(3).await?.unwrap();
    /// let q = || db.query::<Note>().order_by(Note::rank().asc()).page(2);
    /// let cursor = q().cursor_of(&third)?;
    /// let after: Vec<i64> = q().after(cursor).await?.items.iter().map(|n| n.id).collect();
    /// assert_eq!(after, [4, 5]);
    /// # Ok(()) }
    /// ```
    pub fn cursor_of(&self, record: &M) -> Result<String> {
        let plan = self.plan()?;
        let mut doc = Vec::new();
        record.encode(&mut doc).map_err(|e| e.with_model(M::DESC.name))?;
        let row = Row { key: record.key_value(), doc, ..Row::default() };
        cursor_for(M::DESC, &plan, self.fingerprint(&plan), &row)
    }

    /// What a cursor of this query is bound to: the model, the conditions as written (those
    /// across a `Ref` included) and the order.
    fn fingerprint(&self, plan: &Plan) -> u64 {
        let joins = self.query.joins();
        if joins.is_empty() {
            return fingerprint(M::DESC, plan);
        }
        let mut bound = plan.clone();
        bound.filters.extend(joins.iter().flat_map(|j| {
            j.filters.iter().map(|f| Filter { path: format!("{}.{}", j.reference, f.path).into(), op: f.op.clone() })
        }));
        fingerprint(M::DESC, &bound)
    }

    /// The plan of a page query: no offset or limit of its own, and the ordering fields
    /// loaded (the cursors are made from them).
    fn plan(&self) -> Result<Plan> {
        let mut plan = self.query.plan()?.clone();
        if plan.offset > 0 || plan.limit.is_some() {
            let msg = "a page query takes its size from page(n) and its start from a cursor; remove limit and offset";
            return Err(Error::new(ErrorKind::Unsupported, msg).with_model(M::DESC.name));
        }
        if self.size == 0 {
            return Err(Error::new(ErrorKind::Unsupported, "a page holds at least one record").with_model(M::DESC.name));
        }
        let ordering: Vec<String> = plan.order.iter().map(|o| top_level(&o.path)).collect();
        match &mut plan.projection {
            Some(Projection::Only(names)) => {
                for name in ordering {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            Some(Projection::Defer(names)) => names.retain(|n| !ordering.contains(n)),
            None => {}
        }
        Ok(plan)
    }

    async fn run(self) -> Result<Page<M>> {
        let m = M::DESC;
        let mut plan = self.plan()?;
        let size = self.size;
        plan.limit = Some(size.saturating_add(1));
        let backend = self.db.backend();
        let at = |e: Error| e.with_model(m.name);
        let fp = self.fingerprint(&plan);
        // The plan as the backend runs it: emulated lookups on their index fields (F14),
        // conditions across a `Ref` (F15) as the related keys' `in` lookup.
        let max_in = self.db.max_in();
        let reads = crate::engine::prepare::Direct { backend, max_in };
        let plan = crate::engine::prepare::backend_plan::<B, M>(&reads, plan, self.query.joins()).await.map_err(at)?;
        let (mut rows, cursor, backward) = match &self.from {
            From::Start => {
                (crate::engine::keyed::query(backend, m, plan.clone(), max_in).await.map_err(at)?, None, false)
            }
            From::After(c) | From::Before(c) => {
                let backward = matches!(self.from, From::Before(_));
                let (values, key) = open(m, &plan, fp, c)?;
                let seek = Seek { values, key, backward };
                let native = if crate::engine::keyed::emulated::<B>(&plan) {
                    None
                } else {
                    backend.query_seek(m, plan.clone(), seek.clone()).await.map_err(at)?
                };
                let rows = match native {
                    Some(rows) => rows,
                    None => seek_in_memory(backend, m, plan.clone(), seek, max_in).await.map_err(at)?,
                };
                (rows, Some(c.clone()), backward)
            }
        };
        let more = rows.len() > size;
        if more && backward {
            rows.remove(0);
        } else {
            rows.truncate(size);
        }
        let cursor_at = |row: Option<&Row>| row.map(|r| cursor_for(m, &plan, fp, r)).transpose();
        // Which cursors the page has; an empty page after (before) a cursor leads back to it.
        let (has_next, has_prev) = match (&cursor, backward) {
            (None, _) => (more, false),
            (Some(_), false) => (more, true),
            (Some(_), true) => (true, more),
        };
        let mut next = if has_next { cursor_at(rows.last())? } else { None };
        let mut prev = if has_prev { cursor_at(rows.first())? } else { None };
        if let (Some(c), true) = (&cursor, rows.is_empty()) {
            if backward {
                next = Some(c.clone());
            } else {
                prev = Some(c.clone());
            }
        }
        let projection = plan.projection.clone();
        let items = crate::plan::with_projection(projection.as_ref(), || {
            let mut items = Vec::with_capacity(rows.len());
            for r in &rows {
                items.push(decode(r.key.as_ref(), &r.doc)?);
            }
            Ok::<_, crate::error::Error>(items)
        })?;
        Ok(Page { items, next, prev })
    }
}

impl<'db, B: Backend, M: Model> IntoFuture for PageBuilder<'db, B, M> {
    type Output = Result<Page<M>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Page<M>>> + Send + 'db>>;

    fn into_future(self) -> Self::IntoFuture {
        let command = || crate::engine::trace::Command::on(B::NAME, "page", M::DESC);
        Box::pin(crate::engine::trace::command(command, self.run()))
    }
}

impl<M> crate::engine::trace::Returned for Page<M> {
    fn returned(&self) -> Option<u64> {
        Some(self.items.len() as u64)
    }
}

impl<'db, B: Backend, M: Model> Query<M, &'db Database<B>> {
    /// Pages of `size` records with cursors to the next and previous pages; see
    /// [`PageBuilder`](crate::api::page::PageBuilder).
    pub fn page(self, size: usize) -> PageBuilder<'db, B, M> {
        let (db, query) = self.into_parts();
        PageBuilder::new(db, query, size)
    }
}
