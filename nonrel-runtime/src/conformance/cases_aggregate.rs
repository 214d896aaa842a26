//! Aggregates, distinct values and value projections: seeded random records, every answer
//! checked against an oracle computed here from the records themselves (MongoDB's `$group`
//! semantics: null and missing values skipped, integer sums exact, an overflow an error).
#![allow(missing_docs)]

use crate::aggregate::{Avg, Count, Max, Min, Sum};
use crate::conformance::models::User;
use crate::conformance::Rng;
use crate::query::Direction;
use crate::{Backend, Database, ErrorKind, Key, KeyValue, Query, Ref};
use std::collections::{BTreeMap, BTreeSet};

/// A record with fields of every kind an aggregate reads: an indexed text and integer, an
/// unindexed integer, an optional integer, a double and a `Ref`.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_agg_items")]
pub struct AggItem {
    #[field(key)]
    pub id: i64,
    #[field(index)]
    pub category: String,
    pub shelf: i32,
    #[field(index)]
    pub views: i64,
    pub qty: Option<i32>,
    pub price: f64,
    pub owner: Ref<User>,
}

const CATEGORIES: [&str; 5] = ["books", "games", "music", "tools", "toys"];
const OWNERS: [&str; 3] = ["ann", "bob", "cy"];

fn owner(name: &str) -> Ref<User> {
    Ref::new(Key::from_value(KeyValue::Str(name.into())))
}

fn item(rng: &mut Rng, id: i64) -> AggItem {
    AggItem {
        id,
        category: CATEGORIES[rng.below_u64(5) as usize].into(),
        shelf: rng.below_u64(4) as i32,
        views: rng.below_u64(2_000) as i64 - 500,
        qty: (rng.below_u64(4) != 0).then(|| rng.below_u64(50) as i32),
        // Quarters: every sum of them is exact, so every store adds them up alike.
        price: rng.below_u64(4_000) as f64 / 4.0,
        owner: owner(OWNERS[rng.below_u64(3) as usize]),
    }
}

async fn clear<B: Backend>(db: &Database<B>) {
    let ids: Vec<i64> = db.query::<AggItem>().values(AggItem::id()).await.unwrap();
    db.delete_many(ids.into_iter().map(|id| Key::<AggItem>::from_value(KeyValue::Int(id)))).await.unwrap();
}

/// A condition with the same meaning as a predicate on the records.
struct Case {
    name: String,
    query: Query<AggItem>,
    holds: Box<dyn Fn(&AggItem) -> bool + Send + Sync>,
}

fn cases(rng: &mut Rng) -> Vec<Case> {
    let cat = CATEGORIES[rng.below_u64(5) as usize];
    let views = rng.below_u64(2_000) as i64 - 500;
    let id = rng.below_u64(60) as i64;
    let shelves: Vec<i32> = (0..4).filter(|_| rng.below_u64(2) == 0).collect();
    let s2 = shelves.clone();
    vec![
        Case { name: "all".into(), query: Query::new(), holds: Box::new(|_| true) },
        Case {
            name: format!("category = {cat}"),
            query: Query::new().filter(AggItem::category().eq(cat)),
            holds: Box::new(move |i| i.category == cat),
        },
        Case {
            name: format!("views >= {views}"),
            query: Query::new().filter(AggItem::views().gte(views)),
            holds: Box::new(move |i| i.views >= views),
        },
        Case {
            name: format!("shelf in {shelves:?}"),
            query: Query::new().filter(AggItem::shelf().is_in(shelves)),
            holds: Box::new(move |i| s2.contains(&i.shelf)),
        },
        Case {
            name: format!("id > {id} and qty present"),
            query: Query::new().filter(AggItem::id().gt(id)).filter(AggItem::qty().isnull(false)),
            holds: Box::new(move |i| i.id > id && i.qty.is_some()),
        },
        Case {
            name: "nothing".into(),
            query: Query::new().filter(AggItem::category().eq("none")),
            holds: Box::new(|_| false),
        },
    ]
}

fn avg(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u64), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn int_avg(values: impl Iterator<Item = i64>) -> Option<f64> {
    let (sum, n) = values.fold((0i64, 0u64), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum as f64 / n as f64)
}

