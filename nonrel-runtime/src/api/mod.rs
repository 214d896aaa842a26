//! The typed API layer: [`Database`](crate::api::database::Database), the query builder, pages,
//! transactions, updates and records, over the engine.

pub mod aggregate;
mod backends;
mod counter;
pub mod database;
mod maintenance;
pub mod page;
mod poly;
pub mod related;
#[cfg(feature = "serde")]
mod serde_impls;
pub mod transaction;
pub mod update;
