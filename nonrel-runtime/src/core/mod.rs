//! The core layer: the BSON codec, dynamic values, key values and the order-preserving
//! encoding of values in index keys, which every layer above shares. Depends only on
//! [`error`](crate::error).

pub mod codec;
pub mod key;
pub mod order;
pub mod value;
