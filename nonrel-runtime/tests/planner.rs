//! The embedded planner reads only what the answer needs: conditions on one field read one
//! index range, contradictions read nothing, the rarest of several indexed filters is read,
//! and a limit stops the read once the answer is known. Every query's answer is checked
//! against an oracle over the records in memory, and what it read against `explain`.

use nonrel_runtime::{Database, Key, Model, Query, Redb};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "items")]
struct Item {
    #[field(key)]
    id: Option<Key<Item>>,
    #[field(index)]
    qty: i64,
    #[field(index)]
    category: String,
    /// The same number, not indexed: the oracle's queries read it the slow way.
    plain: i64,
}

/// A small xorshift generator: the same seed gives the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n.max(1)) as i64
    }
}

/// One condition on `qty`, with the same test the oracle applies.
#[derive(Debug, Clone)]
enum Cond {
    Gt(i64),
    Gte(i64),
    Lt(i64),
    Lte(i64),
    Eq(i64),
    In(Vec<i64>),
    Range(i64, i64),
}

impl Cond {
    fn random(rng: &mut Rng) -> Cond {
        let v = rng.below(60) - 5;
        match rng.below(7) {
            0 => Cond::Gt(v),
            1 => Cond::Gte(v),
            2 => Cond::Lt(v),
            3 => Cond::Lte(v),
            4 => Cond::Eq(v),
            5 => Cond::In((0..rng.below(4) + 1).map(|_| rng.below(60) - 5).collect()),
            _ => Cond::Range(v, v + rng.below(20) - 3),
        }
    }

    fn holds(&self, x: i64) -> bool {
        match self {
            Cond::Gt(v) => x > *v,
            Cond::Gte(v) => x >= *v,
            Cond::Lt(v) => x < *v,
            Cond::Lte(v) => x <= *v,
            Cond::Eq(v) => x == *v,
            Cond::In(vs) => vs.contains(&x),
            Cond::Range(lo, hi) => *lo <= x && x <= *hi,
        }
    }

    fn on(&self, q: Query<Item>) -> Query<Item> {
        let f = Item::qty;
        match self.clone() {
            Cond::Gt(v) => q.filter(f().gt(v)),
            Cond::Gte(v) => q.filter(f().gte(v)),
            Cond::Lt(v) => q.filter(f().lt(v)),
            Cond::Lte(v) => q.filter(f().lte(v)),
            Cond::Eq(v) => q.filter(f().eq(v)),
            Cond::In(vs) => q.filter(f().is_in(vs)),
            Cond::Range(lo, hi) => q.filter(f().range(lo, hi)),
        }
    }

    /// The same condition on the field without an index.
    fn on_plain(&self, q: Query<Item>) -> Query<Item> {
        let f = Item::plain;
        match self.clone() {
            Cond::Gt(v) => q.filter(f().gt(v)),
            Cond::Gte(v) => q.filter(f().gte(v)),
            Cond::Lt(v) => q.filter(f().lt(v)),
            Cond::Lte(v) => q.filter(f().lte(v)),
            Cond::Eq(v) => q.filter(f().eq(v)),
            Cond::In(vs) => q.filter(f().is_in(vs)),
            Cond::Range(lo, hi) => q.filter(f().range(lo, hi)),
        }
    }
}

const CATEGORIES: [&str; 5] = ["a", "b", "c", "d", "e"];

async fn filled(n: i64, rng: &mut Rng) -> (Database<Redb>, Vec<Item>) {
    let db = Database::in_memory().unwrap();
    let mut items: Vec<Item> = (0..n)
        .map(|_| {
            let qty = rng.below(50);
            Item { id: None, qty, category: CATEGORIES[rng.below(5) as usize].into(), plain: qty }
        })
        .collect();
    db.save_many(&mut items).await.unwrap();
    (db, items)
}

