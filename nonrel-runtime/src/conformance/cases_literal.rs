//! User values are literal on every backend: documents whose keys look like operators,
//! regular expressions as values, text needles holding regex syntax, NUL and newlines, and
//! map keys a lookup could not read back (refused when saved and when looked up).
#![allow(missing_docs)]

use crate::backend::capability::Runs;
use crate::engine::lookup::{kinds, Emulated};
use crate::{Backend, Condition, Database, ErrorKind, Query, Value};
use std::collections::{BTreeMap, HashMap};

/// A labelled value inside a list of embedded models.
#[derive(crate::Embedded, Debug, Clone, PartialEq)]
pub struct Slot {
    pub label: String,
    pub data: Value,
}

/// A record holding user values in every position a condition or an update reaches.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_literal_probes")]
pub struct Probe {
    #[field(key)]
    pub id: i64,
    /// Any value: documents, lists, a regular expression, scalars.
    pub data: Value,
    /// Always a document (ordered and ranged on).
    pub doc: Value,
    pub items: Vec<Value>,
    pub attrs: BTreeMap<String, Value>,
    pub hashed: HashMap<String, i64>,
    pub slots: Vec<Slot>,
    pub note: String,
    /// The key again, to filter updates on.
    pub n: i64,
}

fn doc(fields: &[(&str, Value)]) -> Value {
    Value::Document(fields.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect())
}

fn regex(pattern: &str) -> Value {
    let mut bytes = pattern.as_bytes().to_vec();
    bytes.extend_from_slice(b"\0\0");
    Value::Raw(0x0B, bytes)
}

/// Documents that would act as operators if sent bare, nested and in lists.
fn operator_documents() -> Vec<Value> {
    let n = Value::Int64(7);
    vec![
        doc(&[("$ne", n.clone())]),
        doc(&[("$exists", Value::Bool(true))]),
        doc(&[("$gt", Value::Null)]),
        doc(&[("$gte", Value::Int64(i64::MIN))]),
        doc(&[("$where", Value::String("return true".into()))]),
        doc(&[("$expr", Value::Bool(true))]),
        doc(&[("$regex", Value::String(".*".into())), ("$options", Value::String("s".into()))]),
        doc(&[("$in", Value::Array(vec![n.clone(), Value::String("x".into())]))]),
        doc(&[("$type", Value::String("object".into()))]),
        doc(&[("$eq", n.clone())]),
        doc(&[("$not", doc(&[("$eq", Value::Int64(0))]))]),
        doc(&[("$elemMatch", doc(&[("$exists", Value::Bool(true))]))]),
        doc(&[("a", doc(&[("$ne", n.clone())]))]),
        doc(&[("a", Value::Array(vec![doc(&[("$gt", Value::Int64(0))])]))]),
        doc(&[("$ne", Value::Int64(8))]),
        doc(&[("a", n)]),
    ]
}

/// Every probe value: the operator documents, a list of them, a regular expression, and
/// plain values they must not match.
fn probes() -> Vec<Value> {
    let mut out = operator_documents();
    out.push(Value::Array(vec![doc(&[("$ne", Value::Int64(7))])]));
    out.push(regex(".*"));
    out.push(Value::Int64(7));
    out.push(Value::String("x".into()));
    out
}

/// Records holding each probe (each document twice, for ties), under key `i + 1`.
fn records() -> Vec<Probe> {
    let docs = operator_documents();
    probes()
        .into_iter()
        .chain(docs.iter().take(4).cloned())
        .enumerate()
        .map(|(i, data)| {
            let id = i as i64 + 1;
            let d = docs[i % docs.len()].clone();
            Probe {
                id,
                data: data.clone(),
                doc: d.clone(),
                items: vec![d.clone(), Value::Int64(id)],
                attrs: BTreeMap::from([("k".to_string(), data.clone()), ("n".to_string(), Value::Int64(id))]),
                hashed: HashMap::from([("h".to_string(), id)]),
                slots: vec![Slot { label: format!("s{id}"), data: d }],
                note: String::new(),
                n: id,
            }
        })
        .collect()
}

/// MongoDB's equality on a stored value: the value, or for a list, one of its elements.
fn equal(stored: &Value, probe: &Value) -> bool {
    stored == probe || matches!(stored, Value::Array(items) if items.contains(probe))
}

async fn ids<B: Backend>(db: &Database<B>, c: Condition<Probe>) -> Vec<i64> {
    let mut ids: Vec<i64> = db.query::<Probe>().filter(c).all().await.expect("query").iter().map(|p| p.id).collect();
    ids.sort_unstable();
    ids
}

fn expected(all: &[Probe], keep: impl Fn(&Probe) -> bool) -> Vec<i64> {
    all.iter().filter(|p| keep(p)).map(|p| p.id).collect()
}

