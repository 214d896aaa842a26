//! Reads in index order: a page after a cursor starts at the cursor's place in the index, so
//! page 100 costs what page 1 costs; `order_by(indexed field).limit(n)` reads the index in
//! order and stops once the answer is known; `count_upto(n)` reads at most what it needs.
//! Costs are counted by the handle ([`Redis::stats`]): requests, and the index or key-set
//! members reads returned.

mod support;

use nonrel_redis::{Redis, Stats};
use nonrel_runtime::{Database, Model};
use std::future::IntoFuture;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "redis_ordered_items")]
struct Item {
    #[field(key)]
    id: i64,
    #[field(index)]
    score: i64,
    #[field(index)]
    group: i64,
    /// Not indexed.
    kind: i64,
}

/// Runs `f` and returns what it cost.
async fn cost<T>(redis: &Redis, f: impl std::future::Future<Output = T>) -> (T, Stats) {
    let before = redis.stats();
    let out = f.await;
    let after = redis.stats();
    let spent = Stats {
        round_trips: after.round_trips - before.round_trips,
        commands: after.commands - before.commands,
        entries_read: after.entries_read - before.entries_read,
    };
    (out, spent)
}

/// `n` items: distinct scores (in an order unlike the keys'), ten groups.
async fn seeded(n: i64) -> (Redis, Database<Redis>, Vec<Item>) {
    let redis = support::fresh().await;
    let db = Database::new(redis.clone());
    let mut items: Vec<Item> =
        (1..=n).map(|i| Item { id: i, score: (i * 7919) % 100_003, group: i % 10, kind: i % 7 }).collect();
    for chunk in items.chunks_mut(500) {
        db.save_many(chunk).await.unwrap();
    }
    // Warm the server's script cache, so counts leave out its one-time load.
    db.query::<Item>().order_by(Item::score().asc()).page(1).await.unwrap();
    (redis, db, items)
}

fn ids(items: &[Item]) -> Vec<i64> {
    items.iter().map(|i| i.id).collect()
}

#[tokio::test]
async fn a_page_after_a_cursor_costs_what_the_first_page_costs() {
    let (redis, db, mut items) = seeded(2_000).await;
    items.sort_by_key(|i| std::cmp::Reverse(i.score));
    let q = || db.query::<Item>().order_by(Item::score().desc());

    let (first, page1) = cost(&redis, q().page(10).into_future()).await;
    let first = first.unwrap();
    assert_eq!(ids(&first.items), ids(&items[..10]));
    // One script: the page's 10 members, the eleventh (which shows a next page exists) and
    // the twelfth, which ends the eleventh's tie.
    assert_eq!(page1, Stats { round_trips: 1, commands: 1, entries_read: 12 });

    // Walk to page 100: every page costs what page 1 cost, however deep.
    let mut cursor = first.next.unwrap();
    for n in 2..=100 {
        let (page, spent) = cost(&redis, q().page(10).after(cursor.clone()).into_future()).await;
        let page = page.unwrap();
        let at = (n - 1) * 10;
        assert_eq!(ids(&page.items), ids(&items[at..at + 10]), "page {n}");
        assert_eq!(spent, page1, "page {n}");
        cursor = page.next.unwrap();
    }
    // Backward from deep in the result: the same cost.
    let (page, spent) = cost(&redis, q().page(10).before(cursor.clone()).into_future()).await;
    assert_eq!(ids(&page.unwrap().items), ids(&items[989..999]));
    assert_eq!(spent, page1);

    // A filtered query on the ordering field pages within the filter's range the same way.
    let lo = items[1500].score;
    let fq = || db.query::<Item>().filter(Item::score().gte(lo)).order_by(Item::score().desc());
    let mut cursor = fq().page(10).await.unwrap().next.unwrap();
    for _ in 0..50 {
        let (page, spent) = cost(&redis, fq().page(10).after(cursor.clone()).into_future()).await;
        assert_eq!(spent, page1);
        cursor = page.unwrap().next.unwrap();
    }
}

#[tokio::test]
async fn a_page_in_key_order_starts_after_the_cursors_key() {
    let (redis, db, _) = seeded(2_000).await;
    let (first, page1) = cost(&redis, db.query::<Item>().page(10).into_future()).await;
    let first = first.unwrap();
    assert_eq!(ids(&first.items), (1..=10).collect::<Vec<_>>());
    let mut cursor = first.next.unwrap();
    for n in 2..=100i64 {
        let (page, spent) = cost(&redis, db.query::<Item>().page(10).after(cursor.clone()).into_future()).await;
        let page = page.unwrap();
        assert_eq!(ids(&page.items), ((n - 1) * 10 + 1..=n * 10).collect::<Vec<_>>());
        assert_eq!(spent, page1, "page {n}");
        cursor = page.next.unwrap();
    }
    assert_eq!(page1, Stats { round_trips: 1, commands: 1, entries_read: 11 });
}

