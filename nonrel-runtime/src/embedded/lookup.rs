//! Emulated lookups on the embedded backend: a declared index that is not filled yet reported
//! instead of scanned, and `explain` for queries with emulated lookups. (The rarest trigram of
//! an `icontains` is read first like any most selective filter: see `index::choose`.)

use crate::error::{Error, ErrorKind, Result};
use crate::plan::Plan;
use crate::schema::model::ModelDesc;

/// Whether a path is an emulated lookup's index field.
fn is_index_field(path: &str) -> bool {
    path.starts_with("_ix_")
}

/// An error when a plan filters on a declared emulated index that is not filled yet (it was
/// declared after records were written): a scan would miss nothing the index would find,
/// but the scan is what the declaration exists to avoid, so it is reported instead.
pub(super) fn check_filled(m: &ModelDesc, plan: &Plan, built: &[&'static str]) -> Result<()> {
    for f in plan.filters.iter().filter(|f| is_index_field(&f.path)) {
        if m.index_on(&f.path).is_some_and(|i| !built.contains(&i.path)) {
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
