//! Maintained counts (`#[model(count_by(author))]`): the groupings a model declares.

pub use crate::schema::model::CounterDesc;
use crate::schema::model::ModelDesc;

/// The counters a write through `m` keeps: its own, then those every other registered model
/// stored in the same collection declares, each grouping once. A count through any model
/// counts the collection's records, whichever model wrote them (a polymorphic base counts its
/// subclasses' records; a plain model sharing the collection moves the counted groups too).
pub fn collection_counters(m: &'static ModelDesc) -> Vec<&'static CounterDesc> {
    let mut out: Vec<&'static CounterDesc> = m.counters.iter().collect();
    for other in crate::schema::model::registered_models().filter(|o| o.collection == m.collection) {
        for c in other.counters {
            if !out.iter().any(|o| o.name == c.name) {
                out.push(c);
            }
        }
    }
    out
}
