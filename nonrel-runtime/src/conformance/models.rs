//! The models the conformance suite stores.
#![allow(missing_docs)]

use crate::{Blob, Decimal, Extra, Key, Ref, Value};
use crate::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A user with a natural string key and a unique email.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_users")]
pub struct User {
    #[field(key)]
    pub username: String,
    #[field(unique)]
    pub email: String,
    pub age: u8,
}

/// A comment embedded in a post; holds replies to any depth.
#[derive(crate::Embedded, Debug, Clone, PartialEq)]
pub struct Comment {
    pub author: String,
    pub text: String,
    pub votes: i32,
    pub replies: Vec<Comment>,
}

/// A post with an automatic key, embedded comments, tags and a reference.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_posts", index = "comments.author")]
pub struct Post {
    #[field(key)]
    pub id: Option<Key<Post>>,
    #[field(index)]
    pub title: String,
    /// The same values as `title`, without an index: queries on both must agree.
    pub title_plain: String,
    #[field(index)]
    pub views: i64,
    pub views_plain: i64,
    pub rating: f64,
    #[field(index)]
    pub tags: Vec<String>,
    pub author: Ref<User>,
    pub comments: Vec<Comment>,
    pub subtitle: Option<String>,
    #[field(rename = "pub")]
    pub published: bool,
}

/// Every supported field type.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_kitchen_sink")]
pub struct Everything {
    #[field(key)]
    pub id: i64,
    pub b: bool,
    pub i8: i8,
    pub i16: i16,
    pub i32: i32,
    pub i64: i64,
    pub i128: i128,
    pub isize: isize,
    pub u8: u8,
    pub u16: u16,
    pub u32: u32,
    pub u64: u64,
    pub u128: u128,
    pub usize: usize,
    pub f32: f32,
    pub f64: f64,
    pub text: String,
    pub decimal: Decimal,
    pub when: DateTime<Utc>,
    pub maybe: Option<i32>,
    pub nothing: Option<String>,
    pub list: Vec<String>,
    pub nested_list: Vec<Vec<i64>>,
    pub set: BTreeSet<String>,
    pub hash_set: HashSet<i64>,
    pub dict: BTreeMap<String, Value>,
    pub hash_dict: HashMap<String, Vec<Comment>>,
    pub dynamic: Value,
    pub blob: Blob,
    pub comment: Comment,
    pub comments: Vec<Comment>,
    pub boxed: Box<Comment>,
    pub author: Ref<User>,
    pub other: Option<Key<Post>>,
    #[field(skip)]
    pub cache: Vec<u8>,
    #[field(default)]
    pub defaulted: u32,
}

/// A wide view of a collection, with a field the narrow views do not know.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_profiles")]
pub struct WideProfile {
    #[field(key)]
    pub id: i64,
    pub name: String,
    pub legacy: String,
    pub legacy_number: i32,
}

/// A narrow view that keeps unknown fields in an `Extra` field.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_profiles")]
pub struct ProfileWithExtra {
    #[field(key)]
    pub id: i64,
    pub name: String,
    #[field(extra)]
    pub extra: Extra,
}

/// A narrow view without an `Extra` field: the backend must keep unknown fields itself.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_profiles")]
pub struct ProfileNarrow {
    #[field(key)]
    pub id: i64,
    pub name: String,
}

/// A view of the same collection expecting a number where text is stored.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_profiles")]
pub struct ProfileWrongShape {
    #[field(key)]
    pub id: i64,
    pub name: String,
    pub legacy: u32,
}
