//! Declared cascading deletes.
//!
//! Nothing cascades unless declared: deleting a record leaves the records that refer to it
//! as they are. A `Ref<T>` field (or `Option<Ref<T>>`, `Vec<Ref<T>>`) declared with
//! `#[field(on_delete = cascade)]` registers a [`Cascade`]; deleting a `T` then first deletes,
//! in batches, the records whose field refers to it (and their own dependents, to any depth,
//! cycles included), and then the record itself.
//!
//! Atomicity: `Database::delete` and `delete_many` run a cascade as a series of batched
//! deletes, each atomic on its own. It is not atomic as a whole: if it fails half-way, some
//! dependents are gone and the rest (and the record) are still there. The record goes last,
//! so it is never gone while its direct dependents remain, and running the same delete again
//! finishes those. Each dependent is deleted (compare-and-set: only while it still refers to
//! a record being deleted) before its own dependents, so one moved to another record
//! meanwhile keeps them; a failure between the two leaves those referring to a deleted
//! record, which deleting the first record again does not reach. On a backend with transactions, `tx.delete` inside
//! [`Database::transaction`](crate::api::database::Database::transaction) runs the cascade inside the
//! transaction, all or nothing (on MongoDB within the server's limits on a transaction's
//! size and duration).

use crate::backend::{Backend, SwapItem, Swapped};
use crate::error::Result;
use crate::plan::eval::matches_all;
use crate::plan::{to_value, Filter, Op, Plan};
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

/// Records deleted per batch, and parent keys per lookup of their dependents.
const BATCH: usize = 500;

/// A declared cascade: deleting a record of `target` deletes the records of `model` whose
/// field at `path` refers to it. Registered by the derive for `#[field(on_delete = cascade)]`.
///
/// ```
/// use nonrel_runtime::{Key, Model, Ref};
/// #[derive(Model)]
/// struct Blog { #[field(key)] id: i64 }
/// #[derive(Model)]
/// struct Entry { #[field(key)] id: i64, #[field(on_delete = cascade)] blog: Ref<Blog> }
/// let c = nonrel_runtime::cascades_to(Blog::DESC).next().unwrap();
/// assert_eq!((c.model.name, c.path), ("Entry", "blog"));
/// ```
#[derive(Debug)]
pub struct Cascade {
    /// The dependent model.
    pub model: &'static ModelDesc,
    /// The stored path of its reference field.
    pub path: &'static str,
    /// The model whose deletion cascades.
    pub target: &'static ModelDesc,
}

inventory::collect!(Cascade);

