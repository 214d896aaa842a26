//! The key as a field: `Note::id()` (the key field's own name) takes `eq`, `is_in`, ranges
//! and ordering like any field, on every backend; an update by key changes that record
//! atomically; the key itself cannot be updated.
#![allow(missing_docs)]

use crate::conformance::Rng;
use crate::query::Query;
use crate::{Backend, Database, ErrorKind, Key};

/// A record with an automatic key and one indexed number.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_key_notes")]
pub struct KeyNote {
    #[field(key)]
    pub id: Option<Key<KeyNote>>,
    #[field(index)]
    pub n: i64,
}

/// A record with a natural string key.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_key_users")]
pub struct KeyUser {
    #[field(key)]
    pub name: String,
    pub visits: i64,
}

/// A condition on the key, with the test the oracle applies (keys compare by their order).
#[derive(Debug, Clone)]
enum OnKey {
    Eq(usize),
    In(Vec<usize>),
    Gt(usize),
    Lte(usize),
    Range(usize, usize),
}

/// Random queries mixing conditions on the key with conditions on a field, ordered by the
/// key either way or by the field, limited and offset, agree with an oracle over the saved
/// records; so do their counts.
pub async fn conditions_on_the_key_agree_with_an_oracle<B: Backend>(db: &Database<B>) {
    let mut notes: Vec<KeyNote> = (0..40).map(|i| KeyNote { id: None, n: (i * 7) % 5 }).collect();
    db.save_many(&mut notes).await.expect("save");
    // The notes in key order: the order of results without `order_by`.
    let mut all = db.query::<KeyNote>().all().await.expect("all");
    assert_eq!(all.len(), 40);
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let key = |i: usize| all[i].id.clone().expect("saved");
    let mut rng = Rng::new(0x005E_ED0F_0001);
    for case in 0..120 {
        let on_key = match rng.below(5) {
            0 => OnKey::Eq(rng.below(40)),
            1 => OnKey::In((0..rng.below(4) + 1).map(|_| rng.below(40)).collect()),
            2 => OnKey::Gt(rng.below(40)),
            3 => OnKey::Lte(rng.below(40)),
            _ => {
                let a = rng.below(40);
                OnKey::Range(a, (a + rng.below(15)).min(39))
            }
        };
        let n = (rng.below(3) == 0).then(|| rng.below(5) as i64);
        let order = rng.below(4);
        let limit = (rng.below(2) == 0).then(|| rng.below(8) + 1);
        let offset = if rng.below(3) == 0 { rng.below(4) } else { 0 };
        let mut q = match &on_key {
            OnKey::Eq(i) => Query::<KeyNote>::new().filter(KeyNote::id().eq(key(*i))),
            OnKey::In(is) => Query::new().filter(KeyNote::id().is_in(is.iter().map(|i| key(*i)))),
            OnKey::Gt(i) => Query::new().filter(KeyNote::id().gt(key(*i))),
            OnKey::Lte(i) => Query::new().filter(KeyNote::id().lte(key(*i))),
            OnKey::Range(a, b) => Query::new().filter(KeyNote::id().range(key(*a), key(*b))),
        };
        if let Some(n) = n {
            q = q.filter(KeyNote::n().eq(n));
        }
        q = match order {
            1 => q.order_by(KeyNote::id().desc()),
            2 => q.order_by(KeyNote::id().asc()),
            3 => q.order_by(KeyNote::n().desc()).order_by(KeyNote::id().desc()),
            _ => q,
        };
        let mut expected: Vec<usize> = (0..40)
            .filter(|&i| match &on_key {
                OnKey::Eq(k) => i == *k,
                OnKey::In(ks) => ks.contains(&i),
                OnKey::Gt(k) => i > *k,
                OnKey::Lte(k) => i <= *k,
                OnKey::Range(a, b) => *a <= i && i <= *b,
            })
            .filter(|&i| n.is_none_or(|n| all[i].n == n))
            .collect();
        match order {
            1 => expected.reverse(),
            3 => expected.sort_by_key(|&i| (std::cmp::Reverse(all[i].n), std::cmp::Reverse(i))),
            _ => {}
        }
        let matching = expected.len() as u64;
        let expected: Vec<KeyNote> =
            expected.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).map(|i| all[i].clone()).collect();
        let what = format!("case {case}: {on_key:?}, n {n:?}, order {order}, limit {limit:?}, offset {offset}");
        let mut limited = q.clone().offset(offset);
        if let Some(l) = limit {
            limited = limited.limit(l);
        }
        let found = db.query::<KeyNote>().with(limited.clone()).all().await.expect("query");
        assert_eq!(found, expected, "{what}");
        assert_eq!(db.query::<KeyNote>().with(q).count().await.expect("count"), matching, "{what}: count");
        let counted = db.query::<KeyNote>().with(limited).count().await.expect("count");
        assert_eq!(counted, expected.len() as u64, "{what}: count with limit and offset");
    }
}

