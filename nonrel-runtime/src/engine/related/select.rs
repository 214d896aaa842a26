//! Related selections: the records a result set's `Ref`s point to, loaded for the
//! whole set in one batched key read, so a query with `select_related` costs two round trips
//! for any number of rows. MongoDB runs the query and the selections as one `$lookup`
//! aggregate instead (one round trip; `mongo::RelatedStrategy`).
//!
//! `select_related` follows a `Ref<T>` or an `Option<Ref<T>>`; lists of references and
//! reverse sets are prefetched (`prefetch.rs`), one batched read or one `in` query each.

use crate::backend::{Backend, Row};
use crate::error::Result;
use crate::plan::join::Selection;
use crate::schema::key::KeyValue;

/// Fills each row's related selections: one batched read per selection. Only selections
/// of one `Ref` come here (and to a backend's `query_joined`); see [`super::prefetch::load`]
/// for the others.
pub(crate) async fn load<B: Backend>(backend: &B, selections: &[Selection], rows: &mut [Row]) -> Result<()> {
    for s in selections {
        debug_assert!(matches!(s.kind, crate::plan::join::Kind::One), "prefetches load apart");
        let keys: Vec<Option<KeyValue>> =
            rows.iter().map(|r| super::copies::ref_key(&r.doc, &s.reference)).collect::<Result<_>>()?;
        // The distinct keys, sorted: read in key order, then found by binary search.
        let mut distinct: Vec<KeyValue> = keys.iter().flatten().cloned().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut docs = if distinct.is_empty() {
            Vec::new()
        } else {
            match &s.projection {
                Some(p) => backend.get_many_projected(s.related, distinct.clone(), p.clone()).await?,
                None => backend.get_many(s.related, distinct.clone()).await?,
            }
        };
        // The position of each row's key among the distinct ones, and the last row that
        // refers to each, which takes the document rather than a copy.
        let at: Vec<Option<usize>> =
            keys.iter().map(|k| k.as_ref().and_then(|k| distinct.binary_search(k).ok())).collect();
        let mut last = vec![usize::MAX; distinct.len()];
        for (row, i) in at.iter().enumerate() {
            if let Some(i) = *i {
                last[i] = row;
            }
        }
        for (n, ((row, key), i)) in rows.iter_mut().zip(keys).zip(at).enumerate() {
            let doc = i.and_then(|i| if last[i] == n { docs[i].take() } else { docs[i].clone() });
            let related: Vec<Row> = match (key, doc) {
                (Some(key), Some(doc)) => vec![Row { doc, key: Some(key), ..Row::default() }],
                _ => Vec::new(),
            };
            row.related.push((s.reference.to_string(), related));
        }
    }
    Ok(())
}

/// Reads by key the selections a backend's joined query left out of its rows (a row holds an
/// entry for each selection the backend filled).
pub(crate) async fn load_missing<B: Backend>(backend: &B, selections: &[Selection], rows: &mut [Row]) -> Result<()> {
    let Some(first) = rows.first() else { return Ok(()) };
    let missing: Vec<Selection> =
        selections.iter().filter(|s| !first.related.iter().any(|(name, _)| name == &*s.reference)).cloned().collect();
    if missing.is_empty() {
        return Ok(());
    }
    load(backend, &missing, rows).await
}
