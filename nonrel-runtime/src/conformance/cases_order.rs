//! Result order: without `order_by` results come in key order, and ties on an ordering are
//! broken by the key, whichever index serves the filters; every way of reading a result
//! (`all`, `first`, `limit`/`offset` windows, counts, pages forward and backward) agrees with
//! the order an oracle computes here. Numbers compare as MongoDB compares them: −0.0 equals
//! 0.0, NaN equals NaN and sorts below every number.
#![allow(missing_docs)]

use crate::conformance::Rng;
use crate::{Backend, Database, Key, KeyValue, Model, ObjectId, Query};
use std::cmp::Ordering;

/// A part of an item (a list of embedded models, indexed by name).
#[derive(crate::Embedded, Debug, Clone, PartialEq)]
pub struct Part {
    pub name: String,
    pub size: i64,
}

/// An item with a natural key (negative ones too), indexes with many ties and lists.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_order_items", index = "parts.name")]
pub struct Item {
    #[field(key)]
    pub id: i64,
    #[field(index)]
    pub group: i64,
    /// The same values as `group`, without an index.
    pub group_plain: i64,
    #[field(index(covering))]
    pub label: String,
    #[field(index)]
    pub tags: Vec<String>,
    pub parts: Vec<Part>,
}

/// A record with a natural string key.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_order_named")]
pub struct Named {
    #[field(key)]
    pub name: String,
    #[field(index)]
    pub bucket: i64,
}

/// A record with an automatic key, some given as ObjectIds.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_order_tokens")]
pub struct Token {
    #[field(key)]
    pub id: Option<Key<Token>>,
    #[field(index)]
    pub bucket: i64,
}

/// A measurement: the same double indexed and not.
#[derive(crate::Model, Debug, Clone)]
#[model(collection = "conf_order_readings")]
pub struct Reading {
    #[field(key)]
    pub id: i64,
    #[field(index)]
    pub x: f64,
    pub x_plain: f64,
}

fn key_of<M: Model>(m: &M) -> KeyValue {
    m.key_value().expect("a stored record has a key")
}

pub(super) fn keys_of<M: Model>(records: &[M]) -> Vec<KeyValue> {
    records.iter().map(key_of).collect()
}

/// Checks every way of reading `query` against the expected keys, in order.
async fn check<B: Backend, M: Model>(db: &Database<B>, what: &str, query: &Query<M>, expected: &[KeyValue]) {
    check_with_pages(db, what, query, expected, &[4, 9]).await;
}

/// [`check`], walking pages of each of these sizes.
pub(super) async fn check_with_pages<B: Backend, M: Model>(
    db: &Database<B>,
    what: &str,
    query: &Query<M>,
    expected: &[KeyValue],
    sizes: &[usize],
) {
    let q = || db.query::<M>().with(query.clone());
    assert_eq!(keys_of(&q().all().await.expect("all")), expected, "{what}: all");
    let first = q().first().await.expect("first").map(|m| key_of(&m));
    assert_eq!(first.as_ref(), expected.first(), "{what}: first");
    assert_eq!(q().count().await.expect("count"), expected.len() as u64, "{what}: count");
    let n = expected.len();
    for (offset, limit) in [(0, 1), (0, 5), (3, 7), (n / 2, 4), (n.saturating_sub(1), 3), (n + 2, 1), (0, 0), (1, n)] {
        let got = keys_of(&q().offset(offset).limit(limit).all().await.expect("window"));
        let want: Vec<KeyValue> = expected.iter().skip(offset).take(limit).cloned().collect();
        assert_eq!(got, want, "{what}: offset {offset}, limit {limit}");
        let counted = q().offset(offset).limit(limit).count().await.expect("count window");
        assert_eq!(counted, want.len() as u64, "{what}: count at offset {offset}, limit {limit}");
    }
    for &size in sizes {
        walk(db, what, query, size, expected).await;
    }
}

