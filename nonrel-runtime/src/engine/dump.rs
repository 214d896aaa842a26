//! The engine side of [`dump`](crate::dump); its documentation is there.

use crate::core::codec::Decode;
use crate::error::{echo, short, Error, ErrorKind, Result};
use crate::schema::json::{self, Json, Parser};
use crate::schema::key::KeyValue;
use crate::schema::model::all_models;
use crate::schema::model::{Model, ModelDesc};

/// How [`Database::load`](crate::Database::load) treats a line it cannot load.
///
/// ```
/// use nonrel_runtime::LoadOptions;
/// let strict = LoadOptions::default();            // any bad line: an error, nothing loaded
/// let lenient = LoadOptions::default().skip_bad_lines(); // bad lines reported and skipped
/// # let _ = (strict, lenient);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    pub(crate) skip_bad_lines: bool,
}

impl LoadOptions {
    /// Loads the good lines and reports the bad ones in [`LoadReport::skipped`] instead of
    /// failing.
    pub fn skip_bad_lines(mut self) -> Self {
        self.skip_bad_lines = true;
        self
    }
}

/// What [`Database::load`](crate::Database::load) did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Records written.
    pub loaded: u64,
    /// Lines not loaded (only with [`LoadOptions::skip_bad_lines`]): line number (from 1)
    /// and why.
    pub skipped: Vec<(usize, Error)>,
}

/// One validated line.
pub(crate) struct Item {
    pub(crate) model: &'static ModelDesc,
    pub(crate) key: KeyValue,
    pub(crate) doc: Vec<u8>,
}

/// One model per collection: the first by name.
pub(crate) fn collections() -> Result<Vec<&'static ModelDesc>> {
    let mut models = all_models()?;
    models.dedup_by_key(|m| m.collection);
    Ok(models)
}

pub(crate) fn dump_line(m: &ModelDesc, row: &crate::backend::Row, out: &mut String) -> Result<()> {
    let key = row.key.as_ref().ok_or_else(|| Error::new(ErrorKind::Storage, "a stored record has no key"))?;
    out.push_str("{\"collection\":");
    json::write_json_str(m.collection, out);
    out.push_str(",\"model\":");
    json::write_json_str(m.name, out);
    out.push_str(",\"_id\":");
    json::write_key(key, out);
    out.push_str(",\"record\":");
    json::write_record(None, &row.doc, out).map_err(|e| e.with_key(key))?;
    out.push_str("}\n");
    Ok(())
}

pub(crate) fn load_line(line: &str) -> Result<Item> {
    let Json::Object(fields) = Parser::parse(line)? else { return Err(bad("a line must be a JSON object")) };
    let (mut collection, mut model, mut key, mut record) = (None, None, None, None);
    for (name, value) in &fields {
        let slot = match name.as_str() {
            "collection" => &mut collection,
            "model" => &mut model,
            "_id" => &mut key,
            "record" => &mut record,
            other => {
                return Err(bad(format!("unknown field {} (expected collection, model, _id, record)", echo(other))))
            }
        };
        if slot.replace(value).is_some() {
            return Err(bad(format!("field {name:?} appears twice")));
        }
    }
    let text = |v: Option<&Json>, what: &str| match v {
        Some(Json::Str(s)) => Ok(s.clone()),
        Some(_) => Err(bad(format!("{what} must be a string"))),
        None => Err(bad(format!("{what} is missing"))),
    };
    let collection = text(collection, "collection")?;
    let model_name = model.map(|m| text(Some(m), "model")).transpose()?;
    let model = model_for(&collection, model_name.as_deref())?;
    let key = key_of(key.ok_or_else(|| bad("_id is missing"))?, model)?;
    let doc = match record {
        Some(Json::Object(fields)) => {
            json::record_to_document(fields).map_err(|e| e.with_model(model.name).with_key(&key))?
        }
        Some(_) => return Err(bad("record must be an object").with_key(&key)),
        None => return Err(bad("record is missing").with_key(&key)),
    };
    decodes(model, &key, &doc).map_err(|e| e.with_model(model.name).with_key(&key))?;
    Ok(Item { model, key, doc })
}

/// Checks that a loaded record decodes as its model, so a record every later read would
/// refuse is refused here instead.
///
/// ```
/// # use nonrel_runtime::{Database, LoadOptions, Model, ErrorKind};
/// #[derive(Model)]
/// #[model(collection = "load_check_doc")]
/// struct Tag { #[field(key)] name: String, uses: i64 }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let db = Database::in_memory().unwrap();
/// let line = r#"{"collection":"load_check_doc","_id":"rust","record":{}}"#;
/// let err = db.load(line.as_bytes(), LoadOptions::default()).await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Decode);
/// assert!(err.to_string().contains("Tag.uses"), "{err}");
/// # }
/// ```
#[doc(hidden)]
pub struct LoadCheck {
    model: &'static ModelDesc,
    decodes: fn(&KeyValue, &[u8]) -> Result<()>,
}

impl LoadCheck {
    /// The check of `M`.
    pub const fn of<M: Model>() -> Self {
        LoadCheck { model: M::DESC, decodes: |key, doc| M::decode(Some(key), doc).map(drop) }
    }
}

inventory::collect!(LoadCheck);

pub(crate) fn decodes(model: &'static ModelDesc, key: &KeyValue, doc: &[u8]) -> Result<()> {
    // Every value, those of fields the model does not know included, is well-formed and
    // nested at most `MAX_DEPTH` levels deep.
    crate::core::value::Value::fields_of(doc)?;
    let check = inventory::iter::<LoadCheck>.into_iter().find(|c| std::ptr::eq(c.model, model));
    check.map_or(Ok(()), |c| (c.decodes)(key, doc))
}

/// The registered model of a collection, by name when the line names one of its models.
pub(crate) fn model_for(collection: &str, name: Option<&str>) -> Result<&'static ModelDesc> {
    let models: Vec<_> = all_models()?.into_iter().filter(|m| m.collection == collection).collect();
    let named = models.iter().find(|m| Some(m.name) == name);
    named.or(models.first()).copied().ok_or_else(|| {
        bad(format!("collection {} belongs to no model of this program (registered_models())", echo(collection)))
    })
}

pub(crate) fn key_of(value: &Json, model: &'static ModelDesc) -> Result<KeyValue> {
    let mut doc = Vec::new();
    json::element(value, b"_id\0", &mut doc).map_err(|e| e.with_field("_id"))?;
    let el = crate::core::codec::Elements::concatenated(&doc).next().expect("one element")?;
    let key = KeyValue::decode(el.ty, el.value).map_err(|e| e.with_field("_id").with_model(model.name))?;
    if key == KeyValue::Str(String::new()) {
        let msg = "the empty string cannot be a key (a natural string key is never empty)";
        return Err(Error::new(ErrorKind::InvalidKey, msg).with_model(model.name));
    }
    if !key.fits(model.key.kind) {
        let key = key.to_string();
        let key = short(&key);
        let msg = format!("key {key} cannot be a key of this model (its keys are {:?})", model.key.kind);
        return Err(Error::new(ErrorKind::InvalidKey, msg).with_model(model.name));
    }
    Ok(key)
}

pub(crate) fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Decode, msg.into())
}

/// The error with the line first: "dump line 3: Post (key 7): ...".
pub(crate) fn at_line(line: usize, e: Error) -> Error {
    Error::new(e.kind(), format!("dump line {line}: {e}"))
}

pub(crate) fn io(doing: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::new(ErrorKind::Storage, format!("I/O error {doing}")).with_source(e)
}