/// Count, sum, avg, min and max, alone and grouped (by a field, two fields and a `Ref`), with
/// filters (on indexed and unindexed fields and on the key), ordered by key or by an
/// aggregate, limited; distinct values and value tuples; all against the oracle.
pub async fn aggregates_agree_with_an_oracle<B: Backend>(db: &Database<B>) {
    for seed in 0..3u64 {
        let mut rng = Rng::new(seed ^ 0xA66);
        let n = 40 + rng.below_u64(30) as i64;
        let mut items: Vec<AggItem> = (0..n).map(|id| item(&mut rng, id)).collect();
        clear(db).await;
        db.save_many(&mut items).await.unwrap();
        for case in cases(&mut rng) {
            check_case(db, &items, &case, seed).await;
        }
    }
}

async fn check_case<B: Backend>(db: &Database<B>, items: &[AggItem], case: &Case, seed: u64) {
    let ctx = format!("seed {seed}, {}", case.name);
    let found: Vec<&AggItem> = items.iter().filter(|i| (case.holds)(i)).collect();
    let q = || db.query::<AggItem>().with(case.query.clone());

    // Ungrouped.
    let got = q()
        .aggregate((
            Count,
            Sum(AggItem::views()),
            Avg(AggItem::views()),
            Min(AggItem::views()),
            Max(AggItem::views()),
            Sum(AggItem::price()),
        ))
        .await
        .unwrap();
    let want = (
        found.len() as u64,
        found.iter().map(|i| i.views).sum::<i64>(),
        int_avg(found.iter().map(|i| i.views)),
        found.iter().map(|i| i.views).min(),
        found.iter().map(|i| i.views).max(),
        found.iter().map(|i| i.price).sum::<f64>(),
    );
    assert_eq!(got, want, "{ctx}: aggregate");
    let qtys = || found.iter().filter_map(|i| i.qty);
    assert_eq!(q().sum(AggItem::qty()).await.unwrap(), qtys().map(i64::from).sum::<i64>(), "{ctx}: sum of qty");
    assert_eq!(q().avg(AggItem::qty()).await.unwrap(), int_avg(qtys().map(i64::from)), "{ctx}: avg of qty");
    assert_eq!(q().min(AggItem::qty()).await.unwrap(), qtys().min(), "{ctx}: min of qty");
    assert_eq!(q().max(AggItem::category()).await.unwrap(), found.iter().map(|i| i.category.clone()).max());
    assert_eq!(q().avg(AggItem::price()).await.unwrap(), avg(found.iter().map(|i| i.price)), "{ctx}: avg of price");

    // Grouped by one field, in key order.
    let got = q()
        .group_by(AggItem::category())
        .aggregate((Count, Sum(AggItem::views()), Avg(AggItem::price()), Min(AggItem::qty()), Max(AggItem::views())))
        .await
        .unwrap();
    let mut groups: BTreeMap<String, Vec<&AggItem>> = BTreeMap::new();
    for i in &found {
        groups.entry(i.category.clone()).or_default().push(i);
    }
    let want: Vec<_> = groups
        .iter()
        .map(|(k, g)| {
            let aggs = (
                g.len() as u64,
                g.iter().map(|i| i.views).sum::<i64>(),
                avg(g.iter().map(|i| i.price)),
                g.iter().filter_map(|i| i.qty).min(),
                g.iter().map(|i| i.views).max(),
            );
            (k.clone(), aggs)
        })
        .collect();
    assert_eq!(got, want, "{ctx}: grouped by category");

    // Grouped by two fields, ordered by the count descending (the key breaking ties), limited.
    let got = q()
        .group_by((AggItem::category(), AggItem::shelf()))
        .count()
        .order_by_aggregate(0, Direction::Desc)
        .limit(4)
        .await
        .unwrap();
    let mut pairs: BTreeMap<(String, i32), u64> = BTreeMap::new();
    for i in &found {
        *pairs.entry((i.category.clone(), i.shelf)).or_default() += 1;
    }
    let mut want: Vec<((String, i32), u64)> = pairs.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    want.truncate(4);
    assert_eq!(got, want, "{ctx}: grouped by category and shelf, by count");

    // Grouped by a `Ref`: the related records' keys; ordered by an average, key descending.
    let got = q()
        .group_by(AggItem::owner())
        .aggregate((Sum(AggItem::qty()), Avg(AggItem::price())))
        .order_by_aggregate(1, Direction::Asc)
        .order_by_key(Direction::Desc)
        .await
        .unwrap();
    let mut owners: BTreeMap<String, Vec<&AggItem>> = BTreeMap::new();
    for i in &found {
        let KeyValue::Str(name) = i.owner.key().value() else { unreachable!() };
        owners.entry(name.clone()).or_default().push(i);
    }
    type PerOwner = (Ref<User>, (i64, Option<f64>));
    let mut want: Vec<PerOwner> = owners
        .iter()
        .map(|(k, g)| {
            let sum = g.iter().filter_map(|i| i.qty).map(i64::from).sum::<i64>();
            (owner(k), (sum, avg(g.iter().map(|i| i.price))))
        })
        .collect();
    want.sort_by(|a, b| {
        let (x, y) = (a.1 .1.unwrap_or(f64::MIN), b.1 .1.unwrap_or(f64::MIN));
        x.total_cmp(&y).then_with(|| b.0.key().value().cmp(a.0.key().value()))
    });
    assert_eq!(got, want, "{ctx}: grouped by owner");

    // Distinct values, in the field's order.
    let want: Vec<String> = found.iter().map(|i| i.category.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    assert_eq!(q().distinct(AggItem::category()).await.unwrap(), want, "{ctx}: distinct categories");
    let want: Vec<i32> = found.iter().filter_map(|i| i.qty).collect::<BTreeSet<_>>().into_iter().collect();
    assert_eq!(q().distinct(AggItem::qty()).await.unwrap(), want, "{ctx}: distinct qty");

    // Value tuples, in the query's order.
    let got = q()
        .order_by(AggItem::views().desc())
        .values((AggItem::views(), AggItem::id(), AggItem::category(), AggItem::price()))
        .await
        .unwrap();
    let mut want: Vec<(i64, i64, String, f64)> =
        found.iter().map(|i| (i.views, i.id, i.category.clone(), i.price)).collect();
    want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(got, want, "{ctx}: values");
    let got: Vec<Ref<User>> = q().values(AggItem::owner()).await.unwrap();
    assert_eq!(got, found.iter().map(|i| i.owner.clone()).collect::<Vec<_>>(), "{ctx}: values of a Ref");

    // A limited query aggregates its window.
    let got = q().order_by(AggItem::views().asc()).limit(5).aggregate((Count, Sum(AggItem::views()))).await.unwrap();
    let mut views: Vec<(i64, i64)> = found.iter().map(|i| (i.views, i.id)).collect();
    views.sort();
    let window = &views[..views.len().min(5)];
    assert_eq!(got, (window.len() as u64, window.iter().map(|v| v.0).sum::<i64>()), "{ctx}: limited");
}

/// No matching records: count and sums 0, averages, minimums and maximums `None`, no groups.
pub async fn aggregates_over_no_records_are_empty<B: Backend>(db: &Database<B>) {
    clear(db).await;
    let q = || db.query::<AggItem>();
    let got = q()
        .aggregate((Count, Sum(AggItem::views()), Sum(AggItem::price()), Avg(AggItem::views()), Min(AggItem::qty())))
        .await
        .unwrap();
    assert_eq!(got, (0, 0, 0.0, None, None));
    assert_eq!(q().max(AggItem::category()).await.unwrap(), None);
    assert!(q().group_by(AggItem::category()).count().await.unwrap().is_empty());
    assert!(q().distinct(AggItem::category()).await.unwrap().is_empty());
    assert!(q().values(AggItem::views()).await.unwrap().is_empty());
    // Records without a value: skipped, so no average.
    let mut one =
        AggItem { id: 1, category: "x".into(), shelf: 0, views: 1, qty: None, price: 0.5, owner: owner("ann") };
    db.save(&mut one).await.unwrap();
    assert_eq!(q().avg(AggItem::qty()).await.unwrap(), None);
    assert_eq!(q().sum(AggItem::qty()).await.unwrap(), 0);
    assert_eq!(q().group_by(AggItem::category()).aggregate(Min(AggItem::qty())).await.unwrap(), [("x".into(), None)]);
    // Grouping by a field some record lacks: a clear error, unless filtered out.
    let e = q().group_by(AggItem::qty()).count().await.unwrap_err();
    assert!(e.to_string().contains("qty"), "{e}");
    let none: Vec<(i32, u64)> =
        q().filter(AggItem::qty().isnull(false)).group_by(AggItem::qty()).count().await.unwrap();
    assert!(none.is_empty());
}

/// An integer sum past the 64-bit range is an error naming model and field, never a wrapped
/// or rounded number; the same sum within range is exact.
pub async fn integer_sums_that_overflow_are_errors<B: Backend>(db: &Database<B>) {
    clear(db).await;
    let make = |id: i64, views: i64| AggItem {
        id,
        category: "big".into(),
        shelf: 0,
        views,
        qty: Some(1),
        price: 0.0,
        owner: owner("ann"),
    };
    let mut items = vec![make(1, i64::MAX - 10), make(2, 7), make(3, -(1 << 62))];
    db.save_many(&mut items).await.unwrap();
    // Exact where a double would round: i64::MAX - 3 - 2^62.
    assert_eq!(db.query::<AggItem>().sum(AggItem::views()).await.unwrap(), i64::MAX - 3 - (1 << 62));
    let mut more = vec![make(4, 1 << 62)];
    db.save_many(&mut more).await.unwrap();
    let over = db.query::<AggItem>().filter(AggItem::id().is_in([1i64, 2, 4])).sum(AggItem::views()).await;
    let e = over.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Encode, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("AggItem") && msg.contains("views"), "{msg}");
    let grouped = db.query::<AggItem>().group_by(AggItem::category()).aggregate(Sum(AggItem::views())).await;
    assert!(grouped.is_ok(), "the four sum within range: {grouped:?}");
    let by_shelf = db.query::<AggItem>().filter(AggItem::id().is_in([1i64, 2, 4])).group_by(AggItem::shelf());
    let e = by_shelf.aggregate(Sum(AggItem::views())).await.unwrap_err();
    assert!(e.to_string().contains("views"), "{e}");
    // An average's sum overflows alike.
    let e = db.query::<AggItem>().filter(AggItem::id().is_in([1i64, 4])).avg(AggItem::views()).await.unwrap_err();
    assert!(e.to_string().contains("views"), "{e}");
}

