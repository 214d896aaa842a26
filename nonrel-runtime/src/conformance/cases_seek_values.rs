//! Documents as sort values and cursor positions, in MongoDB's documented order: two
//! documents compare pair by pair, by the type of the value, then the field name, then the
//! value, and a document with further pairs sorts after one without. A list sorts by its
//! smallest element ascending and its largest descending, an empty list before null and
//! missing values. Every way of reading a result, pages forward and backward included, agrees
//! with an order written out here by hand from those rules.
#![allow(missing_docs)]

use super::cases_order::check_with_pages;
use crate::plan::Order;
use crate::{Backend, Database, KeyValue, Query, Value};
use std::collections::BTreeMap;

/// A record sorted by a dynamic value, and by the same value under a map key (absent where
/// the value is null, so the path is missing there).
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_seek_shelves")]
pub struct Shelf {
    #[field(key)]
    pub id: i64,
    pub v: Value,
    /// The same value, indexed.
    #[field(index)]
    pub vi: Value,
    pub m: BTreeMap<String, Value>,
    /// The key again, to filter on.
    pub n: i64,
}

fn doc(fields: &[(&str, Value)]) -> Value {
    Value::Document(fields.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect())
}

fn int(n: i64) -> Value {
    Value::Int64(n)
}

/// Every value a record can sort by, ascending as MongoDB documents it, each distinct. Empty
/// lists and null or missing values come first; they are placed by [`position`].
fn ladder() -> Vec<Value> {
    let s = |t: &str| Value::String(t.into());
    vec![
        int(5),
        s("z"),
        doc(&[]),
        // A null value is below every number, whatever the field names.
        doc(&[("z", Value::Null)]),
        doc(&[("$ne", int(8))]),
        doc(&[("a", Value::Int32(-1))]),
        doc(&[("a", int(7))]),
        doc(&[("a", int(7)), ("$b", int(0))]),
        doc(&[("a", int(7)), ("b", int(0))]),
        doc(&[("a", s("x"))]),
        doc(&[("$a", doc(&[("b", int(1))]))]),
        doc(&[("a", doc(&[]))]),
        doc(&[("a", doc(&[("$ne", int(7))]))]),
        doc(&[("a", doc(&[("a", int(7))]))]),
        doc(&[("a", Value::Array(Vec::new()))]),
        doc(&[("a", Value::Array(vec![doc(&[("$gt", int(0))])]))]),
        doc(&[("a", Value::Array(vec![doc(&[("$gt", int(1))])]))]),
        doc(&[("a", Value::Array(vec![doc(&[("$gt", int(1))]), Value::Null]))]),
        doc(&[("a", Value::Bool(false))]),
        doc(&[("b", Value::Bool(false))]),
        Value::Bool(true),
    ]
}

/// Where a value sorts among the others: an empty list, then null (and missing values), then
/// the ladder.
fn position(v: &Value) -> usize {
    match v {
        Value::Array(items) if items.is_empty() => 0,
        Value::Null => 1,
        v => 2 + ladder().iter().position(|l| l == v).unwrap_or_else(|| panic!("{v:?} is on the ladder")),
    }
}

/// The position a record sorts at: a list by its smallest element ascending and its largest
/// descending (an empty list by itself).
fn sort_position(v: &Value, descending: bool) -> usize {
    match v {
        Value::Array(items) if !items.is_empty() => {
            let each = items.iter().map(position);
            if descending { each.max() } else { each.min() }.unwrap_or(0)
        }
        v => position(v),
    }
}

/// The values the records hold: each ladder value (documents twice, for ties), lists of
/// documents whose smallest and largest elements differ by field names and types, empty
/// lists and nulls.
fn values() -> Vec<Value> {
    let ladder = ladder();
    let mut out = ladder.clone();
    out.extend(ladder.iter().filter(|v| matches!(v, Value::Document(_))).cloned());
    let at = |i: usize| ladder[i].clone();
    let lists = [
        vec![at(6), at(4)],
        vec![at(9), at(3)],
        vec![at(12), at(10), at(5)],
        vec![at(16), at(15)],
        vec![at(6), Value::Null],
        vec![at(0), at(4)],
        vec![at(19), at(2)],
        vec![at(8), at(7)],
        vec![at(13)],
    ];
    out.extend(lists.into_iter().map(Value::Array));
    out.extend([Value::Array(Vec::new()), Value::Array(Vec::new()), Value::Null, Value::Null, Value::Null]);
    out
}

