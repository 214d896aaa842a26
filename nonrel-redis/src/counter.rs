//! Maintained counts (`#[model(count_by(author))]`) on Redis: one hash per collection and
//! grouping, `{p:c}:n:<grouping>`, from a group's order-preserving encoded values to its
//! number of records, changed by the same script that writes the records (see
//! [`scripts`](crate::scripts) for the layout).
//!
//! The groups of a record, and which counter answers a count, are the runtime's
//! ([`nonrel_runtime::backend::counter`]), as on every backend that keeps counters: the
//! encoded values of the grouping's fields, one group per combination of distinct values (a
//! list contributes each element, a missing field is null), and a count is answered by a
//! counter when it is exactly one equality per field of a declared grouping.
//!
//! A counter is trusted once it covers every record: it was first written while the
//! collection was empty, or `rebuild_indexes` filled it. Its hash holds two fields besides
//! the groups (no encoded value starts with a zero byte): `\0g`, the generation the writes
//! keep (each record's entry list names the generation its groups were counted in), and
//! `\0b`, the generation known to cover every record. Until the two agree, counts read
//! records.

use nonrel_runtime::backend::counter::groups as groups_of;
pub(crate) use nonrel_runtime::backend::counter::{answering, collection_counters, described_groups, hex};
use nonrel_runtime::{CounterDesc, ModelDesc, Result};

/// The hash field holding the generation writes keep.
pub(crate) const GENERATION: &[u8] = b"\0g";
/// The hash field holding the generation that covers every record.
pub(crate) const BUILT: &[u8] = b"\0b";

/// The model to name for a counter of `m`'s collection: `m` when it declares the grouping,
/// else the registered model of the collection that does.
pub(crate) fn declaring(m: &'static ModelDesc, c: &CounterDesc) -> &'static str {
    if m.counters.iter().any(|o| o.name == c.name) {
        return m.name;
    }
    nonrel_runtime::registered_models()
        .find(|o| o.collection == m.collection && o.counters.iter().any(|o| o.name == c.name))
        .map_or(m.name, |o| o.name)
}

/// A document's groups under one counter: the grouping's name and each group's encoded
/// values.
pub(crate) type Groups = (&'static str, Vec<Vec<u8>>);

/// The groups of a document under each counter: what the write script counts it in.
pub(crate) fn groups(counters: &[&'static CounterDesc], doc: &[u8]) -> Result<Vec<Groups>> {
    counters.iter().map(|c| Ok((c.name, groups_of(c, doc)?))).collect()
}
