//! Typed queries: field descriptors, conditions, ordering and the plan backends run.

pub mod aggregate;
pub mod annotate;
mod boolean;
mod decode;
pub mod eval;
mod field;
pub mod join;
pub mod lookup;
mod query;
pub mod seek;
mod select;
#[cfg(feature = "serde")]
mod serde_field;
pub mod update;

pub use boolean::{all, any, not};
pub(crate) use boolean::{any_filter, branch_plans, conjunction, has_join, visit_joins};
pub(crate) use decode::with_projection;
pub use decode::{decode_field, decode_next, encode_field, missing_field};
pub use field::{join, to_value, Containable, Describe, Field, IntoLookup, Mark, Ordered, Text};
pub(crate) use query::check_path;
#[cfg(feature = "mongodb")]
pub(crate) use query::oversized_filter;
pub use query::{
    elem_match, Condition, Direction, Filter, Native, Op, Order, OrderBy, Plan, Projection, Query, BOOLEAN_PATH, KEY,
};
pub(crate) use query::{needs_split, oversized};
pub use query::{Accepts, Detached};
#[cfg(feature = "serde")]
pub use serde_field::{encode_serde_field, Serde};
