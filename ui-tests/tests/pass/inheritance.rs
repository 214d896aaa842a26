//! Field groups and a polymorphic hierarchy, under #![deny(warnings)] with the prelude shadowed.
#![deny(warnings)]
#![allow(dead_code)]

#[allow(unused_imports)]
use std::result::Result as Ok;

use nonrel_runtime::{DateTime, Fields, Key, Model, Utc};

/// Shared fields.
#[derive(Fields, Debug, Clone)]
pub struct Stamps {
    #[field(index)]
    pub created_at: DateTime<Utc>,
    #[field(rename = "by")]
    pub author: String,
}

#[derive(Model)]
#[model(polymorphic)]
struct Media {
    #[field(key)]
    id: Option<Key<Media>>,
    #[field(flatten)]
    stamps: Stamps,
    title: String,
}

#[derive(Model)]
#[model(extends = Media)]
struct Video {
    #[field(key)]
    id: Option<Key<Video>>,
    #[field(flatten)]
    stamps: Stamps,
    title: String,
    seconds: u32,
}

fn queries() {
    use StampsFields as _;
    let _ = Video::created_at().lte(Utc::now());
    let _ = Media::author().startswith("a");
    let _ = Video::seconds().gt(60u32);
    let _: Key<Media> = Key::<Video>::from(1).upcast();
}

fn main() {}