/// Walks the pages of a query forward, then backward from the last page, against the
/// expected keys.
async fn walk<B: Backend, M: Model>(
    db: &Database<B>,
    what: &str,
    query: &Query<M>,
    size: usize,
    expected: &[KeyValue],
) {
    let page = || db.query::<M>().with(query.clone()).page(size);
    let mut pages: Vec<Vec<KeyValue>> = Vec::new();
    let mut cursor: Option<String> = None;
    let last = loop {
        let p = match &cursor {
            None => page().await,
            Some(c) => page().after(c.clone()).await,
        }
        .expect("page");
        pages.push(keys_of(&p.items));
        assert!(pages.len() <= expected.len() + 1, "{what}: pages do not end");
        match p.next {
            Some(c) => cursor = Some(c),
            None => break p.prev,
        }
    };
    assert_eq!(pages.concat(), expected, "{what}: pages of {size} forward");
    let mut back = vec![pages.last().cloned().unwrap_or_default()];
    let mut cursor = last;
    while let Some(c) = cursor {
        let p = page().before(c).await.expect("page before");
        back.push(keys_of(&p.items));
        assert!(back.len() <= pages.len(), "{what}: backward pages do not end");
        cursor = p.prev;
    }
    back.reverse();
    assert_eq!(back.concat(), expected, "{what}: pages of {size} backward");
}

fn item(rng: &mut Rng, id: i64) -> Item {
    const NAMES: [&str; 6] = ["bolt", "nut", "bar", "axle", "band", "cog"];
    const LABELS: [&str; 5] = ["a", "ab", "abc", "b", "ba"];
    const TAGS: [&str; 4] = ["t1", "t2", "t3", "t4"];
    let group = rng.below_u64(4) as i64;
    let parts: Vec<Part> = (0..rng.below_u64(4))
        .map(|_| Part { name: NAMES[rng.below_u64(6) as usize].into(), size: rng.below_u64(9) as i64 })
        .collect();
    let tags: Vec<String> = (0..rng.below_u64(3)).map(|_| TAGS[rng.below_u64(4) as usize].to_string()).collect();
    Item { id, group, group_plain: group, label: LABELS[rng.below_u64(5) as usize].into(), tags, parts }
}

/// 77 items with distinct keys from −500 to 500, saved in an order unrelated to the keys.
async fn seed_items<B: Backend>(db: &Database<B>) -> Vec<Item> {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut ids: Vec<i64> = (-500..=500).collect();
    rng.shuffle(&mut ids);
    let mut items: Vec<Item> = ids[..77].iter().map(|&id| item(&mut rng, id)).collect();
    let (some, rest) = items.split_at_mut(40);
    db.save_many(some).await.expect("seed");
    for it in rest {
        db.save(it).await.expect("seed");
    }
    items
}

type Pred = fn(&Item) -> bool;

fn item_queries() -> Vec<(&'static str, Query<Item>, Pred)> {
    let q = Query::<Item>::new;
    vec![
        ("no filter", q(), |_| true),
        ("parts.name startswith \"\"", q().filter(Item::parts().name().startswith("")), |i| !i.parts.is_empty()),
        ("parts.name startswith b", q().filter(Item::parts().name().startswith("b")), |i| {
            i.parts.iter().any(|x| x.name.starts_with('b'))
        }),
        ("parts.name in", q().filter(Item::parts().name().is_in(["cog", "axle", "nut"])), |i| {
            i.parts.iter().any(|p| ["cog", "axle", "nut"].contains(&p.name.as_str()))
        }),
        ("tags contains", q().filter(Item::tags().contains("t2")), |i| i.tags.iter().any(|t| t == "t2")),
        ("group in", q().filter(Item::group().is_in([3i64, 1])), |i| i.group == 3 || i.group == 1),
        ("group range", q().filter(Item::group().range(1i64, 2i64)), |i| (1..=2).contains(&i.group)),
        ("group gt", q().filter(Item::group().gt(0i64)), |i| i.group > 0),
        ("group eq", q().filter(Item::group().eq(2i64)), |i| i.group == 2),
        ("group_plain eq", q().filter(Item::group_plain().eq(2i64)), |i| i.group_plain == 2),
        ("label startswith", q().filter(Item::label().startswith("a")), |i| i.label.starts_with('a')),
        ("label in", q().filter(Item::label().is_in(["ba", "abc", "a"])), |i| {
            ["ba", "abc", "a"].contains(&i.label.as_str())
        }),
        ("tags and group", q().filter(Item::tags().contains("t1")).filter(Item::group().gte(1i64)), |i| {
            i.tags.iter().any(|t| t == "t1") && i.group >= 1
        }),
    ]
}

