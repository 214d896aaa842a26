//! Per-row computed values (annotations): what a query asks for by name with
//! [`Query::annotate`], computed by the engine (engine/annotate.rs) and read back from
//! [`Record::annotation`](crate::Record::annotation) in the api layer.
//!
//! - [`len`] is the number of elements of a list field of the row (missing or null counts as
//!   empty, as MongoDB's `$size` of `$ifNull`), computed from the row's document;
//! - [`count_of`] is the number of records of another model whose reference field refers to
//!   the row, computed for the whole result in one query of that model (split at the
//!   backend's `in` limit), as prefetches are.

use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Condition, Field, Filter, Query};
use crate::schema::model::{Model, ModelDesc, RefField};
use std::borrow::Cow;
use std::marker::PhantomData;

/// A value computed for each row of a query on model `M`, made by [`len`] or [`count_of`] and
/// added to a query with [`Query::annotate`]. Its values read as `u64` (see
/// [`Record::annotation_as`](crate::Record::annotation_as)).
#[must_use = "an annotation does nothing until a query is annotated with it"]
pub struct Annotate<M> {
    pub(crate) kind: Result<AnnotationKind>,
    _model: PhantomData<fn() -> M>,
}

/// What an annotation computes (untyped).
#[derive(Debug, Clone)]
pub(crate) enum AnnotationKind {
    /// The number of elements of the list at a path of the row.
    Len(Cow<'static, str>),
    /// The number of records of `related` whose `reference` refers to the row and which every
    /// filter matches.
    CountOf { related: &'static ModelDesc, reference: Cow<'static, str>, filters: Vec<Filter> },
}

/// One annotation of a query: its name and what it computes (or the error building it met).
#[derive(Debug, Clone)]
pub(crate) struct Annotation {
    pub(crate) name: String,
    pub(crate) kind: Result<AnnotationKind>,
}

/// A field holding a list, whose elements [`len`] counts (`Vec<T>` or `Option<Vec<T>>`).
#[diagnostic::on_unimplemented(
    message = "`annotate::len` counts the elements of a list field, not of `{Self}`",
    label = "not a `Vec` or an `Option<Vec>` field"
)]
pub trait Listed {}

impl<T> Listed for Vec<T> {}
impl<T> Listed for Option<Vec<T>> {}

/// The number of elements of list field `field` on each row; a missing or null list counts 0
/// (MongoDB's `$size` of `$ifNull`). Computed from the row's document, so it costs nothing
/// more; a field the query defers is still read for it (and left out of the record).
///
/// ```
/// use nonrel_runtime::{annotate, Database, Key, Model};
/// #[derive(Model)]
/// struct Post { #[field(key)] id: Option<Key<Post>>, tags: Vec<String> }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// let db = Database::in_memory()?;
/// db.save(&mut Post { id: None, tags: vec!["a".into(), "b".into()] }).await?;
/// let rows = db.query::<Post>().annotate("n_tags", annotate::len(Post::tags())).rows().await?;
/// assert_eq!(rows[0].annotation_as::<u64>("n_tags")?, Some(2));
/// # Ok(()) }
/// ```
pub fn len<M, V: Listed, F>(field: Field<M, V, F>) -> Annotate<M> {
    Annotate { kind: Ok(AnnotationKind::Len(field.into_path())), _model: PhantomData }
}

/// The number of records of model `T` whose reference field `field` refers to each row (a
/// `Ref<M>`, an `Option<Ref<M>>`, or a `Vec<Ref<M>>`: a record listing a row several times
/// counts once for it); 0 for a row nobody refers to. Computed for the whole result in one
/// query of `T` filtered by `field in [the rows' keys]` and projected to `field` alone (split
/// at the backend's `in` limit as every large `in` lookup is): one more round trip whatever
/// the number of rows. [`filter`](CountOf::filter) counts only the records a condition
/// matches.
///
/// ```
/// use nonrel_runtime::{annotate, Database, Key, Model, Ref};
/// #[derive(Model)]
/// struct Post { #[field(key)] id: Option<Key<Post>>, title: String }
/// #[derive(Model)]
/// struct Comment { #[field(key)] id: Option<Key<Comment>>, post: Ref<Post>, approved: bool }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> nonrel_runtime::Result<()> {
/// let db = Database::in_memory()?;
/// let post = db.save(&mut Post { id: None, title: "Hi".into() }).await?;
/// for approved in [true, false, true] {
///     db.save(&mut Comment { id: None, post: post.clone().into(), approved }).await?;
/// }
/// let rows = db
///     .query::<Post>()
///     .annotate("comments", annotate::count_of(Comment::post()))
///     .annotate("approved", annotate::count_of(Comment::post()).filter(Comment::approved().eq(true)))
///     .rows()
///     .await?;
/// assert_eq!(rows[0].annotation_as::<u64>("comments")?, Some(3));
/// assert_eq!(rows[0].annotation_as::<u64>("approved")?, Some(2));
/// # Ok(()) }
/// ```
pub fn count_of<M: Model, T: Model, V: RefField<C, Target = M>, C, F>(field: Field<T, V, F>) -> CountOf<M, T> {
    let kind = Ok(AnnotationKind::CountOf {
        related: T::DESC,
        reference: field.into_path(),
        filters: Query::<T>::new().plan.filters,
    });
    CountOf { annotate: Annotate { kind, _model: PhantomData }, _related: PhantomData }
}

