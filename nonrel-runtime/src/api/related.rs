//! The typed API of related records: those read from a [`Record`], selected on the query
//! with [`select_related`](crate::Query::select_related),
//! [`prefetch_related`](crate::Query::prefetch_related) and
//! [`prefetch_reverse`](crate::Query::prefetch_reverse).

use crate::backend::{Row, RowRef};
use crate::core::value::Value;
use crate::error::Result;
use crate::plan::join::{reverse_name, Selection};
use crate::plan::{Field, Projection};
use crate::schema::key::{Key, KeyValue, Ref};
use crate::schema::model::{Model, RefField};
use std::sync::Arc;

/// The related records selected with one row of a query ([`Record::related`]): by relation
/// name, the records [`select_related`](crate::Query::select_related),
/// [`prefetch_related`](crate::Query::prefetch_related) and
/// [`prefetch_reverse`](crate::Query::prefetch_reverse) loaded for it, as stored documents.
/// [`Record::related`](Record::related()), [`Record::related_many`] and [`Record::reverse`]
/// decode them; this is the untyped view.
///
/// The records of all the rows of one result are kept together, once: each row's `Related`
/// shares them (cloning one is cheap) and names its own.
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
/// db.save(&mut Post { id: None, author: ann.clone().into() }).await?;
/// let rows = db.query::<Post>().select_related(Post::author()).rows().await?;
/// let related = &rows[0].related;
/// assert_eq!(related.names().collect::<Vec<_>>(), ["author"]);
/// let author = related.rows("author").next().unwrap();
/// assert_eq!(author.key, Some(ann.value()));
/// assert!(!author.doc.is_empty());
/// assert_eq!(related.rows("editor").count(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Related {
    /// The records of the whole result (`None`: the query selected none).
    set: Option<Arc<RelatedSet>>,
    /// This row's place in the result.
    at: usize,
}

impl Related {
    /// The names of the query's related selections (the `Ref` field's name; a reverse set's
    /// name is its model's and field's), in the order they were selected.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.set.iter().flat_map(|set| set.names.iter().map(String::as_str))
    }

    /// The records kept for this row under relation `name`, in order: one at most for
    /// `select_related`, a list's records in its order for `prefetch_related` (a key whose
    /// record does not exist is given with an empty document). None when the query did not
    /// select `name`.
    pub fn rows(&self, name: &str) -> impl Iterator<Item = RowRef<'_>> {
        let (docs, entries) = match self.named(name) {
            Some((set, _, entries)) => (set.docs.as_slice(), entries),
            None => (&[][..], &[][..]),
        };
        entries.iter().map(move |e| RowRef { key: e.key.as_ref(), doc: &docs[e.start..e.end] })
    }

    /// Whether this row has no related record under any name.
    pub fn is_empty(&self) -> bool {
        self.names().all(|name| self.rows(name).next().is_none())
    }

    /// The selection `name`'s projection and this row's records under it, as kept.
    #[inline]
    fn named(&self, name: &str) -> Option<(&RelatedSet, Option<&Projection>, &[Entry])> {
        let set = self.set.as_deref()?;
        let n = set.names.iter().position(|s| s == name)?;
        let (start, end) = set.lists[self.at * set.names.len() + n];
        Some((set, set.projections[n].as_ref(), &set.entries[start..end]))
    }
}

/// Each name with the keys of this row's records under it (documents left out).
impl std::fmt::Debug for Related {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for name in self.names() {
            map.entry(&name, &self.rows(name).map(|r| r.key).collect::<Vec<_>>());
        }
        map.finish()
    }
}

/// The related records of one result, every row's together: their documents one after
/// another in one buffer, and for each row and selection the range of its records.
#[derive(Default)]
pub(crate) struct RelatedSet {
    /// The selections' names, and the fields each loaded (to decode the others as defaults).
    names: Vec<String>,
    projections: Vec<Option<Projection>>,
    docs: Vec<u8>,
    entries: Vec<Entry>,
    /// For row `r` and selection `n`, at `r * names.len() + n`: its records in `entries`.
    lists: Vec<(usize, usize)>,
    /// How many records the backend said would come (see [`reserve`](Self::reserve)).
    expected: usize,
}

/// One related record: its key and its document's place in the buffer (empty: no record).
struct Entry {
    key: Option<KeyValue>,
    start: usize,
    end: usize,
}

impl RelatedSet {
    /// An empty set for the selections of a query.
    pub(crate) fn new(selections: &[Selection]) -> Self {
        RelatedSet {
            names: selections.iter().map(Selection::name).collect(),
            projections: selections.iter().map(|s| s.projection.clone()).collect(),
            ..RelatedSet::default()
        }
    }

    /// Room for `rows` more rows, each with one record per selection (their documents'
    /// room is reserved as the first arrives, by its size).
    pub(crate) fn reserve(&mut self, rows: usize) {
        let n = rows.saturating_mul(self.names.len());
        self.lists.reserve_exact(n);
        self.entries.reserve_exact(n);
        self.expected = n;
    }