/// Without `order_by`, every query gives its records in key order (negative keys first),
/// whichever index serves it: lists of embedded models, `in`, ranges, `startswith`.
pub async fn results_without_order_by_come_in_key_order<B: Backend>(db: &Database<B>) {
    let items = seed_items(db).await;
    for (what, query, pred) in item_queries() {
        let mut expected: Vec<i64> = items.iter().filter(|i| pred(i)).map(|i| i.id).collect();
        expected.sort();
        assert!(!expected.is_empty(), "{what}: the seed has matches");
        let expected: Vec<KeyValue> = expected.into_iter().map(KeyValue::Int).collect();
        check(db, what, &query, &expected).await;
    }
}

/// Ties on an ordering (few distinct values, many records each) are broken by the key, on
/// indexed and unindexed terms, ascending and descending, with index-served filters.
pub async fn ties_on_an_ordering_are_broken_by_key<B: Backend>(db: &Database<B>) {
    let items = seed_items(db).await;
    type Cmp = fn(&Item, &Item) -> Ordering;
    let group: Cmp = |a, b| a.group.cmp(&b.group);
    let group_desc: Cmp = |a, b| b.group.cmp(&a.group);
    let label: Cmp = |a, b| a.label.cmp(&b.label);
    let label_desc: Cmp = |a, b| b.label.cmp(&a.label);
    let group_desc_label: Cmp = |a, b| b.group.cmp(&a.group).then(a.label.cmp(&b.label));
    type By = fn(Query<Item>) -> Query<Item>;
    let orders: Vec<(&str, By, Cmp)> = vec![
        ("group asc", |q| q.order_by(Item::group().asc()), group),
        ("group desc", |q| q.order_by(Item::group().desc()), group_desc),
        ("group_plain desc", |q| q.order_by(Item::group_plain().desc()), group_desc),
        ("label asc", |q| q.order_by(Item::label().asc()), label),
        ("label desc", |q| q.order_by(Item::label().desc()), label_desc),
        ("group desc, label asc", |q| q.order_by(Item::group().desc()).order_by(Item::label().asc()), group_desc_label),
    ];
    let served = ["no filter", "parts.name startswith \"\"", "tags contains", "group in", "group range", "label in"];
    for (what, query, pred) in item_queries().into_iter().filter(|(w, ..)| served.contains(w)) {
        for (order, by, cmp) in &orders {
            let mut expected: Vec<&Item> = items.iter().filter(|i| pred(i)).collect();
            expected.sort_by(|a, b| cmp(a, b).then(a.id.cmp(&b.id)));
            let expected: Vec<KeyValue> = expected.into_iter().map(|i| KeyValue::Int(i.id)).collect();
            check_with_pages(db, &format!("{what}, by {order}"), &by(query.clone()), &expected, &[7]).await;
        }
    }
}

