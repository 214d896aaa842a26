//! Typed queries: field descriptors, conditions, ordering and the plan backends run.

mod decode;
pub mod eval;
mod field;
pub mod join;
pub mod lookup;
mod query;
pub mod seek;
#[cfg(feature = "serde")]
mod serde_field;
mod select;
pub mod update;

pub(crate) use decode::with_projection;
pub use decode::{decode_field, encode_field, missing_field};
pub use field::{join, to_value, Containable, Describe, Field, IntoLookup, Mark, Ordered, Text};
pub(crate) use query::check_path;
#[cfg(feature = "mongodb")]
pub(crate) use query::oversized_filter;
pub use query::{elem_match, Condition, Direction, Filter, Native, Op, Order, OrderBy, Plan, Projection, Query, KEY};
pub(crate) use query::{needs_split, oversized};
#[cfg(feature = "serde")]
pub use serde_field::{encode_serde_field, Serde};
pub use query::{Accepts, Detached};