#[tokio::test]
async fn conditions_on_one_field_read_one_range_and_answer_as_the_oracle() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (db, items) = filled(400, &mut rng).await;
    for case in 0..300 {
        let conds: Vec<Cond> = (0..rng.below(3) + 1).map(|_| Cond::random(&mut rng)).collect();
        let category = (rng.below(3) == 0).then(|| CATEGORIES[rng.below(5) as usize]);
        let order = rng.below(3);
        let limit = (rng.below(2) == 0).then(|| rng.below(30) as usize + 1);
        let mut q = Query::<Item>::new();
        let mut plain = Query::<Item>::new();
        for c in &conds {
            q = c.on(q);
            plain = c.on_plain(plain);
        }
        if let Some(c) = category {
            q = q.filter(Item::category().eq(c));
            plain = plain.filter(Item::category().eq(c));
        }
        let (q, plain) = match order {
            1 => (q.order_by(Item::qty().asc()), plain.order_by(Item::plain().asc())),
            2 => (q.order_by(Item::qty().desc()), plain.order_by(Item::plain().desc())),
            _ => (q, plain),
        };
        let (q, plain) = match limit {
            Some(n) => (q.limit(n), plain.limit(n)),
            None => (q, plain),
        };
        // The oracle: every record tested in memory, in the query's order, then the key's.
        let mut expected: Vec<&Item> = items
            .iter()
            .filter(|i| conds.iter().all(|c| c.holds(i.qty)) && category.is_none_or(|c| i.category == c))
            .collect();
        match order {
            1 => expected.sort_by_key(|i| i.qty),
            2 => expected.sort_by_key(|i| std::cmp::Reverse(i.qty)),
            _ => {}
        }
        let matching = expected.len();
        expected.truncate(limit.unwrap_or(usize::MAX));
        let expected: Vec<_> = expected.iter().map(|i| i.id.clone()).collect();
        let found: Vec<_> = db.query::<Item>().with(q.clone()).all().await.unwrap().into_iter().map(|i| i.id).collect();
        let scanned: Vec<_> = db.query::<Item>().with(plain).all().await.unwrap().into_iter().map(|i| i.id).collect();
        let what = format!("case {case}: {conds:?} category {category:?} order {order} limit {limit:?}");
        assert_eq!(found, expected, "{what}");
        assert_eq!(scanned, expected, "{what} (without the index)");
        assert_eq!(
            db.query::<Item>().with(q.clone()).count().await.unwrap(),
            if limit.is_some() { expected.len() as u64 } else { matching as u64 },
            "{what}: count"
        );
        // Conditions on `qty` alone, read all at once, read exactly the records that match.
        let explain = db.backend().explain(&q).unwrap();
        if category.is_none() && limit.is_none() {
            assert_eq!(explain.index, Some("qty"), "{what}");
            assert_eq!(explain.entries_read, matching as u64, "{what}: one range, nothing outside it");
        }
    }
}

#[tokio::test]
async fn contradictory_conditions_read_nothing() {
    let mut rng = Rng(7);
    let (db, _) = filled(200, &mut rng).await;
    let q = Query::<Item>::new().filter(Item::qty().gt(30)).filter(Item::qty().lt(10));
    let explain = db.backend().explain(&q).unwrap();
    assert_eq!((explain.index, explain.ranges, explain.entries_read), (Some("qty"), 0, 0));
    assert!(db.query::<Item>().with(q).all().await.unwrap().is_empty());
    let q = Query::<Item>::new().filter(Item::qty().eq(3)).filter(Item::qty().gte(4));
    assert_eq!(db.backend().explain(&q).unwrap().entries_read, 0);
    let q = Query::<Item>::new().filter(Item::qty().is_in([1, 2, 40])).filter(Item::qty().gt(20));
    let explain = db.backend().explain(&q).unwrap();
    assert_eq!(explain.ranges, 1, "only the value 40 is left of the `in`");
}