/// String keys order by their bytes and ObjectId keys by theirs, the same on every backend.
pub async fn string_and_object_id_keys_order_alike<B: Backend>(db: &Database<B>) {
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    let mut names: Vec<String> =
        ["b", "a", "ab", "B", "aa", "é", "ź", "~", "0", "10", "9", "a b", "Z", "zz", "ä", "a\u{7f}"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    names.extend((0..30).map(|_| format!("k{}", rng.below_u64(1000))));
    names.sort();
    names.dedup();
    rng.shuffle(&mut names);
    for (i, name) in names.iter().enumerate() {
        db.save(&mut Named { name: name.clone(), bucket: (i % 3) as i64 }).await.expect("save named");
    }
    let mut tokens: Vec<Token> = (0..30)
        .map(|i| {
            let mut bytes = [0u8; 12];
            bytes.iter_mut().for_each(|b| *b = rng.below_u64(256) as u8);
            Token { id: Some(Key::from_value(KeyValue::ObjectId(ObjectId::from_bytes(bytes)))), bucket: i % 3 }
        })
        .collect();
    tokens.extend((0..10).map(|i| Token { id: None, bucket: i % 3 }));
    db.save_many(&mut tokens).await.expect("save tokens");

    let named = |pred: fn(&Named) -> bool| {
        let mut keys: Vec<&String> = names.iter().filter(|n| pred(&Named { name: (*n).clone(), bucket: 0 })).collect();
        keys.sort();
        keys.into_iter().map(|n| KeyValue::Str(n.clone())).collect::<Vec<_>>()
    };
    check(db, "string keys", &Query::<Named>::new(), &named(|_| true)).await;
    let buckets: Vec<(usize, &String)> = names.iter().enumerate().collect();
    let mut in_bucket: Vec<KeyValue> =
        buckets.iter().filter(|(i, _)| i % 3 != 1).map(|(_, n)| KeyValue::Str((*n).clone())).collect();
    in_bucket.sort();
    check(db, "string keys, bucket in", &Query::new().filter(Named::bucket().is_in([0i64, 2])), &in_bucket).await;

    let mut all: Vec<KeyValue> = keys_of(&tokens);
    all.sort();
    check(db, "object id keys", &Query::<Token>::new(), &all).await;
    let mut in_bucket: Vec<KeyValue> = tokens.iter().filter(|t| t.bucket != 1).map(key_of).collect();
    in_bucket.sort();
    check(db, "object id keys, bucket in", &Query::new().filter(Token::bucket().is_in([2i64, 0])), &in_bucket).await;
}

/// MongoDB's comparison of doubles: −0.0 equals 0.0, NaN equals NaN and sorts below every
/// number.
fn mongo_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).expect("no NaN"),
    }
}

/// A range comparison as MongoDB matches it: NaN only meets NaN, and only where equality
/// is allowed.
fn mongo_range(x: f64, v: f64, ok: fn(Ordering) -> bool) -> bool {
    if x.is_nan() || v.is_nan() {
        return x.is_nan() && v.is_nan() && ok(Ordering::Equal);
    }
    ok(mongo_cmp(x, v))
}

type Field<F> = fn() -> crate::plan::Field<Reading, f64, F>;

/// A query named for messages, with the oracle of the records it matches.
type Case = (String, Query<Reading>, Box<dyn Fn(f64) -> bool>);