/// A [`count_of`] annotation on model `M` counting records of model `T`; it is an
/// [`Annotate`] (`.into()`, or given as is to [`Query::annotate`]).
#[must_use = "an annotation does nothing until a query is annotated with it"]
pub struct CountOf<M, T> {
    annotate: Annotate<M>,
    _related: PhantomData<fn() -> T>,
}

impl<M, T: Model> CountOf<M, T> {
    /// Counts only the records of `T` that `condition` matches (call again to add conditions,
    /// all of which must hold). Conditions every backend runs are taken; one across another
    /// `Ref` (a join) is an error when the query runs.
    ///
    /// ```
    /// # use nonrel_runtime::{annotate, Key, Model, Query, Ref};
    /// # #[derive(Model)]
    /// # struct Post { #[field(key)] id: Option<Key<Post>> }
    /// # #[derive(Model)]
    /// # struct Comment { #[field(key)] id: Option<Key<Comment>>, post: Ref<Post>, approved: bool }
    /// let q = Query::<Post>::new().annotate("approved", annotate::count_of(Comment::post()).filter(Comment::approved().eq(true)));
    /// # let _ = q;
    /// ```
    pub fn filter(mut self, condition: Condition<T>) -> Self {
        let added = match (condition.filter, condition.via) {
            (Ok(f), None) => Ok(f),
            (Ok(_), Some(_)) => Err(Error::new(
                ErrorKind::Unsupported,
                "the condition of a `count_of` annotation cannot follow another `Ref` (a join)",
            )),
            (Err(e), _) => Err(e),
        };
        self.annotate.kind = match (self.annotate.kind, added) {
            (Ok(AnnotationKind::CountOf { related, reference, mut filters }), Ok(f)) => {
                filters.push(f);
                Ok(AnnotationKind::CountOf { related, reference, filters })
            }
            (Ok(_), Err(e)) => Err(e.with_model(T::DESC.name)),
            (kind, _) => kind,
        };
        self
    }
}

impl<M, T> From<CountOf<M, T>> for Annotate<M> {
    fn from(c: CountOf<M, T>) -> Self {
        c.annotate
    }
}

impl<M: Model, On> Query<M, On> {
    /// Adds a value computed for each row under `name` ([`len`], [`count_of`]), read back
    /// from the rows of [`rows`](Self::rows) with
    /// [`Record::annotation`](crate::Record::annotation) or
    /// [`Record::annotation_as`](crate::Record::annotation_as). Names are unique in a query
    /// and distinct from the names of its related selections: a repeated name is an error
    /// naming it when the query runs. Other ways of running the query (`all`, `count`, …)
    /// compute nothing.
    ///
    /// ```
    /// use nonrel_runtime::{annotate, Database, Key, Model};
    /// #[derive(Model)]
    /// struct Post { #[field(key)] id: Option<Key<Post>>, tags: Vec<String> }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// db.save(&mut Post { id: None, tags: vec!["a".into()] }).await?;
    /// let twice = db.query::<Post>().annotate("n", annotate::len(Post::tags())).annotate("n", annotate::len(Post::tags()));
    /// let err = twice.rows().await.err().expect("a name given twice");
    /// assert!(err.to_string().contains("\"n\""));
    /// # Ok(()) }
    /// ```
    pub fn annotate(mut self, name: impl Into<String>, annotation: impl Into<Annotate<M>>) -> Self {
        let name = name.into();
        let kind = annotation.into().kind.map_err(|e| e.with_field(&name));
        self.annotations.push(Annotation { name, kind });
        self
    }

    /// The annotations asked for, or the first error met building one; a name given twice,
    /// or also the name of a related selection, is an error naming it.
    pub(crate) fn annotations(&self) -> Result<Vec<(String, AnnotationKind)>> {
        let mut out: Vec<(String, AnnotationKind)> = Vec::with_capacity(self.annotations.len());
        for (i, a) in self.annotations.iter().enumerate() {
            let kind = a.kind.clone()?;
            if self.annotations[..i].iter().any(|b| b.name == a.name) {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("annotation {:?} is given twice: annotation names are unique in a query", a.name),
                )
                .with_model(M::DESC.name));
            }
            if self.selections().iter().any(|s| s.name() == a.name) {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("annotation {:?} has the name of a related selection of the query", a.name),
                )
                .with_model(M::DESC.name));
            }
            out.push((a.name.clone(), kind));
        }
        Ok(out)
    }
}
