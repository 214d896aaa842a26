//! Emulated lookups on the embedded backend: the rarest trigram of an `icontains`
//! read first, a declared index that is not filled yet reported instead of scanned, and
//! `explain` for queries with emulated lookups.

use super::keys::encoded;
use super::tables::{index_table, open_read, storage, Bytes};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{Op, Plan};
use crate::schema::model::ModelDesc;
use std::collections::HashSet;

/// Whether a path is an emulated lookup's index field.
fn is_index_field(path: &str) -> bool {
    path.starts_with("_ix_")
}

/// Entries of an index whose value is `v`, counted up to `cap`.
fn count_entries(
    table: &redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    v: &crate::core::value::Value,
    cap: usize,
) -> Result<usize> {
    let range = super::index::prefix_range(encoded(v));
    let range = table.range::<&[u8]>(super::index::bounds(&range)).map_err(storage)?;
    Ok(range.take(cap).count())
}

/// The plan with the rarest of an `icontains`' trigram lookups first (the index scan reads
/// the first of equally selective filters), when the plan has several; `None` otherwise.
///
/// Counts are bounded: each trigram's entries are counted up to a cap that grows sixteenfold
/// until one trigram stays under it, so the cost follows the rarest trigram, not the collection.
pub(super) fn rarest_first(tx: &redb::ReadTransaction, m: &ModelDesc, plan: &Plan) -> Result<Option<Plan>> {
    let grams: Vec<usize> = plan
        .filters
        .iter()
        .enumerate()
        .filter(|(_, f)| is_index_field(&f.path) && f.path.ends_with("_grams") && matches!(f.op, Op::Has(_)))
        .map(|(i, _)| i)
        .collect();
    if grams.len() < 2 {
        return Ok(None);
    }
    let path = &plan.filters[grams[0]].path;
    let Some(index) = m.index_on(path) else { return Ok(None) };
    let name = index_table(m, index);
    let Some(table) = open_read(tx, Bytes::new(&name))? else { return Ok(None) };
    let mut cap = 32usize;
    let rarest = loop {
        let mut best: Option<(usize, usize)> = None;
        for &i in grams.iter().filter(|&&i| plan.filters[i].path == *path) {
            let Op::Has(v) = &plan.filters[i].op else { continue };
            let n = count_entries(&table, v, best.map_or(cap, |b| b.0))?;
            if n < best.map_or(cap, |b| b.0) {
                best = Some((n, i));
            }
        }
        match best {
            Some((_, i)) => break i,
            None if cap >= 1 << 24 => break grams[0],
            None => cap *= 16,
        }
    };
    let mut plan = plan.clone();
    let first = plan.filters.remove(rarest);
    plan.filters.insert(0, first);
    Ok(Some(plan))
}

/// An error when a plan filters on a declared emulated index that is not filled yet (it was
/// declared after records were written): a scan would miss nothing the index would find,
/// but the scan is what the declaration exists to avoid, so it is reported instead.
pub(super) fn check_filled(m: &ModelDesc, plan: &Plan, built: &HashSet<&'static str>) -> Result<()> {
    for f in plan.filters.iter().filter(|f| is_index_field(&f.path)) {
        if m.index_on(&f.path).is_some_and(|i| !built.contains(i.path)) {
            let msg = format!(
                "the index `{}` is declared but not filled yet (declared after records were written): \
                 run `rebuild_indexes_of::<{}>()` to compute it for the existing records",
                f.path, m.name
            );
            return Err(Error::new(ErrorKind::Unsupported, msg).with_model(m.name));
        }
    }
    Ok(())
}