/// Documents of `$` keys, lists of them and regular expressions in `exact`, `ne`, `in`,
/// ranges, list `contains`, map lookups and `elem_match` match exactly the records holding
/// that value, as stored.
pub async fn operator_like_values_are_literal<B: Backend>(db: &Database<B>) {
    let mut all = records();
    db.save_many(&mut all).await.expect("documents of $ keys are stored");
    for p in &all {
        assert_eq!(db.get::<Probe>(p.id).await.unwrap().as_ref(), Some(p), "stored literally");
    }
    for probe in probes() {
        let same = |s: &Value| equal(s, &probe);
        let eq = expected(&all, |p| same(&p.data));
        assert_eq!(ids(db, Probe::data().eq(probe.clone())).await, eq, "exact {probe:?}");
        assert_eq!(ids(db, Probe::data().ne(probe.clone())).await, expected(&all, |p| !same(&p.data)), "ne {probe:?}");
        let among = vec![probe.clone(), Value::String("absent".into())];
        assert_eq!(ids(db, Probe::data().is_in(among)).await, eq, "in {probe:?}");
        let k = Probe::attrs().get("k").eq(probe.clone());
        assert_eq!(ids(db, k).await, expected(&all, |p| same(&p.attrs["k"])), "map value {probe:?}");
        let has = expected(&all, |p| p.items.contains(&probe));
        assert_eq!(ids(db, Probe::items().contains(probe.clone())).await, has, "list contains {probe:?}");
        let slot = Probe::slots().elem_match(|s| [s.data().eq(probe.clone())]);
        let in_slot = expected(&all, |p| p.slots.iter().any(|s| same(&s.data)));
        assert_eq!(ids(db, slot).await, in_slot, "elem_match {probe:?}");
        let filtered = db.query::<Probe>().filter(Probe::data().eq(probe.clone())).count().await.unwrap();
        assert_eq!(filtered, eq.len() as u64, "count {probe:?}");
    }
    for d in operator_documents() {
        let eq = expected(&all, |p| p.doc == d);
        assert_eq!(ids(db, Probe::doc().range(d.clone(), d.clone())).await, eq, "range {d:?}");
        let above = ids(db, Probe::doc().gt(d.clone())).await;
        let below = ids(db, Probe::doc().lt(d.clone())).await;
        let mut parts = [above.clone(), below.clone(), eq.clone()].concat();
        parts.sort_unstable();
        assert_eq!(parts, expected(&all, |_| true), "gt, lt and equal partition the documents: {d:?}");
        assert!(above.iter().chain(&below).all(|id| !eq.contains(id)), "gt/lt exclude the equal ones: {d:?}");
        let mut gte = [above, eq.clone()].concat();
        gte.sort_unstable();
        assert_eq!(ids(db, Probe::doc().gte(d.clone())).await, gte, "gte {d:?}");
    }
    let whole = all[0].attrs.clone();
    assert_eq!(ids(db, Probe::attrs().eq(whole.clone())).await, expected(&all, |p| p.attrs == whole), "whole map");
    // Cursor positions on documents of `$` keys: the pages are the query's rows.
    let query = Query::<Probe>::new().order_by(Probe::doc().asc());
    let rows: Vec<i64> = db.query::<Probe>().with(query.clone()).all().await.unwrap().iter().map(|p| p.id).collect();
    let mut walked = Vec::new();
    let mut page = db.query::<Probe>().with(query.clone()).page(2).await.expect("first page");
    loop {
        walked.extend(page.items.iter().map(|p| p.id));
        assert!(walked.len() <= rows.len(), "pages end");
        let Some(next) = page.next.clone() else { break };
        page = db.query::<Probe>().with(query.clone()).page(2).after(next).await.expect("page");
    }
    assert_eq!(walked, rows, "pages ordered by documents of $ keys");
}

