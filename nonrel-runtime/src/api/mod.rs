//! The typed API layer: [`Database`](crate::api::database::Database), the query builder, pages,
//! transactions, updates and records, over the engine.

pub mod database;
#[cfg(feature = "serde")]
mod serde_impls;
pub mod transaction;
pub mod update;
