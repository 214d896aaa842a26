//! Lookups from the command line, as an untyped plan: `field=value` and
//! `field__lookup=value`. A value is JSON when it parses as JSON (`10`, `true`, `"10"`,
//! `["a","b"]`, `{"$date": "2024-05-01T00:00:00Z"}`), else the text as written; it is always
//! a literal, never an operator or a path.

use crate::cli::Exit;
use crate::target::Failure;
use nonrel_runtime::query::{Direction, Filter, Op, OrderBy, Plan};
use nonrel_runtime::{ModelDesc, Value};

/// The lookups a command line may use.
const LOOKUPS: &str = "exact, ne, gt, gte, lt, lte, in, range, isnull, startswith, contains";

/// The model named by its Rust name or its collection.
pub(crate) fn model(name: &str) -> Result<&'static ModelDesc, Failure> {
    let mut models: Vec<&'static ModelDesc> = nonrel_runtime::registered_models().collect();
    models.sort_by_key(|m| (m.collection, m.name));
    if let Some(m) = models.iter().find(|m| m.name == name).or_else(|| models.iter().find(|m| m.collection == name)) {
        return Ok(m);
    }
    let known: Vec<&str> = models.iter().map(|m| m.name).collect();
    Err(Failure::new(Exit::Usage, format!("no model is named {name:?} (models: {})", known.join(", "))))
}

/// A plan of every lookup (all must hold), ordered and limited as asked.
pub(crate) fn plan(
    m: &'static ModelDesc,
    lookups: &[String],
    order: Option<&str>,
    limit: Option<usize>,
) -> Result<Plan, Failure> {
    let filters = lookups.iter().map(|l| filter(m, l)).collect::<Result<_, _>>()?;
    let order = match order {
        Some(o) => {
            let (path, direction) = match o.strip_prefix('-') {
                Some(p) => (p, Direction::Desc),
                None => (o, Direction::Asc),
            };
            vec![OrderBy { path: stored_path(m, path)?.into(), direction }]
        }
        None => Vec::new(),
    };
    Ok(Plan { filters, order, limit, ..Plan::default() })
}

fn usage(message: String) -> Failure {
    Failure::new(Exit::Usage, message)
}

fn filter(m: &'static ModelDesc, lookup: &str) -> Result<Filter, Failure> {
    let (left, text) = lookup
        .split_once('=')
        .ok_or_else(|| usage(format!("{lookup:?} is not a lookup: write field=value or field__lookup=value")))?;
    let (field, name) = left.rsplit_once("__").unwrap_or((left, "exact"));
    let path = stored_path(m, field)?;
    let value = literal(text);
    let bad = |what: &str| usage(format!("{}.{field}__{name}: {} {what}", m.name, shown(text)));
    let op = match name {
        "exact" | "eq" => Op::Eq(value),
        "ne" => Op::Ne(value),
        "gt" => Op::Gt(value),
        "gte" => Op::Gte(value),
        "lt" => Op::Lt(value),
        "lte" => Op::Lte(value),
        "in" => match value {
            Value::Array(items) => Op::In(items),
            _ => return Err(bad("is not a JSON list")),
        },
        "range" => match value {
            Value::Array(items) if items.len() == 2 => {
                let mut items = items.into_iter();
                Op::Range(items.next().unwrap_or(Value::Null), items.next().unwrap_or(Value::Null))
            }
            _ => return Err(bad("is not a JSON list of two values")),
        },
        "isnull" => match value {
            Value::Bool(b) => Op::IsNull(b),
            _ => return Err(bad("is neither true nor false")),
        },
        "startswith" => Op::StartsWith(text.to_owned()),
        "contains" if is_list(m, &path) => Op::Has(value),
        "contains" => Op::Contains(text.to_owned()),
        other => return Err(usage(format!("{}.{field}: no lookup is named {other:?} (lookups: {LOOKUPS})", m.name))),
    };
    Ok(Filter { path: path.into(), op })
}

/// The value as JSON when it parses, else the text itself.
fn literal(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn shown(text: &str) -> String {
    let cut: String = text.chars().take(60).collect();
    if cut.len() < text.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

/// The stored path of a dotted path whose first part is a field's Rust or stored name (or
/// the key's); the parts below it are taken as written.
fn stored_path(m: &'static ModelDesc, path: &str) -> Result<String, Failure> {
    let (first, rest) = path.split_once('.').map_or((path, None), |(f, r)| (f, Some(r)));
    let stored = if first == "_id" || first == m.key.field {
        "_id"
    } else if let Some(f) = m.fields.iter().find(|f| f.rust_name == first || f.name == first) {
        f.name
    } else {
        let names: Vec<&str> = m.fields.iter().map(|f| f.rust_name).collect();
        return Err(usage(format!(
            "{} has no field {first:?} (fields: {}, {})",
            m.name,
            m.key.field,
            names.join(", ")
        )));
    };
    Ok(match rest {
        Some(rest) => format!("{stored}.{rest}"),
        None => stored.to_owned(),
    })
}

/// Whether a top-level field holds a list (so `contains` looks for an element).
fn is_list(m: &'static ModelDesc, path: &str) -> bool {
    let lists = ["Vec<", "VecDeque<", "HashSet<", "BTreeSet<"];
    m.fields.iter().any(|f| f.name == path && lists.iter().any(|l| f.ty.replace(' ', "").starts_with(l)))
}
