//! Maintained counts on MongoDB. A counter document beside the records could only be exact
//! if every write ran in a session transaction (the backend's batched writes are not
//! transactions); instead each declared grouping gets an index on its fields, so a count
//! of one group is a `countDocuments` that MongoDB answers by scanning only that group's
//! index keys, exact at every moment, at a cost that grows with the group (not the
//! collection).

use crate::core::value::Value;
use crate::schema::counter::CounterDesc;
use crate::schema::model::ModelDesc;

/// The name of the index serving a grouping.
pub(super) fn index_name(c: &CounterDesc) -> String {
    format!("count_by({})", c.name)
}

/// The groupings that need an index of their own: not the total, and not one field that a
/// declared index already leads with (MongoDB refuses a second index of the same keys).
fn indexed(m: &ModelDesc) -> impl Iterator<Item = &'static CounterDesc> + '_ {
    let counters: &'static [CounterDesc] = m.counters;
    counters.iter().filter(move |c| match c.fields {
        [] => false,
        [one] => m.index_on(one).is_none(),
        _ => true,
    })
}

/// The `createIndexes` specifications of a model's groupings.
pub(super) fn specs(m: &ModelDesc) -> Vec<Value> {
    indexed(m)
        .map(|c| {
            let key: Vec<(String, Value)> = c.fields.iter().map(|f| ((*f).to_owned(), Value::Int32(1))).collect();
            Value::Document(vec![("key".into(), Value::Document(key)), ("name".into(), Value::String(index_name(c)))])
        })
        .collect()
}

/// The groupings whose index is missing from `names`.
pub(super) fn missing<'a>(m: &'a ModelDesc, names: &'a [String]) -> impl Iterator<Item = &'static CounterDesc> + 'a {
    indexed(m).filter(move |c| !names.contains(&index_name(c)))
}
