//! `rebuild_indexes_of::<M>()`: every record of one model recomputed and rewritten, so index
//! fields declared after the records were saved cover them; the whole-database
//! `rebuild_indexes()` does the same for every registered model that declares lookups.

use crate::backend::{Backend, PutItem, SwapItem, Swapped};
use crate::error::Result;
use crate::plan::Plan;
use crate::schema::key::KeyValue;
use crate::schema::model::{decode, encode};
use crate::schema::model::{Model, ModelDesc};

/// Writes `recompute` of each record `read` (key and document as read) compare-and-set; a
/// record changed meanwhile is recomputed from its current document and tried again, a
/// deleted one is left deleted. At the first record that fails to recompute, the records
/// before it are written and the error is returned. Returns how many records were written.
async fn rewrite<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    mut read: Vec<(KeyValue, Vec<u8>)>,
    recompute: fn(Option<KeyValue>, &[u8]) -> Result<PutItem>,
) -> Result<u64> {
    let mut written = 0;
    for _ in 0..crate::engine::related::REWRITE_ROUNDS {
        let mut items = Vec::with_capacity(read.len());
        let mut failed = None;
        for (key, expected) in read {
            match recompute(Some(key.clone()), &expected) {
                Ok(item) => items.push(SwapItem { key, expected, doc: Some(item.doc) }),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let keys: Vec<KeyValue> = items.iter().map(|i| i.key.clone()).collect();
        read = Vec::new();
        for (key, outcome) in keys.into_iter().zip(backend.swap(m, items).await?) {
            match outcome {
                Swapped::Written => written += 1,
                Swapped::Changed(now) => read.push((key, now)),
                Swapped::Missing => {}
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if read.is_empty() {
            break;
        }
    }
    Ok(written)
}

/// A model whose records carry computed index fields (it declares emulated lookups),
/// registered by `#[derive(Model)]`: the whole-database
/// [`rebuild_indexes`](Database::rebuild_indexes) recomputes them for its records.
///
/// ```
/// use nonrel_runtime::{Key, Model};
/// #[derive(Model)]
/// struct Note { #[field(key)] id: Option<Key<Note>>, #[field(index(iexact))] text: String }
/// #[derive(Model)]
/// struct Plain { #[field(key)] id: Option<Key<Plain>>, text: String }
/// let names: Vec<&str> = nonrel_runtime::__private::registered_lookup_models().map(|r| r.model().name).collect();
/// assert!(names.contains(&"Note") && !names.contains(&"Plain"));
/// ```
#[doc(hidden)]
pub struct LookupRegistration {
    model: &'static ModelDesc,
    /// The plan reading every record of the model and no other (a subclass reads its own).
    plan: fn() -> Result<Plan>,
    /// A stored record as the model writes it today.
    recompute: fn(Option<KeyValue>, &[u8]) -> Result<PutItem>,
}

impl LookupRegistration {
    /// The registration of `M`.
    pub const fn of<M: Model>() -> Self {
        LookupRegistration { model: M::DESC, plan: plan_of::<M>, recompute: recomputed::<M> }
    }

    /// The registered model.
    pub fn model(&self) -> &'static ModelDesc {
        self.model
    }
}

inventory::collect!(LookupRegistration);

/// Every registered model that declares emulated lookups, by collection then name.
#[doc(hidden)]
pub fn registered_lookup_models() -> impl Iterator<Item = &'static LookupRegistration> {
    let mut all: Vec<&'static LookupRegistration> = inventory::iter::<LookupRegistration>
        .into_iter()
        .filter(|r| crate::schema::model::is_registered(r.model))
        .collect();
    all.sort_by_key(|r| (r.model.collection, r.model.name));
    all.into_iter()
}

fn plan_of<M: Model>() -> Result<Plan> {
    Ok(crate::plan::Query::<M>::new().plan()?.clone())
}

/// A stored record as `M` writes it today (errors name the model and key, as every decode
/// and encode does).
fn recomputed<M: Model>(key: Option<KeyValue>, doc: &[u8]) -> Result<PutItem> {
    let record: M = decode(key.as_ref(), doc)?;
    Ok(PutItem { key, doc: encode(&record)? })
}

/// Rewrites every stored record of a model as the model writes it today (its index
/// fields recomputed); returns how many. A record that does not decode stops it with an
/// error naming the model and key; the records before it are rewritten.
///
/// Each batch is written compare-and-set ([`Backend::swap`]): a record a concurrent write
/// changed since it was read is recomputed from its current document, and one deleted
/// meanwhile stays deleted, so a rebuild never undoes a save or a delete.
pub(crate) async fn recompute<B: Backend>(backend: &B, r: &LookupRegistration) -> Result<u64> {
    const BATCH: usize = 1000;
    let rows = backend.query(r.model, (r.plan)()?).await?;
    let mut n = 0;
    for chunk in rows.chunks(BATCH) {
        let read = chunk.iter().filter_map(|row| Some((row.key.clone()?, row.doc.clone()))).collect();
        n += rewrite(backend, r.model, read, r.recompute).await?;
    }
    Ok(n)
}