/// Grouping by a field of the related model across a `Ref`, read from the model's declared
/// denormalized copy (without one it does not compile): the copies follow the related
/// records, so the groups do too.
pub async fn aggregates_group_across_a_ref_by_its_copy<B: Backend>(db: &Database<B>) {
    use crate::conformance::{Author, Paper};
    let mut authors: Vec<Author> = ["ann", "bob", "cy"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| Author { id: None, username: name.into(), age: 30 + i as i32, bio: String::new() })
        .collect();
    let keys = db.save_many(&mut authors).await.unwrap();
    let mut papers: Vec<Paper> =
        (0..10).map(|n| Paper { id: None, title: format!("paper {n}"), author: keys[n % 3].clone().into() }).collect();
    db.save_many(&mut papers).await.unwrap();
    let by_name = || db.query::<Paper>().group_by(Paper::author().join(Author::username()));
    let got = by_name().count().await.unwrap();
    assert_eq!(got, [("ann".to_string(), 4), ("bob".to_string(), 3), ("cy".to_string(), 3)]);
    let got = db
        .query::<Paper>()
        .group_by((Paper::author().join(Author::age()), Paper::author()))
        .count()
        .order_by_key(Direction::Desc)
        .limit(1)
        .await
        .unwrap();
    assert_eq!(got, [((32, Ref::from(keys[2].clone())), 3)]);
    // Renaming an author moves its papers to the new name's group.
    let mut bob = authors[1].clone();
    bob.username = "rob".into();
    db.save(&mut bob).await.unwrap();
    let got = by_name().count().await.unwrap();
    assert_eq!(got, [("ann".to_string(), 4), ("cy".to_string(), 3), ("rob".to_string(), 3)]);
}
