//! Typed queries: field descriptors, conditions, ordering and the plan backends run.

pub mod eval;
mod field;
mod plan;

pub(crate) use field::check_path;
pub use field::{join, to_value, Containable, Describe, Field, IntoLookup, Mark, Ordered, Text};
pub use plan::{elem_match, Condition, Direction, Filter, Native, Op, Order, OrderBy, Plan, Projection, Query};
