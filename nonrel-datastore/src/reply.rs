//! The replies that carry entities (`runQuery`, `lookup`), read straight from their bytes.
//!
//! A reply parsed into a `serde_json::Value` tree costs an allocation for every name and
//! string and a hashed map for every object, and all of it is dropped once the entities are
//! decoded: for a page of ten entities that was more than the rest of the read together.
//! These types borrow names and strings from the reply's bytes where they hold no escapes,
//! keep an entity's properties as a list in the reply's order, and skip every member nonrel
//! does not read. [`entity::decode`](crate::entity::decode) turns the properties into the
//! record's document.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value as Json;
use std::borrow::Cow;
use std::fmt;

/// A string of the reply, borrowed from its bytes unless it holds an escape.
#[derive(Debug, Clone, PartialEq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Str::deserialize(d)? {
            Str::Text(t) => Ok(t),
            Str::Json(v) => Err(de::Error::invalid_type(de::Unexpected::Other(&v.to_string()), &"a string")),
        }
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// The reply of `runQuery`.
#[derive(Deserialize)]
pub struct QueryReply<'a> {
    #[serde(borrow)]
    pub batch: Batch<'a>,
}

/// One batch of query results.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch<'a> {
    #[serde(default, borrow)]
    pub entity_results: Vec<Found<'a>>,
    #[serde(default, borrow)]
    pub more_results: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub end_cursor: Option<Text<'a>>,
}

/// The reply of `lookup`: the entities found, and the keys the store put off to another call.
#[derive(Deserialize)]
pub struct LookupReply<'a> {
    #[serde(default, borrow)]
    pub found: Vec<Found<'a>>,
    #[serde(default)]
    pub deferred: Vec<Json>,
}

/// An entity with its version.
#[derive(Deserialize)]
pub struct Found<'a> {
    #[serde(borrow)]
    pub entity: Entity<'a>,
    #[serde(default, borrow)]
    pub version: Option<Text<'a>>,
}

/// An entity: its key and its properties.
#[derive(Deserialize)]
pub struct Entity<'a> {
    #[serde(borrow)]
    pub key: Key<'a>,
    #[serde(default, borrow)]
    pub properties: Props<'a>,
}

/// A key: its path, of which nonrel reads the last element.
#[derive(Deserialize)]
pub struct Key<'a> {
    #[serde(default, borrow)]
    pub path: Vec<PathElement<'a>>,
}

/// One element of a key's path: an id (a decimal string) or a name.
#[derive(Deserialize)]
pub struct PathElement<'a> {
    #[serde(default, borrow)]
    pub id: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub name: Option<Text<'a>>,
}

/// The properties of an entity (or of an entity value), in the reply's order.
#[derive(Default)]
pub struct Props<'a>(pub Vec<(Text<'a>, Val<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Props<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Props<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an entity's properties")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Props<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(name) = map.next_key::<Text<'de>>()? {
                    out.push((name, map.next_value()?));
                }
                Ok(Props(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// One Datastore value: the member of its object named `…Value` (its `excludeFromIndexes`
/// and `meaning` are not read).
#[derive(Debug, PartialEq)]
pub enum Val<'a> {
    Str(Text<'a>),
    /// An `integerValue`: a decimal string.
    Int(Text<'a>),
    Double(f64),
    Bool(bool),
    Null,
    /// A `timestampValue`: RFC 3339 text.
    Timestamp(Text<'a>),
    /// A `blobValue`: base64 text.
    Blob(Text<'a>),
    Entity(Props<'a>),
    Array(Vec<Val<'a>>),
    /// A value nonrel does not read (a key, a geographical point, a kind not known, a value
    /// of the wrong JSON type, or none), as JSON text for the error that names it.
    Other(String),
}

impl PartialEq for Props<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl fmt::Debug for Props<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(k, v)| (&*k.0, v))).finish()
    }
}

/// The members of an entity value nonrel reads.
#[derive(Deserialize)]
struct EntityValue<'a> {
    #[serde(default, borrow)]
    properties: Props<'a>,
}

/// The members of an array value nonrel reads (`values` is absent from an empty array).
#[derive(Deserialize)]
struct ArrayValue<'a> {
    #[serde(default, borrow)]
    values: Vec<Val<'a>>,
}

/// A member's value read as any JSON, for the kinds whose JSON type varies or that nonrel
/// does not read.
fn other(kind: &str, v: &Json) -> Val<'static> {
    Val::Other(format!("{{{}:{v}}}", Json::from(kind)))
}

