//! Maintained counts (`#[model(count_by(author))]`): the groupings a model declares.

use crate::schema::model::ModelDesc;

/// A count kept exact on every write (`#[model(count_by(author, status))]`): the number of
/// records for each combination of values of `fields`; with no field, the total.
///
/// ```
/// use nonrel_runtime::{Key, Model};
/// #[derive(Model)]
/// #[model(count_by(author), count_by("author", "status"), count_by())]
/// struct Post {
///     #[field(key)]
///     id: Option<Key<Post>>,
///     author: String,
///     status: String,
/// }
/// let counters = Post::DESC.counters;
/// assert_eq!(counters[1].fields, ["author", "status"]);
/// assert_eq!(counters[1].name, "author,status");
/// assert!(counters[2].fields.is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterDesc {
    /// The grouping's name: its stored field names joined by commas (empty for the total).
    pub name: &'static str,
    /// The stored field names grouped by, in declaration order.
    pub fields: &'static [&'static str],
}

/// The counters a write through `m` keeps: its own, then, in the collection of a polymorphic
/// hierarchy, those the other registered models of the collection declare (a subclass's
/// write keeps its base's counts, which count every record of the collection).
pub(crate) fn collection_counters(m: &'static ModelDesc) -> Vec<&'static CounterDesc> {
    let mut out: Vec<&'static CounterDesc> = m.counters.iter().collect();
    let hierarchy =
        inventory::iter::<crate::schema::class::ClassRegistration>.into_iter().any(|r| r.collection == m.collection);
    if !hierarchy {
        return out;
    }
    for other in crate::schema::model::registered_models().filter(|o| o.collection == m.collection) {
        for c in other.counters {
            if !out.iter().any(|o| o.name == c.name) {
                out.push(c);
            }
        }
    }
    out
}