/// Updates store documents of `$` keys literally (`set`, `push`), `pull` removes exactly the
/// equal elements, and a filter holding such a document updates exactly its records.
pub async fn updates_store_operator_like_values_literally<B: Backend>(db: &Database<B>) {
    let mut all = records();
    db.save_many(&mut all).await.unwrap();
    let count = probes().len();
    for (i, probe) in probes().into_iter().enumerate() {
        // Each probe goes to the next record, so `set` changes what it holds.
        let at = (i + 1) % count;
        let id = at as i64 + 1;
        let one = || db.query::<Probe>().filter(Probe::n().eq(id));
        one().update().set(Probe::data(), probe.clone()).await.expect("set");
        one().update().push(Probe::items(), probe.clone()).await.expect("push");
        let p = db.get::<Probe>(id).await.unwrap().unwrap();
        assert_eq!(p.data, probe, "set stores {probe:?}");
        assert_eq!(p.items.last(), Some(&probe), "push stores {probe:?}");
        one().update().pull(Probe::items(), probe.clone()).await.expect("pull");
        let p = db.get::<Probe>(id).await.unwrap().unwrap();
        assert!(!p.items.contains(&probe), "pull removes {probe:?}");
        let mut kept = all[at].items.clone();
        kept.retain(|v| v != &probe);
        assert_eq!(p.items, kept, "pull removes only the equal elements of {probe:?}");
    }
    let all: Vec<Probe> = db.query::<Probe>().all().await.unwrap();
    for d in operator_documents() {
        let matching = expected(&all, |p| equal(&p.data, &d));
        let q = db.query::<Probe>().filter(Probe::data().eq(d.clone()));
        let done = q.update().set(Probe::note(), "hit").await.unwrap();
        assert_eq!(done.matched, matching.len() as u64, "update filtered on {d:?}");
        assert_eq!(ids(db, Probe::note().eq("hit")).await, matching, "updated records for {d:?}");
        db.query::<Probe>().update().set(Probe::note(), "").await.unwrap();
    }
}

/// Text whose lookups are declared (answered through index fields on every backend).
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_literal_passages")]
pub struct Passage {
    #[field(key)]
    pub id: i64,
    #[field(index(iexact, istartswith, endswith))]
    pub text: String,
}

