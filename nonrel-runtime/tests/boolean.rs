//! OR and NOT on the embedded backend: each branch of an OR reads its own index (never a
//! scan), and what runs where shows in `explain`.

use nonrel_runtime::query::any;
use nonrel_runtime::{Database, Model, Query, Redb};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bool_orders")]
struct Order {
    #[field(key)]
    id: i64,
    #[field(index)]
    status: String,
    #[field(index)]
    customer: i64,
    note: String,
}

const STATUSES: [&str; 4] = ["new", "paid", "sent", "done"];

async fn orders(n: i64) -> Database<Redb> {
    let db = Database::in_memory().expect("database");
    let mut records: Vec<Order> = (0..n)
        .map(|i| Order { id: i, status: STATUSES[(i % 4) as usize].into(), customer: i % 50, note: format!("n{i}") })
        .collect();
    db.save_many(&mut records).await.expect("save");
    db
}

#[tokio::test]
async fn each_branch_of_an_or_reads_its_own_index() {
    let db = orders(2_000).await;
    let q = Query::<Order>::new().filter(Order::status().eq("paid") | Order::customer().eq(7));
    let explain = db.backend().explain(&q).expect("explain");
    assert_eq!(explain.branches.len(), 2, "{explain:?}");
    assert_eq!(explain.branches[0].index, Some("status"));
    assert_eq!(explain.branches[1].index, Some("customer"));
    // Each branch reads exactly its matches: 500 paid orders, 40 orders of customer 7.
    assert_eq!(explain.branches[0].entries_read, 500);
    assert_eq!(explain.branches[1].entries_read, 40);
    assert_eq!(explain.entries_read, 540);
    assert_eq!(explain.index, None, "the merge has no one index");
    // Half of customer 7's orders (ids 57, 157, …) are paid too: each is returned once.
    let found = db.query::<Order>().with(q).all().await.expect("query");
    let want = (0..2_000).filter(|i| i % 4 == 1 || i % 50 == 7).count();
    assert_eq!((found.len(), want), (520, 520));
    assert!(found.windows(2).all(|w| w[0].id < w[1].id), "in key order");
}

#[tokio::test]
async fn a_limited_or_reads_at_most_the_window_from_each_branch() {
    let db = orders(2_000).await;
    // In key order, each branch's index range is in key order too: each stops after 5.
    let q = Query::<Order>::new().filter(any([Order::status().eq("paid"), Order::customer().eq(7)])).limit(5);
    let explain = db.backend().explain(&q).expect("explain");
    assert!(explain.branches.iter().all(|b| b.entries_read <= 5), "{explain:?}");
    let found = db.query::<Order>().with(q).all().await.expect("query");
    let ids: Vec<i64> = found.iter().map(|o| o.id).collect();
    assert_eq!(ids, [1, 5, 7, 9, 13], "paid: 1, 5, 9, 13, …; customer 7: 7, 57, …");
}

#[tokio::test]
async fn a_not_beside_an_indexed_condition_reads_that_index() {
    let db = orders(2_000).await;
    let q = Query::<Order>::new().filter(Order::customer().eq(8)).filter(!Order::status().eq("new"));
    let explain = db.backend().explain(&q).expect("explain");
    assert_eq!((explain.index, explain.entries_read), (Some("customer"), 40), "{explain:?}");
    let found = db.query::<Order>().with(q).all().await.expect("query");
    // Customer 8's ids are 8, 58, 108, …: i % 4 is 0 for every other one.
    assert_eq!(found.len(), 20);
    assert!(found.iter().all(|o| o.customer == 8 && o.status != "new"));
}

#[tokio::test]
async fn an_or_that_matches_nothing_reads_nothing() {
    let db = orders(100).await;
    let q = Query::<Order>::new().filter(any::<Order, _>([]));
    assert!(db.query::<Order>().with(q.clone()).all().await.expect("query").is_empty());
    assert_eq!(db.query::<Order>().with(q).count().await.expect("count"), 0);
}
