//! The code generated for declared lookups names every item by absolute path: it builds
//! without warnings next to local items shadowing the prelude.

#![deny(warnings)]
#![allow(dead_code)]

use nonrel_runtime::{DateTime, Extra, Key, Model, Utc};

struct Result;
struct Option;
struct Ok;
struct Some;
struct Err;
struct None;
struct Vec;
struct Box;
struct String;
struct Default;
mod std {}
mod core {}

#[derive(Model)]
pub struct Post {
    #[field(key)]
    id: ::std::option::Option<Key<Post>>,
    #[field(index(exact, iexact, istartswith, endswith, icontains, regex = "^[a-z]+$"))]
    title: ::std::string::String,
    #[field(index(year, month, day, week_day))]
    published: DateTime<Utc>,
    #[field(index(icontains), rename = "sub")]
    subtitle: ::std::option::Option<::std::boxed::Box<::std::string::String>>,
    #[field(extra)]
    extra: Extra,
}

fn main() {}