#[tokio::test]
async fn the_rarest_of_several_indexed_filters_is_read() {
    let db = Database::in_memory().unwrap();
    let mut items: Vec<Item> = (0..1000)
        .map(|n| Item { id: None, qty: n % 100, category: if n == 500 { "rare" } else { "common" }.into(), plain: 0 })
        .collect();
    db.save_many(&mut items).await.unwrap();
    // Equally selective kinds of lookup: the one with fewer entries is read.
    let q = Query::<Item>::new().filter(Item::qty().eq(0)).filter(Item::category().eq("rare"));
    let explain = db.backend().explain(&q).unwrap();
    assert_eq!((explain.index, explain.entries_read), (Some("category"), 1));
    assert_eq!(db.query::<Item>().with(q).count().await.unwrap(), 1);
    // An equality read over a range even though a range is the less selective kind, when it
    // holds fewer records.
    let q = Query::<Item>::new().filter(Item::category().eq("common")).filter(Item::qty().range(10, 11));
    let explain = db.backend().explain(&q).unwrap();
    assert_eq!((explain.index, explain.entries_read), (Some("qty"), 20));
    assert_eq!(db.query::<Item>().with(q).count().await.unwrap(), 20);
}

#[tokio::test]
async fn a_limit_stops_the_read_once_the_answer_is_known() {
    let db = Database::in_memory().unwrap();
    let mut items: Vec<Item> =
        (0..2000).map(|n| Item { id: None, qty: n, category: CATEGORIES[(n % 2) as usize].into(), plain: n }).collect();
    db.save_many(&mut items).await.unwrap();
    let ten = Query::<Item>::new().filter(Item::category().eq("a")).limit(10);
    assert_eq!(db.backend().explain(&ten).unwrap().entries_read, 10);
    let found = db.query::<Item>().with(ten).all().await.unwrap();
    let qtys: Vec<i64> = found.iter().map(|i| i.qty).collect();
    assert_eq!(qtys, (0..20).step_by(2).collect::<Vec<_>>(), "the first ten in key order");
    // Ordered by the index of a range: the read stops after the limit (and the one entry
    // that shows the last value's ties are over).
    let top = Query::<Item>::new().filter(Item::qty().gte(100)).order_by(Item::qty().desc()).limit(5);
    assert!(db.backend().explain(&top).unwrap().entries_read <= 6);
    let found = db.query::<Item>().with(top).all().await.unwrap();
    assert_eq!(found.iter().map(|i| i.qty).collect::<Vec<_>>(), [1999, 1998, 1997, 1996, 1995]);
    assert_eq!(db.query::<Item>().filter(Item::category().eq("b")).count_upto(7).await.unwrap(), 7);
    assert!(db.query::<Item>().filter(Item::category().eq("b")).exists().await.unwrap());
    let first = db.query::<Item>().filter(Item::category().eq("b")).first().await.unwrap().unwrap();
    assert_eq!(first.qty, 1);
}

