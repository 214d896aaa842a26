//! Maintained counts (`#[model(count_by(author))]`): the groupings a model declares.

pub use crate::schema::model::CounterDesc;
use crate::schema::model::ModelDesc;

/// The counters a write through `m` keeps: its own, then, in the collection of a polymorphic
/// hierarchy, those the other registered models of the collection declare (a subclass's
/// write keeps its base's counts, which count every record of the collection).
pub fn collection_counters(m: &'static ModelDesc) -> Vec<&'static CounterDesc> {
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