/// The cascades declared towards `model` (see the example on [`Cascade`]).
pub fn cascades_to(model: &'static ModelDesc) -> impl Iterator<Item = &'static Cascade> {
    let same = move |m: &ModelDesc| m.name == model.name && m.collection == model.collection;
    inventory::iter::<Cascade>.into_iter().filter(move |c| same(c.target))
}

/// A record found by a cascade: its key and document.
pub(crate) type Found = (KeyValue, Vec<u8>);

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a cascade finds and deletes records: the database, or a transaction.
pub(crate) trait Target: Sync {
    /// The records of `model` the plan matches: each key and document.
    fn find(&self, model: &'static ModelDesc, plan: Plan) -> BoxFuture<'_, Result<Vec<Found>>>;
    /// Deletes records by key; returns how many existed.
    fn remove(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> BoxFuture<'_, Result<u64>>;
    /// Deletes dependents found by `plan`, each only while it still matches it; returns the
    /// keys of those that are gone (their own dependents follow them).
    fn remove_found(
        &self,
        model: &'static ModelDesc,
        found: Vec<(KeyValue, Vec<u8>)>,
        plan: &Plan,
    ) -> BoxFuture<'_, Result<Vec<KeyValue>>>;
}

/// The store itself as a cascade's target: each batch atomic on its own.
pub(crate) struct Direct<'a, B>(pub(crate) &'a B);

impl<B: Backend> Target for Direct<'_, B> {
    fn find(&self, model: &'static ModelDesc, plan: Plan) -> BoxFuture<'_, Result<Vec<Found>>> {
        Box::pin(async move {
            Ok(self.0.query(model, plan).await?.into_iter().filter_map(|r| Some((r.key?, r.doc))).collect())
        })
    }
    fn remove(&self, model: &'static ModelDesc, keys: Vec<KeyValue>) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.0.delete(model, keys))
    }
    /// Compare-and-set deletes ([`Backend::swap`]): a dependent a concurrent write changed is
    /// read again and deleted only if it still refers to a record being deleted, so a
    /// dependent saved meanwhile with another reference survives. One deleted meanwhile by
    /// another write counts as gone.
    fn remove_found(
        &self,
        model: &'static ModelDesc,
        found: Vec<(KeyValue, Vec<u8>)>,
        plan: &Plan,
    ) -> BoxFuture<'_, Result<Vec<KeyValue>>> {
        let filters = plan.filters.clone();
        Box::pin(async move {
            let mut found = found;
            let mut gone = Vec::new();
            for _ in 0..crate::engine::related::REWRITE_ROUNDS {
                let items: Vec<SwapItem> =
                    found.into_iter().map(|(key, expected)| SwapItem { key, expected, doc: None }).collect();
                let keys: Vec<KeyValue> = items.iter().map(|i| i.key.clone()).collect();
                found = Vec::new();
                for (key, outcome) in keys.into_iter().zip(self.0.swap(model, items).await?) {
                    match outcome {
                        Swapped::Changed(now) if matches_all(&filters, &now)? => found.push((key, now)),
                        Swapped::Changed(_) => {}
                        Swapped::Written | Swapped::Missing => gone.push(key),
                    }
                }
                if found.is_empty() {
                    break;
                }
            }
            Ok(gone)
        })
    }
}

/// Deletes records by key, after their declared dependents; returns how many of `keys`
/// existed. On the database each batch is atomic on its own; in a transaction the whole
/// cascade is part of the transaction.
pub(crate) async fn delete<T: Target>(target: &T, model: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
    if cascades_to(model).next().is_some() {
        let mut seen: HashSet<(&'static str, KeyValue)> = keys.iter().map(|k| (model.collection, k.clone())).collect();
        dependents(target, model, &keys, &mut seen).await?;
    }
    target.remove(model, keys).await
}

/// Deletes, batch by batch, every record that depends on `keys` through a declared cascade:
/// each batch of dependents (compare-and-set), then the dependents of those that are gone,
/// so a dependent moved to another record meanwhile keeps its own dependents. `seen` holds
/// the records already on their way out, so cycles end.
fn dependents<'a, T: Target>(
    target: &'a T,
    model: &'static ModelDesc,
    keys: &'a [KeyValue],
    seen: &'a mut HashSet<(&'static str, KeyValue)>,
) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        for c in cascades_to(model) {
            for parents in keys.chunks(BATCH) {
                let plan = referring(c, parents)?;
                let found = target.find(c.model, plan.clone()).await.map_err(|e| e.with_model(c.model.name))?;
                let fresh: Vec<(KeyValue, Vec<u8>)> =
                    found.into_iter().filter(|(k, _)| seen.insert((c.model.collection, k.clone()))).collect();
                for batch in fresh.chunks(BATCH) {
                    let gone = target
                        .remove_found(c.model, batch.to_vec(), &plan)
                        .await
                        .map_err(|e| e.with_model(c.model.name))?;
                    // One that stayed (moved meanwhile) may yet refer to another record
                    // being deleted: found again there.
                    let stayed = batch.iter().filter(|(k, _)| !gone.contains(k));
                    for (key, _) in stayed {
                        seen.remove(&(c.model.collection, key.clone()));
                    }
                    dependents(target, c.model, &gone, seen).await?;
                }
            }
        }
        Ok(())
    })
}

/// The records of the cascade's model that refer to one of `parents`.
fn referring(c: &Cascade, parents: &[KeyValue]) -> Result<Plan> {
    let values = parents.iter().map(to_value).collect::<Result<Vec<_>>>()?;
    Ok(Plan { filters: vec![Filter { path: c.path.into(), op: Op::In(values) }], ..Plan::default() })
}