/// Conditions on the key read that range of the records table, intersected with the other
/// conditions, in key order (either way), stopping at a limit; the answers agree with an
/// oracle over the saved records.
#[tokio::test]
async fn key_conditions_read_the_key_range_alone() {
    let db = Database::in_memory().unwrap();
    let mut items: Vec<Item> = (0..10_000)
        .map(|n| Item { id: None, qty: n % 50, category: CATEGORIES[(n % 5) as usize].into(), plain: n })
        .collect();
    db.save_many(&mut items).await.unwrap();
    let keys: Vec<Key<Item>> = items.iter().map(|i| i.id.clone().unwrap()).collect();
    let (a, b) = (keys[5_000].clone(), keys[5_009].clone());
    let ten = Query::<Item>::new().filter(Item::id().gte(a.clone())).filter(Item::id().lte(b.clone()));
    let explain = db.backend().explain(&ten).unwrap();
    assert_eq!((explain.index, explain.entries_read), (Some("_id"), 10), "a key range of 10 reads 10");
    let found: Vec<i64> = db.query::<Item>().with(ten.clone()).all().await.unwrap().iter().map(|i| i.plain).collect();
    assert_eq!(found, (5_000..5_010).collect::<Vec<_>>());
    assert_eq!(db.query::<Item>().with(ten.clone()).count().await.unwrap(), 10);
    // Descending, limited: the read starts at the top of the range and stops at the limit.
    let top = ten.clone().order_by(Item::id().desc()).limit(3);
    assert_eq!(db.backend().explain(&top).unwrap().entries_read, 3);
    let found: Vec<i64> = db.query::<Item>().with(top).all().await.unwrap().iter().map(|i| i.plain).collect();
    assert_eq!(found, [5_009, 5_008, 5_007]);
    // With another condition: the key range is the fewer entries, the other is checked.
    let both = ten.clone().filter(Item::category().eq("a"));
    let explain = db.backend().explain(&both).unwrap();
    assert_eq!((explain.index, explain.entries_read), (Some("_id"), 10));
    let found: Vec<i64> = db.query::<Item>().with(both).all().await.unwrap().iter().map(|i| i.plain).collect();
    assert_eq!(found, [5_000, 5_005]);
    // A wide key range against a rare value: the index of the rarer is read.
    let wide = Query::<Item>::new().filter(Item::id().gt(keys[10].clone())).filter(Item::qty().eq(7)).limit(2);
    let explain = db.backend().explain(&wide).unwrap();
    assert_eq!(explain.index, Some("qty"));
    let found: Vec<i64> = db.query::<Item>().with(wide).all().await.unwrap().iter().map(|i| i.plain).collect();
    assert_eq!(found, [57, 107]);
    // Named keys read those keys alone, in key order.
    let named = Query::<Item>::new().filter(Item::id().is_in([keys[9].clone(), keys[3].clone(), keys[9_999].clone()]));
    assert_eq!(db.backend().explain(&named).unwrap().entries_read, 3);
    let found: Vec<i64> = db.query::<Item>().with(named).all().await.unwrap().iter().map(|i| i.plain).collect();
    assert_eq!(found, [3, 9, 9_999]);
    // Ordered by the key alone, descending, limited: the last records, read from the end.
    let last = Query::<Item>::new().order_by(Item::id().desc()).limit(4);
    assert_eq!(db.backend().explain(&last).unwrap().entries_read, 4);
    let found: Vec<i64> = db.query::<Item>().with(last).all().await.unwrap().iter().map(|i| i.plain).collect();
    assert_eq!(found, [9_999, 9_998, 9_997, 9_996]);
    // An update by key writes that record alone.
    let counts = db.query::<Item>().filter(Item::id().eq(a.clone())).update().set(Item::plain(), -1).await.unwrap();
    assert_eq!((counts.matched, counts.modified), (1, 1));
    assert_eq!(db.get(&a).await.unwrap().unwrap().plain, -1);
    assert_eq!(db.get(&b).await.unwrap().unwrap().plain, 5_009);
}

/// A count answered by an index range (or a key range) alone counts its entries: no record
/// is read, and `count_upto` stops at its bound.
#[tokio::test]
async fn counts_read_entries_not_records() {
    let db = Database::in_memory().unwrap();
    let mut items: Vec<Item> = (0..5_000)
        .map(|n| Item { id: None, qty: n, category: CATEGORIES[(n % 5) as usize].into(), plain: n })
        .collect();
    db.save_many(&mut items).await.unwrap();
    let range = Query::<Item>::new().filter(Item::qty().gte(1_000)).filter(Item::qty().lt(2_000));
    let counted = db.backend().explain_count(&range, None).unwrap();
    assert_eq!((counted.index, counted.entries_read, counted.records_read), (Some("qty"), 1_000, 0));
    assert_eq!(db.query::<Item>().with(range.clone()).count().await.unwrap(), 1_000);
    let upto = db.backend().explain_count(&range, Some(10)).unwrap();
    assert_eq!((upto.entries_read, upto.records_read), (10, 0), "count_upto stops at its bound");
    assert_eq!(db.query::<Item>().with(range.clone()).count_upto(10).await.unwrap(), 10);
    let by_key = Query::<Item>::new().filter(Item::id().lt(items[300].id.clone().unwrap()));
    let counted = db.backend().explain_count(&by_key, None).unwrap();
    assert_eq!((counted.index, counted.entries_read, counted.records_read), (Some("_id"), 300, 0));
    // A condition the index leaves to check reads the records it cannot rule out.
    let checked = range.filter(Item::plain().lt(1_100));
    let counted = db.backend().explain_count(&checked, None).unwrap();
    assert_eq!((counted.entries_read, counted.records_read), (1_000, 1_000));
    assert_eq!(db.query::<Item>().with(checked).count().await.unwrap(), 100);
}