/// Needles and texts: every ASCII punctuation character, NUL, newlines, other control
/// characters and non-ASCII text.
fn needles() -> Vec<String> {
    let punctuation: Vec<String> =
        (0x21u8..0x7f).filter(|b| b.is_ascii_punctuation()).map(|b| (b as char).to_string()).collect();
    let mut out: Vec<String> = [
        "", "\0", "a\0b", "ab", "AB", "\n", "ab\n", "a\nb", "\r\n", "a.b", "a.*", ".*", "^a", "b$", "(a|b)", "[a-z]+",
        "\\", "\\0", "\\x00", "\\z", "$", "é", "É", "日本", "ü€", "\u{1}", "\t", " ", "{1,2}", "a?", "/a/", "#",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    out.extend(punctuation.iter().cloned());
    out.push(punctuation.concat());
    out
}

fn texts() -> Vec<String> {
    let mut out = needles();
    out.extend(["axb", "a\0", "ab\n\n", "xab", "abab", "Ab", "éa", "aé", "a\\0b"].iter().map(|s| s.to_string()));
    out.sort();
    out.dedup();
    out
}

/// A backend running the lookups [`Passage`] declares.
pub trait RunsPassageLookups:
    Backend
    + Runs<Emulated<kinds::iexact, Passage_fields::text>>
    + Runs<Emulated<kinds::istartswith, Passage_fields::text>>
    + Runs<Emulated<kinds::endswith, Passage_fields::text>>
{
}

impl<B> RunsPassageLookups for B where
    B: Backend
        + Runs<Emulated<kinds::iexact, Passage_fields::text>>
        + Runs<Emulated<kinds::istartswith, Passage_fields::text>>
        + Runs<Emulated<kinds::endswith, Passage_fields::text>>
{
}

async fn passages<B: Backend + Runs<R>, R>(db: &Database<B>, c: Condition<Passage, R>) -> Vec<i64> {
    let mut ids: Vec<i64> =
        db.query::<Passage>().filter(c).all().await.expect("text lookup").iter().map(|p| p.id).collect();
    ids.sort_unstable();
    ids
}

/// `startswith`, `contains`, `exact` and the declared `iexact`, `istartswith` and `endswith`
/// read every needle literally: regex syntax, NUL, newlines and non-ASCII text included.
pub async fn text_needles_are_literal<B: RunsPassageLookups>(db: &Database<B>) {
    let texts = texts();
    let mut all: Vec<Passage> =
        texts.iter().enumerate().map(|(i, t)| Passage { id: i as i64 + 1, text: t.clone() }).collect();
    db.save_many(&mut all).await.unwrap();
    let which =
        |keep: &dyn Fn(&str) -> bool| -> Vec<i64> { all.iter().filter(|p| keep(&p.text)).map(|p| p.id).collect() };
    let lower = |s: &str| s.to_lowercase();
    for n in needles() {
        let t = Passage::text;
        assert_eq!(passages(db, t().startswith(n.clone())).await, which(&|s| s.starts_with(&n)), "startswith {n:?}");
        assert_eq!(passages(db, t().contains(n.clone())).await, which(&|s| s.contains(&n)), "contains {n:?}");
        assert_eq!(passages(db, t().eq(n.clone())).await, which(&|s| s == n), "exact {n:?}");
        assert_eq!(passages(db, t().endswith(n.clone())).await, which(&|s| s.ends_with(&n)), "endswith {n:?}");
        let iexact = which(&|s| lower(s) == lower(&n));
        assert_eq!(passages(db, t().iexact(n.clone())).await, iexact, "iexact {n:?}");
        let istarts = which(&|s| lower(s).starts_with(&lower(&n)));
        assert_eq!(passages(db, t().istartswith(n.clone())).await, istarts, "istartswith {n:?}");
    }
}

/// Keys no map can store: empty, with `.` or NUL, or starting with `$`.
const BAD_KEYS: [&str; 8] = ["a.b", ".", "$ne", "$", "", "a\0b", "$where", "x.$gt"];

/// A map key that a lookup could not read back is refused when saved (naming the model, the
/// field and the key, writing nothing) and when looked up; other keys round-trip and are
/// found.
pub async fn unreadable_map_keys_are_refused<B: Backend>(db: &Database<B>) {
    let base = records().remove(0);
    for key in BAD_KEYS {
        let mut p = Probe { id: 500, ..base.clone() };
        p.attrs.insert(key.to_string(), Value::Int64(1));
        let err = db.save(&mut p).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encode, "{key:?}: {err}");
        assert_eq!((err.model(), err.field()), (Some("Probe"), Some("attrs")), "{key:?}: {err}");
        assert!(err.to_string().contains(&format!("{key:?}")), "the key is named: {err}");
        let mut h = Probe { id: 501, ..base.clone() };
        h.hashed.insert(key.to_string(), 1);
        let mut batch = vec![Probe { id: 502, ..base.clone() }, h];
        let err = db.save_many(&mut batch).await.unwrap_err();
        assert_eq!((err.kind(), err.field()), (ErrorKind::Encode, Some("hashed")), "{key:?}: {err}");
        for id in [500, 501, 502] {
            assert_eq!(db.get::<Probe>(id).await.unwrap(), None, "nothing written for {key:?}");
        }
        let mut bad = BTreeMap::new();
        bad.insert(key.to_string(), Value::Int64(1));
        let err = db.query::<Probe>().update().set(Probe::attrs(), bad.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encode, "{key:?}: {err}");
        let err = db.query::<Probe>().filter(Probe::attrs().eq(bad)).all().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encode, "{key:?}: {err}");
        let json = format!(
            r#"{{"_id": 9, "data": null, "doc": {{}}, "note": "", "n": 9, "attrs": {{{}: 1}}}}"#,
            json_str(key)
        );
        let err = crate::schema::json::from_json::<Probe>(&json).expect_err("from_json refuses the key");
        assert_eq!(err.model(), Some("Probe"), "{key:?}: {err}");
        if !key.contains('\0') {
            // (A NUL key is refused by the JSON reader itself, which cannot write it.)
            assert_eq!((err.kind(), err.field()), (ErrorKind::Decode, Some("attrs")), "{key:?}: {err}");
            assert!(err.to_string().contains(&format!("{key:?}")), "the key is named: {err}");
        }
    }
    db.save(&mut base.clone()).await.unwrap();
    for key in BAD_KEYS {
        let lookups = [
            db.query::<Probe>().filter(Probe::attrs().get(key).eq(Value::Int64(1))).all().await.map(|_| ()),
            db.query::<Probe>().filter(Probe::hashed().get(key).gt(0)).count().await.map(|_| ()),
            db.query::<Probe>().order_by(Probe::attrs().get(key).asc()).all().await.map(|_| ()),
            db.query::<Probe>().update().set(Probe::hashed().get(key), 1).await.map(|_| ()),
        ];
        for (i, r) in lookups.into_iter().enumerate() {
            let err = r.expect_err("a lookup by an unreadable key is an error");
            assert_eq!(err.kind(), ErrorKind::Encode, "{key:?} #{i}: {err}");
            assert_eq!(err.model(), Some("Probe"), "{key:?} #{i}: {err}");
            assert!(matches!(err.field(), Some("attrs" | "hashed")), "{key:?} #{i}: {err}");
            assert!(err.to_string().contains(&format!("{key:?}")), "the key is named: {err}");
        }
    }
    let odd = ["a b", "a$", "é", "-", "a/b", "a\\b", "\n", "A"];
    let mut p = Probe { id: 600, ..base.clone() };
    for (i, key) in odd.iter().enumerate() {
        p.attrs.insert(key.to_string(), Value::Int64(100 + i as i64));
    }
    db.save(&mut p).await.unwrap();
    assert_eq!(db.get::<Probe>(600).await.unwrap().as_ref(), Some(&p));
    for (i, key) in odd.iter().enumerate() {
        let found = ids(db, Probe::attrs().get(key).eq(Value::Int64(100 + i as i64))).await;
        assert_eq!(found, [600], "found by {key:?}");
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::new();
    crate::schema::json::write_json_str(s, &mut out);
    out
}
