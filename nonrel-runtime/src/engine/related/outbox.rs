//! The outbox of pending fan-out to denormalized copies.
//!
//! When a record whose fields other models copy is written, an outbox entry naming it is
//! written durably with it: by the backend in the same atomic write where it can
//! ([`Backend::OUTBOX_IN_WRITE`], the embedded backend's redb transaction), else by the runtime
//! just before the write (a crash between the two leaves an entry for a write that did not
//! happen, and finishing it changes nothing). After the write the runtime brings the copies to
//! the related record's current value and removes the entry, compare-and-set, so an entry a
//! newer write left stays for that write. An entry a crash left is finished on the next open of
//! an embedded file, before a new database handle first writes a record whose fields are
//! copied, or by
//! [`Database::finish_pending_copies`](crate::api::database::Database::finish_pending_copies).

pub(crate) use crate::backend::copies::{entry, OUTBOX};
use crate::backend::{Backend, PutItem, SwapItem};
use crate::error::Result;
use crate::schema::key::KeyValue;
use crate::schema::model::ModelDesc;

/// Writes the entries of records about to be written (for backends that do not write them
/// with the records); returns them as written, to remove once finished.
pub(crate) async fn note<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    keys: impl Iterator<Item = &KeyValue>,
) -> Result<Vec<(KeyValue, Vec<u8>)>> {
    if B::OUTBOX_IN_WRITE {
        return Ok(Vec::new());
    }
    let items: Vec<PutItem> = keys.map(|k| entry(m, k)).collect::<Result<_>>()?;
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let noted = items.iter().filter_map(|i| Some((i.key.clone()?, i.doc.clone()))).collect();
    backend.put(&OUTBOX, items, crate::backend::WriteMode::Replace).await?;
    Ok(noted)
}

/// The entries the backend wrote with records `keys` of `m` (read before they are finished).
pub(crate) async fn written<B: Backend>(
    backend: &B,
    m: &'static ModelDesc,
    keys: &[KeyValue],
) -> Result<Vec<(KeyValue, Vec<u8>)>> {
    let ids: Vec<KeyValue> =
        keys.iter().map(|k| entry(m, k)).filter_map(|e| e.map(|e| e.key).transpose()).collect::<Result<_>>()?;
    let docs = backend.get_many(&OUTBOX, ids.clone()).await?;
    Ok(ids.into_iter().zip(docs).filter_map(|(k, d)| d.map(|d| (k, d))).collect())
}

/// Removes entries whose fan-out is done, each only if no newer write replaced it.
pub(crate) async fn clear<B: Backend>(backend: &B, entries: Vec<(KeyValue, Vec<u8>)>) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let items = entries.into_iter().map(|(key, expected)| SwapItem { key, expected, doc: None }).collect();
    backend.swap(&OUTBOX, items).await?;
    Ok(())
}