/// Pages ordered by the key, descending, walk every record once, in order.
pub async fn pages_ordered_by_the_key<B: Backend>(db: &Database<B>) {
    let mut notes: Vec<KeyNote> = (0..23).map(|i| KeyNote { id: None, n: i % 3 }).collect();
    db.save_many(&mut notes).await.expect("save");
    let mut keys: Vec<Key<KeyNote>> = notes.iter().filter_map(|n| n.id.clone()).collect();
    keys.sort();
    keys.reverse();
    let mut seen = Vec::new();
    let mut page = db.query::<KeyNote>().order_by(KeyNote::id().desc()).page(5).await.expect("page 1");
    loop {
        seen.extend(page.items.iter().filter_map(|n| n.id.clone()));
        let Some(next) = page.next.clone() else { break };
        page = db.query::<KeyNote>().order_by(KeyNote::id().desc()).page(5).after(next).await.expect("next page");
    }
    assert_eq!(seen, keys);
}

/// Natural keys take conditions of their own type, `startswith` on a string key among them.
pub async fn conditions_on_a_natural_key<B: Backend>(db: &Database<B>) {
    for name in ["ann", "bob", "anna", "cy"] {
        db.save(&mut KeyUser { name: name.into(), visits: 0 }).await.expect("save");
    }
    let names = |users: Vec<KeyUser>| users.into_iter().map(|u| u.name).collect::<Vec<_>>();
    let found = db.query::<KeyUser>().filter(KeyUser::name().eq("bob")).all().await.expect("eq");
    assert_eq!(names(found), ["bob"]);
    let found = db.query::<KeyUser>().filter(KeyUser::name().startswith("an")).all().await.expect("prefix");
    assert_eq!(names(found), ["ann", "anna"]);
    let found = db.query::<KeyUser>().filter(KeyUser::name().is_in(["cy", "zed", "ann"])).all().await.expect("in");
    assert_eq!(names(found), ["ann", "cy"]);
    let found = db.query::<KeyUser>().order_by(KeyUser::name().desc()).limit(2).all().await.expect("order");
    assert_eq!(names(found), ["cy", "bob"]);
}

/// An update by key changes that record alone; tasks racing to increment one record by key
/// lose no increment; the key itself cannot be updated.
pub async fn updates_by_key_are_atomic<B: Backend>(db: &Database<B>) {
    for name in ["ann", "bob"] {
        db.save(&mut KeyUser { name: name.into(), visits: 0 }).await.expect("save");
    }
    let by_key = || db.query::<KeyUser>().filter(KeyUser::name().eq("ann"));
    let counts = by_key().update().inc(KeyUser::visits(), 1).await.expect("update");
    assert_eq!((counts.matched, counts.modified), (1, 1));
    const TASKS: i64 = 4;
    const EACH: i64 = 10;
    let racing: Vec<_> = (0..TASKS)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                for _ in 0..EACH {
                    let by_key = db.query::<KeyUser>().filter(KeyUser::name().eq("ann"));
                    by_key.update().inc(KeyUser::visits(), 1).await.expect("racing update");
                }
            })
        })
        .collect();
    for task in racing {
        task.await.expect("task");
    }
    let ann = db.get::<KeyUser>("ann").await.expect("get").expect("ann");
    assert_eq!(ann.visits, 1 + TASKS * EACH, "no increment lost");
    let bob = db.get::<KeyUser>("bob").await.expect("get").expect("bob");
    assert_eq!(bob.visits, 0, "only the record with that key changed");
    let err = by_key().update().set(KeyUser::name(), "zed").await.expect_err("the key is not a field to set");
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(err.to_string().contains("KeyUser") && err.to_string().contains("name"), "{err}");
    assert!(db.get::<KeyUser>("ann").await.expect("get").is_some(), "nothing renamed");
}

/// Inside a transaction, a query on the key sees the attempt's own writes.
pub async fn transaction_queries_on_the_key<B: crate::capability::Transactions>(db: &Database<B>) {
    db.save(&mut KeyUser { name: "ann".into(), visits: 1 }).await.expect("save");
    let found = db
        .transaction(|tx| async move {
            tx.save(&mut KeyUser { name: "bob".into(), visits: 2 }).await?;
            let q = Query::<KeyUser>::new().filter(KeyUser::name().is_in(["ann", "bob", "cy"]));
            let found = tx.query(q.order_by(KeyUser::name().desc())).await?;
            Ok(found.into_iter().map(|u| (u.name, u.visits)).collect::<Vec<_>>())
        })
        .await
        .expect("transaction");
    assert_eq!(found, [("bob".to_string(), 2), ("ann".to_string(), 1)]);
}