    /// Appends the next selection's record of the current row (a row's selections come in
    /// the order of the query's: see [`Visit`](crate::backend::Visit)).
    pub(crate) fn push_one(&mut self, found: Option<RowRef<'_>>) {
        let at = self.entries.len();
        if let Some(row) = found {
            if self.docs.capacity() == 0 {
                // Records of one model are often of similar sizes: room for as many as expected.
                self.docs.reserve(row.doc.len().saturating_mul(self.expected.saturating_sub(at)).min(1 << 20));
            }
            self.push_entry(row.key.cloned(), row.doc);
        }
        self.lists.push((at, self.entries.len()));
    }

    /// Appends one record: its document to the buffer, its key and place to the entries.
    fn push_entry(&mut self, key: Option<KeyValue>, doc: &[u8]) {
        let start = self.docs.len();
        self.docs.extend_from_slice(doc);
        self.entries.push(Entry { key, start, end: self.docs.len() });
    }

    /// Appends a row's related records as a backend or the runtime gave them (by name; a
    /// selection missing from them has none).
    pub(crate) fn push_row(&mut self, related: Vec<(String, Vec<Row>)>) {
        for i in 0..self.names.len() {
            let at = self.entries.len();
            if let Some((_, rows)) = related.iter().find(|(n, _)| *n == self.names[i]) {
                for row in rows {
                    self.push_entry(row.key.clone(), &row.doc);
                }
            }
            self.lists.push((at, self.entries.len()));
        }
    }

    /// Each row's view of the set, in order (`rows` of them); none when the query selected
    /// nothing.
    pub(crate) fn shared(self, rows: usize) -> impl Iterator<Item = Related> {
        let set = (!self.names.is_empty()).then(|| Arc::new(self));
        (0..rows).map(move |at| Related { set: set.clone(), at })
    }
}

/// A record with its related selections and annotations.
#[derive(Debug, Clone)]
pub struct Record<M: Model> {
    /// The record.
    pub record: M,
    /// Related records selected with it, by relation name, as stored documents (decoded by
    /// [`related`](Record::related()), [`related_many`](Record::related_many) and
    /// [`reverse`](Record::reverse)).
    pub related: Related,
    /// Computed values, by name.
    pub annotations: Vec<(String, Value)>,
}

impl<M: Model> Record<M> {
    /// An annotation by name.
    pub fn annotation(&self, name: &str) -> Option<&Value> {
        self.annotations.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// An annotation by name, read as type `T` (`u64` for
    /// [`len`](crate::annotate::len) and [`count_of`](crate::annotate::count_of)): `None`
    /// when the query has no annotation of that name, an error naming the model and the
    /// annotation when its value does not fit `T`.
    ///
    /// ```
    /// use nonrel_runtime::{annotate, Database, ErrorKind, Key, Model};
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, tags: Vec<String> }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// db.save(&mut Post { id: None, tags: vec!["a".into()] }).await?;
    /// let rows = db.query::<Post>().annotate("n_tags", annotate::len(Post::tags())).rows().await?;
    /// assert_eq!(rows[0].annotation_as::<u64>("n_tags")?, Some(1));
    /// assert_eq!(rows[0].annotation_as::<u64>("other")?, None);
    /// let wrong = rows[0].annotation_as::<String>("n_tags").unwrap_err();
    /// assert_eq!(wrong.kind(), ErrorKind::Decode);
    /// assert!(wrong.to_string().contains("n_tags"));
    /// # Ok(()) }
    /// ```
    pub fn annotation_as<T: crate::core::codec::Decode>(&self, name: &str) -> Result<Option<T>> {
        self.annotation(name).map(|v| crate::engine::annotate::read_as(v, name, M::DESC.name)).transpose()
    }
}

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
        let Some((set, projection, entries)) = self.related.named(field.path()) else { return Ok(None) };
        let Some(e) = entries.iter().find(|e| e.start < e.end) else { return Ok(None) };
        crate::plan::with_projection(projection, || {
            crate::schema::model::decode::<V::Target>(e.key.as_ref(), &set.docs[e.start..e.end]).map(Some)
        })
    }

    /// The records kept under relation `name`, decoded, in order (slots of missing records,
    /// which have no document, left out).
    pub(super) fn related_rows<T: Model>(&self, name: &str) -> Result<Vec<T>> {
        let Some((set, projection, entries)) = self.related.named(name) else { return Ok(Vec::new()) };
        crate::plan::with_projection(projection, || {
            entries
                .iter()
                .filter(|e| e.start < e.end)
                .map(|e| crate::schema::model::decode::<T>(e.key.as_ref(), &set.docs[e.start..e.end]))
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
        self.related
            .rows(field.path())
            .filter(|r| r.doc.is_empty())
            .filter_map(|r| r.key.cloned())
            .map(Key::from_value)
            .collect()
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