fn reading_queries<F>(field: Field<F>) -> Vec<Case> {
    let q = Query::<Reading>::new;
    let nan = f64::NAN;
    let (lt, le, gt, ge) = (Ordering::is_lt, Ordering::is_le, Ordering::is_gt, Ordering::is_ge);
    let mut out: Vec<Case> = Vec::new();
    for v in [0.0, -0.0, nan, 1.5, f64::NEG_INFINITY] {
        out.push((format!("eq {v:?}"), q().filter(field().eq(v)), Box::new(move |x| mongo_cmp(x, v).is_eq())));
        out.push((format!("ne {v:?}"), q().filter(field().ne(v)), Box::new(move |x| !mongo_cmp(x, v).is_eq())));
        out.push((format!("gt {v:?}"), q().filter(field().gt(v)), Box::new(move |x| mongo_range(x, v, gt))));
        out.push((format!("gte {v:?}"), q().filter(field().gte(v)), Box::new(move |x| mongo_range(x, v, ge))));
        out.push((format!("lt {v:?}"), q().filter(field().lt(v)), Box::new(move |x| mongo_range(x, v, lt))));
        out.push((format!("lte {v:?}"), q().filter(field().lte(v)), Box::new(move |x| mongo_range(x, v, le))));
    }
    let in_pred = |vs: [f64; 2]| move |x: f64| vs.iter().any(|&v| mongo_cmp(x, v).is_eq());
    out.push(("in [-0, 2]".into(), q().filter(field().is_in([-0.0, 2.0])), Box::new(in_pred([-0.0, 2.0]))));
    out.push(("in [NaN, 7]".into(), q().filter(field().is_in([nan, 7.0])), Box::new(in_pred([nan, 7.0]))));
    let ranges = [(-0.0, 0.0), (-1.5, -0.0), (0.0, 2.0), (2.0, 0.0), (nan, nan), (nan, 1.0), (1.0, nan)];
    for (lo, hi) in ranges.into_iter().chain([(f64::NEG_INFINITY, f64::INFINITY)]) {
        let pred = move |x: f64| mongo_range(x, lo, ge) && mongo_range(x, hi, le);
        out.push((format!("range {lo:?}..={hi:?}"), q().filter(field().range(lo, hi)), Box::new(pred)));
    }
    out
}

/// −0.0 and 0.0 are one value, and NaN one value below every number, in equality, `in`,
/// ranges and ordering (ties then by key), indexed or not, on every backend (MongoDB's
/// semantics).
pub async fn negative_zero_and_nan_compare_as_on_mongodb<B: Backend>(db: &Database<B>) {
    let mut rng = Rng::new(0x5851_f42d_4c95_7f2d);
    let values = [-0.0, 0.0, 1.5, -1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2.0, -2.0, 1e-9, -1e-9, 7.0];
    let mut ids: Vec<i64> = (-60..60).collect();
    rng.shuffle(&mut ids);
    let mut readings: Vec<Reading> = ids[..48]
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let x = if i % 5 == 4 { -f64::NAN } else { values[rng.below_u64(values.len() as u64) as usize] };
            Reading { id, x, x_plain: x }
        })
        .collect();
    db.save_many(&mut readings).await.expect("seed readings");
    check_readings(db, &readings, "x_plain", Reading::x_plain).await;
    check_readings(db, &readings, "x", Reading::x).await;
}

async fn check_readings<B: Backend, F>(db: &Database<B>, readings: &[Reading], name: &str, field: Field<F>) {
    for (what, query, pred) in reading_queries(field) {
        let mut expected: Vec<i64> = readings.iter().filter(|r| pred(r.x)).map(|r| r.id).collect();
        expected.sort();
        let expected: Vec<KeyValue> = expected.into_iter().map(KeyValue::Int).collect();
        let got = keys_of(&db.query::<Reading>().with(query.clone()).all().await.expect("all"));
        assert_eq!(got, expected, "{name} {what}: {:?}", readings.iter().map(|r| (r.id, r.x)).collect::<Vec<_>>());
        let count = db.query::<Reading>().with(query).count().await.expect("count");
        assert_eq!(count, expected.len() as u64, "{name} {what}: count");
    }
    for desc in [false, true] {
        let mut expected: Vec<&Reading> = readings.iter().collect();
        expected.sort_by(|a, b| {
            let c = mongo_cmp(a.x, b.x);
            if desc { c.reverse() } else { c }.then(a.id.cmp(&b.id))
        });
        let expected: Vec<KeyValue> = expected.into_iter().map(|r| KeyValue::Int(r.id)).collect();
        let order = if desc { field().desc() } else { field().asc() };
        check(db, &format!("order by {name} desc={desc}"), &Query::new().order_by(order), &expected).await;
    }
}
