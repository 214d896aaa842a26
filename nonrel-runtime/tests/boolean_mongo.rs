//! OR and NOT on MongoDB: one command, whatever the number of branches.

mod support;

use nonrel_runtime::{Model, Query};
use support::{monitored, take};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bool_orders")]
struct Order {
    #[field(key)]
    id: i64,
    #[field(index)]
    status: String,
    #[field(index)]
    customer: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_or_and_a_not_cost_one_command() {
    let (db, seen) = monitored("bool").await;
    let mut records: Vec<Order> =
        (0..100).map(|i| Order { id: i, status: ["new", "paid"][(i % 2) as usize].into(), customer: i % 10 }).collect();
    db.save_many(&mut records).await.expect("save");
    take(&seen);
    let q = Query::<Order>::new()
        .filter(Order::status().eq("paid") | Order::customer().eq(4) | Order::customer().eq(6))
        .filter(!Order::id().lt(50));
    let found = db.query::<Order>().with(q.clone()).all().await.expect("query");
    assert_eq!(take(&seen), ["find"], "one command");
    let want: Vec<&Order> =
        records.iter().filter(|o| (o.status == "paid" || o.customer == 4 || o.customer == 6) && o.id >= 50).collect();
    assert_eq!(found.iter().collect::<Vec<_>>(), want);
    assert_eq!(db.query::<Order>().with(q).count().await.expect("count"), want.len() as u64);
    assert_eq!(take(&seen).len(), 1, "a count is one command too");
}