fn shelves() -> Vec<Shelf> {
    let values = values();
    let n = values.len() as i64;
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            // Keys in an order unrelated to the values.
            let id = (i as i64 * 17) % n - n / 2;
            let m = if v == Value::Null { BTreeMap::new() } else { BTreeMap::from([("k".to_string(), v.clone())]) };
            Shelf { id, vi: v.clone(), v, m, n: id }
        })
        .collect()
}

fn expected(shelves: &[Shelf], descending: bool, keep: impl Fn(&Shelf) -> bool) -> Vec<KeyValue> {
    let mut kept: Vec<&Shelf> = shelves.iter().filter(|s| keep(s)).collect();
    kept.sort_by_key(|s| {
        let p = sort_position(&s.v, descending);
        (if descending { usize::MAX - p } else { p }, s.id)
    });
    kept.iter().map(|s| KeyValue::Int(s.id)).collect()
}

/// Ordering by a `Value` holding documents (with `$` keys, nested documents and lists),
/// lists of documents, empty lists, nulls and missing values, ascending and descending,
/// with and without a filter: results, windows and pages of several sizes walked forward and
/// backward follow MongoDB's documented order.
pub async fn documents_sort_and_page_in_mongodb_order<B: Backend>(db: &Database<B>) {
    let mut all = shelves();
    db.save_many(&mut all).await.expect("seed");
    let ids: Vec<i64> = all.iter().map(|s| s.id).collect();
    let low = ids[ids.len() / 3];
    type By = fn(bool) -> Order<Shelf>;
    let orders: [(&str, By); 2] = [
        ("v", |d| if d { Shelf::v().desc() } else { Shelf::v().asc() }),
        ("m.k", |d| if d { Shelf::m().get("k").desc() } else { Shelf::m().get("k").asc() }),
    ];
    for (name, by) in orders {
        for descending in [false, true] {
            let what = format!("{name} {}", if descending { "desc" } else { "asc" });
            let query = Query::<Shelf>::new().order_by(by(descending));
            check_with_pages(db, &what, &query, &expected(&all, descending, |_| true), &[1, 4]).await;
            let filtered = query.filter(Shelf::n().gt(low));
            let want = expected(&all, descending, |s| s.id > low);
            check_with_pages(db, &format!("{what}, n > {low}"), &filtered, &want, &[3]).await;
        }
    }
}

/// `gt` and `lt` on a document operand follow the same order: a record matches when its
/// value (or, for a list, one of its elements) is a document past the operand.
pub async fn document_ranges_follow_mongodb_order<B: Backend>(db: &Database<B>) {
    let mut all = shelves();
    db.save_many(&mut all).await.expect("seed");
    let documents: Vec<Value> = ladder().into_iter().filter(|v| matches!(v, Value::Document(_))).collect();
    let elements = |v: &Value| match v {
        Value::Array(items) => items.clone(),
        v => vec![v.clone()],
    };
    for d in documents {
        let at = position(&d);
        for above in [true, false] {
            let past =
                |e: &Value| matches!(e, Value::Document(_)) && if above { position(e) > at } else { position(e) < at };
            let mut want: Vec<i64> = all.iter().filter(|s| elements(&s.v).iter().any(past)).map(|s| s.id).collect();
            want.sort_unstable();
            let conditions = if above {
                [Shelf::v().gt(d.clone()), Shelf::vi().gt(d.clone())]
            } else {
                [Shelf::v().lt(d.clone()), Shelf::vi().lt(d.clone())]
            };
            for (c, name) in conditions.into_iter().zip(["v", "vi"]) {
                let rows = db.query::<Shelf>().filter(c).all().await.expect("range");
                let mut got: Vec<i64> = rows.iter().map(|s| s.id).collect();
                got.sort_unstable();
                assert_eq!(got, want, "{name} {} {d:?}", if above { "gt" } else { "lt" });
            }
        }
    }
}
