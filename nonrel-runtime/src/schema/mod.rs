//! The schema layer: what a model is. Model descriptions and their registry, the `Model`
//! trait, typed keys and references, field groups, unknown fields kept on save and records
//! as JSON. Depends on [`core`](crate::core) and [`error`](crate::error).

pub mod class;
pub mod copies;
pub mod counter;
pub mod group;
pub mod json;
pub mod key;
pub mod lookup;
pub mod model;
pub mod unknown;
