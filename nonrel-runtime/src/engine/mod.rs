//! The engine layer: what the runtime adds over a backend, written as functions over the
//! [`Backend`](crate::backend::Backend) interface: emulated lookups rewritten onto index
//! fields, related records (copies, two-step joins, selections, prefetches, the outbox),
//! cascades, polymorphism, pages, rebuilds, dump and load, and the fallbacks a backend leaves
//! to the runtime (in-memory seek, split `in` lookups).

pub(crate) mod aggregate;
pub(crate) mod annotate;
pub mod cascade;
pub mod dump;
pub(crate) mod keyed;
pub mod lookup;
pub mod page;
pub mod poly;
pub mod prepare;
pub mod rebuild;
pub mod related;
pub mod split;
pub(crate) mod trace;
