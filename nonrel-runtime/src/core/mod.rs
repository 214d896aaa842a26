//! The core layer: the BSON codec, dynamic values and key values, which every layer above
//! shares. Depends only on [`error`](crate::error).

pub mod codec;
pub mod key;
pub mod value;
