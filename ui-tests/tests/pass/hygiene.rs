//! The derives' output names every runtime and std item by absolute path: it builds without
//! warnings next to local items shadowing the prelude (in the style of serde's test_gen.rs).

#![deny(warnings)]
#![allow(dead_code)]

use nonrel_runtime::{Embedded, Extra, Key, Model, Ref};

struct Result;
struct Option;
struct Ok;
struct Some;
struct Err;
struct None;
struct Vec;
struct Box;
struct Default;
struct PhantomData;
struct Cow;
mod std {}
mod core {}
mod nonrel_runtime_private {}

#[derive(Embedded)]
pub struct Tag {
    pub name: String,
    #[field(default)]
    pub weight: i32,
}

#[derive(Model)]
pub struct Author {
    #[field(key)]
    pub name: String,
}

#[derive(Model)]
#[model(index = "tag.name")]
pub struct Article {
    #[field(key)]
    pub id: ::std::option::Option<Key<Article>>,
    #[field(index)]
    pub title: String,
    pub tag: Tag,
    pub tags: ::std::vec::Vec<Tag>,
    pub author: Ref<Author>,
    pub summary: ::std::option::Option<String>,
    #[field(skip)]
    pub cached: ::std::option::Option<String>,
    #[field(extra)]
    pub extra: Extra,
}

#[derive(Model)]
pub struct Counter {
    #[field(key)]
    pub id: u32,
    pub hits: i64,
}

fn main() {
    let _ = Article::tag().name().eq("rust");
    let _ = Article::tags().weight().gt(1);
    let _ = Counter::hits().lt(10);
}