#[tokio::test]
async fn order_by_an_indexed_field_with_a_limit_reads_only_what_it_returns() {
    let (redis, db, mut items) = seeded(2_000).await;
    items.sort_by_key(|i| i.score);

    // Ten lowest scores of 2,000: eleven members read (the eleventh ends the last value's
    // tie), in one script.
    let q = db.query::<Item>().order_by(Item::score().asc()).limit(10);
    let (r, spent) = cost(&redis, q.all()).await;
    assert_eq!(ids(&r.unwrap()), ids(&items[..10]));
    assert_eq!(spent, Stats { round_trips: 1, commands: 1, entries_read: 11 });

    // Descending, with an offset: the offset's members are read too, nothing more.
    let q = db.query::<Item>().order_by(Item::score().desc()).offset(20).limit(5);
    let (r, spent) = cost(&redis, q.all()).await;
    let top: Vec<i64> = items.iter().rev().skip(20).take(5).map(|i| i.id).collect();
    assert_eq!(ids(&r.unwrap()), top);
    assert_eq!(spent.entries_read, 26);

    // A filter no index serves is checked on each member read in order: the read ends at
    // the fourth match (past the third's tie), about seven members per match, not the whole
    // collection.
    let q = db.query::<Item>().filter(Item::kind().eq(0)).order_by(Item::score().asc()).limit(3);
    let (r, spent) = cost(&redis, q.all()).await;
    let matching: Vec<usize> = (0..items.len()).filter(|&i| items[i].kind == 0).collect();
    assert_eq!(ids(&r.unwrap()), matching[..3].iter().map(|&i| items[i].id).collect::<Vec<_>>());
    assert_eq!(spent.entries_read, matching[3] as u64 + 1);
    assert!(spent.entries_read < 100, "{spent:?}");

    // A range on the ordering field reads from the range's start.
    let from = items[700].score;
    let q = db.query::<Item>().filter(Item::score().gt(from)).order_by(Item::score().asc()).limit(10);
    let (r, spent) = cost(&redis, q.all()).await;
    assert_eq!(ids(&r.unwrap()), ids(&items[701..711]));
    assert_eq!(spent, Stats { round_trips: 1, commands: 1, entries_read: 11 });
}

#[tokio::test]
async fn ties_on_the_last_value_are_read_whole_and_the_key_breaks_them() {
    let redis = support::fresh().await;
    let db = Database::new(redis.clone());
    // Scores 0..=9, two hundred records each, keys given in descending order.
    let mut items: Vec<Item> = (1..=2_000).rev().map(|i| Item { id: i, score: i % 10, group: 0, kind: 0 }).collect();
    for chunk in items.chunks_mut(500) {
        db.save_many(chunk).await.unwrap();
    }
    items.sort_by_key(|i| (i.score, i.id));
    let q = db.query::<Item>().order_by(Item::score().asc()).limit(5);
    let (r, spent) = cost(&redis, q.all()).await;
    assert_eq!(ids(&r.unwrap()), ids(&items[..5]));
    // The tie on score 0 (200 records) is read whole, and the first member past it.
    assert_eq!(spent.entries_read, 201);
    // Pages through ties: every record once, in score then key order.
    let mut seen = Vec::new();
    let mut page = db.query::<Item>().order_by(Item::score().asc()).page(150).await.unwrap();
    loop {
        seen.extend(ids(&page.items));
        let Some(next) = page.next else { break };
        page = db.query::<Item>().order_by(Item::score().asc()).page(150).after(next).await.unwrap();
    }
    assert_eq!(seen, ids(&items));
}

#[tokio::test]
async fn count_upto_reads_at_most_what_it_counts() {
    let (redis, db, _) = seeded(2_000).await;
    let (n, spent) = cost(&redis, db.query::<Item>().count_upto(5)).await;
    assert_eq!(n.unwrap(), 5);
    assert_eq!(spent, Stats { round_trips: 1, commands: 1, entries_read: 5 });
    let (n, spent) = cost(&redis, db.query::<Item>().filter(Item::group().eq(3)).count_upto(7)).await;
    assert_eq!(n.unwrap(), 7);
    assert_eq!(spent, Stats { round_trips: 1, commands: 1, entries_read: 7 });
    // Fewer matches than the bound: the index range is read to its end, nothing else.
    let (n, spent) = cost(&redis, db.query::<Item>().filter(Item::group().eq(3)).count_upto(1_000)).await;
    assert_eq!(n.unwrap(), 200);
    assert_eq!(spent.entries_read, 200);
}

#[tokio::test]
async fn an_index_missing_entries_is_not_read_in_place_of_the_records() {
    let (redis, prefix) = support::fresh_with_prefix().await;
    let db = Database::new(redis.clone());
    let mut items: Vec<Item> = (1..=300).map(|i| Item { id: i, score: 300 - i, group: 0, kind: 0 }).collect();
    db.save_many(&mut items).await.unwrap();
    let q = || db.query::<Item>().order_by(Item::score().asc()).limit(5);
    let (r, spent) = cost(&redis, q().all()).await;
    assert_eq!(ids(&r.unwrap()), vec![300, 299, 298, 297, 296]);
    assert_eq!(spent.entries_read, 6);
    // The index loses its entries, as one declared after the records were saved holds none
    // until `rebuild_indexes`: the query reads the records instead, and answers the same.
    let client = redis::Client::open(support::url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let index = format!("{{{prefix}:redis_ordered_items}}:i:score");
    let removed: i64 = redis::cmd("DEL").arg(&index).query_async(&mut conn).await.unwrap();
    assert_eq!(removed, 1);
    let (r, spent) = cost(&redis, q().all()).await;
    assert_eq!(ids(&r.unwrap()), vec![300, 299, 298, 297, 296]);
    assert_eq!(spent.round_trips, 2, "the refused ordered read, then the records");
    assert_eq!(spent.entries_read, 300);
}