fn text_or_other<'a>(kind: &str, v: Json, make: fn(Text<'a>) -> Val<'a>) -> Val<'a> {
    match v {
        Json::String(s) => make(Text(Cow::Owned(s))),
        v => other(kind, &v),
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Val<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Val<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Datastore value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
                let mut out: Option<Val<'de>> = None;
                while let Some(kind) = map.next_key::<Text<'de>>()? {
                    let v = match &*kind {
                        // The common kinds as strings borrowed from the reply.
                        "stringValue" | "integerValue" | "timestampValue" | "blobValue" => {
                            let make: fn(Text<'de>) -> Val<'de> = match &*kind {
                                "stringValue" => Val::Str,
                                "integerValue" => Val::Int,
                                "timestampValue" => Val::Timestamp,
                                _ => Val::Blob,
                            };
                            match map.next_value::<Str<'de>>()? {
                                Str::Text(t) => make(t),
                                Str::Json(v) => text_or_other(&kind, v, make),
                            }
                        }
                        "entityValue" => Val::Entity(map.next_value::<EntityValue<'de>>()?.properties),
                        "arrayValue" => Val::Array(map.next_value::<ArrayValue<'de>>()?.values),
                        "doubleValue" => match map.next_value::<Json>()? {
                            Json::Number(n) => match n.as_f64() {
                                Some(f) => Val::Double(f),
                                None => other(&kind, &Json::Number(n)),
                            },
                            Json::String(s) if s == "NaN" => Val::Double(f64::NAN),
                            Json::String(s) if s == "Infinity" => Val::Double(f64::INFINITY),
                            Json::String(s) if s == "-Infinity" => Val::Double(f64::NEG_INFINITY),
                            v => other(&kind, &v),
                        },
                        "booleanValue" => match map.next_value::<Json>()? {
                            Json::Bool(b) => Val::Bool(b),
                            v => other(&kind, &v),
                        },
                        "nullValue" => {
                            map.next_value::<IgnoredAny>()?;
                            Val::Null
                        }
                        k if k.ends_with("Value") => other(k, &map.next_value::<Json>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    out = Some(v);
                }
                Ok(out.unwrap_or_else(|| Val::Other("{}".to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Val::Other("[…]".to_string()))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Val<'de>, E> {
                Ok(Val::Other(b.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Val<'de>, E> {
                Ok(Val::Other(n.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Val<'de>, E> {
                Ok(Val::Other(n.to_string()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Val<'de>, E> {
                Ok(Val::Other(n.to_string()))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Val<'de>, E> {
                Ok(Val::Other(Json::from(s).to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Val<'de>, E> {
                Ok(Val::Other("null".to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string member, or what stands there instead.
enum Str<'a> {
    Text(Text<'a>),
    Json(Json),
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Str<'de>, E> {
                Ok(Str::Text(Text(Cow::Borrowed(s))))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Str<'de>, E> {
                Ok(Str::Text(Text(Cow::Owned(s.to_string()))))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Str<'de>, E> {
                Ok(Str::Text(Text(Cow::Owned(s))))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Str<'de>, E> {
                Ok(Str::Json(Json::Bool(b)))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Str<'de>, E> {
                Ok(Str::Json(Json::from(n)))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Str<'de>, E> {
                Ok(Str::Json(Json::from(n)))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Str<'de>, E> {
                Ok(Str::Json(Json::from(n)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Str<'de>, E> {
                Ok(Str::Json(Json::Null))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Str<'de>, A::Error> {
                Json::deserialize(de::value::MapAccessDeserializer::new(map)).map(Str::Json)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Str<'de>, A::Error> {
                Json::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Str::Json)
            }
        }
        d.deserialize_any(V)
    }
}
