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
    // Without a filter: the size of the key set (`ZCARD`), no member read.
    let (n, spent) = cost(&redis, db.query::<Item>().count_upto(5)).await;
    assert_eq!(n.unwrap(), 5);
    assert_eq!(spent, Stats { round_trips: 1, commands: 1, entries_read: 0 });
    let (n, spent) = cost(&redis, db.query::<Item>().count()).await;
    assert_eq!(n.unwrap(), 2_000);
    assert_eq!(spent, Stats { round_trips: 1, commands: 1, entries_read: 0 });
    // An equality on an indexed single-valued field: its index range counted on the server
    // (`ZLEXCOUNT`), nothing read.
    let (n, spent) = cost(&redis, db.query::<Item>().filter(Item::group().eq(3)).count_upto(7)).await;
    assert_eq!(n.unwrap(), 7);
    assert_eq!(spent, Stats { round_trips: 1, commands: 1, entries_read: 0 });
    let (n, spent) = cost(&redis, db.query::<Item>().filter(Item::group().eq(3)).count_upto(1_000)).await;
    assert_eq!(n.unwrap(), 200);
    assert_eq!(spent, Stats { round_trips: 1, commands: 1, entries_read: 0 });
    let (n, spent) = cost(&redis, db.query::<Item>().filter(Item::group().is_in([3i64, 4, 3])).count()).await;
    assert_eq!(n.unwrap(), 400);
    assert_eq!(spent, Stats { round_trips: 1, commands: 1, entries_read: 0 });
    // A filter no index answers exactly (an unindexed field, a second condition):
    // candidates are read and checked, in batches that stop once the bound is reached.
    let (n, spent) = cost(&redis, db.query::<Item>().filter(Item::kind().eq(3)).count_upto(4)).await;
    assert_eq!(n.unwrap(), 4);
    // One match in seven: batches of 4, 8 and 16 members find the fourth.
    assert!(spent.round_trips <= 3 && spent.entries_read < 40, "{spent:?}");
    let two = db.query::<Item>().filter(Item::group().eq(3)).filter(Item::kind().eq(3));
    let (n, spent) = cost(&redis, two.count()).await;
    assert_eq!(n.unwrap(), (1..=2_000).filter(|i| i % 10 == 3 && i % 7 == 3).count() as u64);
    assert_eq!(spent.entries_read, 200);
}

/// Every count agrees with the records, counted here: without filters, by equality and `in`
/// on indexed fields (answered by the server), and with filters that need checking.
#[tokio::test]
async fn counts_agree_with_the_records() {
    let (_redis, db, items) = seeded(500).await;
    for g in 0..11 {
        let want = items.iter().filter(|i| i.group == g).count() as u64;
        assert_eq!(db.query::<Item>().filter(Item::group().eq(g)).count().await.unwrap(), want, "group {g}");
        for upto in [0, 1, want, want + 1] {
            let q = db.query::<Item>().filter(Item::group().eq(g));
            assert_eq!(q.count_upto(upto).await.unwrap(), want.min(upto), "group {g} upto {upto}");
        }
        let want = items.iter().filter(|i| i.group == g || i.group == g + 1).count() as u64;
        let q = db.query::<Item>().filter(Item::group().is_in([g, g + 1]));
        assert_eq!(q.count().await.unwrap(), want, "groups {g} and {}", g + 1);
        let want = items.iter().filter(|i| i.group == g && i.kind == 2).count() as u64;
        let q = db.query::<Item>().filter(Item::group().eq(g)).filter(Item::kind().eq(2));
        assert_eq!(q.count().await.unwrap(), want);
    }
    let want = items.iter().filter(|i| i.score == items[7].score).count() as u64;
    assert_eq!(db.query::<Item>().filter(Item::score().eq(items[7].score)).count().await.unwrap(), want);
    assert_eq!(db.query::<Item>().count().await.unwrap(), 500);
    assert_eq!(db.query::<Item>().count_upto(17).await.unwrap(), 17);
    db.delete_many::<Item, _>([3i64, 4, 5]).await.unwrap();
    assert_eq!(db.query::<Item>().count().await.unwrap(), 497);
}

/// A query in a transaction reads as a plain one does: `order_by(indexed).limit(10)` reads
/// eleven index members, not the collection, and the commit still sees a concurrent write.
#[tokio::test]
async fn a_query_in_a_transaction_reads_the_index_in_order_and_stops() {
    let (redis, db, mut items) = seeded(2_000).await;
    items.sort_by_key(|i| i.score);
    let lowest = ids(&items[..10]);
    let (r, spent) = cost(
        &redis,
        db.transaction(|tx| async move {
            tx.query(nonrel_runtime::Query::<Item>::new().order_by(Item::score().asc()).limit(10)).await
        })
        .into_future(),
    )
    .await;
    assert_eq!(ids(&r.unwrap()), lowest);
    // One read script (eleven members), then the commit script checking the write count.
    assert_eq!(spent, Stats { round_trips: 2, commands: 2, entries_read: 11 });
    // A filtered page in key order stops too.
    let (r, spent) = cost(
        &redis,
        db.transaction(|tx| async move {
            tx.query(nonrel_runtime::Query::<Item>::new().filter(Item::kind().eq(3)).limit(5)).await
        })
        .into_future(),
    )
    .await;
    assert_eq!(r.unwrap().len(), 5);
    assert!(spent.entries_read < 100, "{spent:?}");
    // A write between the transaction's query and its commit is a conflict, and the retry
    // sees it.
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let (db2, t) = (db.clone(), tries.clone());
    let got = db
        .transaction(move |tx| {
            let (db2, t) = (db2.clone(), t.clone());
            async move {
                let rows =
                    tx.query(nonrel_runtime::Query::<Item>::new().order_by(Item::score().asc()).limit(1)).await?;
                if t.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    let mut low = Item { id: 9_999, score: -1, group: 0, kind: 0 };
                    db2.save(&mut low).await?;
                }
                Ok(ids(&rows))
            }
        })
        .await
        .unwrap();
    assert_eq!(got, vec![9_999]);
    assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 2);
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
