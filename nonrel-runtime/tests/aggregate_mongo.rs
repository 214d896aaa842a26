//! Aggregates, distinct values and value projections on MongoDB: round trips counted with
//! the driver's command monitoring.

mod support;

use support::{monitored, take};

use nonrel_runtime::aggregate::{Avg, Count, Max, Min, Sum};
use nonrel_runtime::query::Direction;
use nonrel_runtime::{Key, Model, Ref};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "agg_users")]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    #[field(index)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "agg_posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    category: String,
    views: i64,
    author: Ref<User>,
}

#[tokio::test]
async fn aggregates_distinct_and_values_cost_one_round_trip() {
    let (db, seen) = monitored("agg").await;
    let mut users: Vec<User> = (0..3).map(|i| User { id: None, name: format!("user {i}") }).collect();
    let keys = db.save_many(&mut users).await.unwrap();
    let mut posts: Vec<Post> = (0..30)
        .map(|n| Post {
            id: None,
            category: format!("c{}", n % 4),
            views: n,
            author: keys[n as usize % 3].clone().into(),
        })
        .collect();
    db.save_many(&mut posts).await.unwrap();
    take(&seen);

    let q = || db.query::<Post>();
    let all = q().aggregate((Count, Sum(Post::views()), Avg(Post::views()), Min(Post::views()), Max(Post::views())));
    assert_eq!(all.await.unwrap(), (30, 435, Some(14.5), Some(0), Some(29)));
    assert_eq!(take(&seen), ["aggregate"]);

    let top =
        q().group_by(Post::category()).aggregate(Sum(Post::views())).order_by_aggregate(0, Direction::Desc).limit(2);
    assert_eq!(top.await.unwrap(), [("c1".to_string(), 120), ("c0".to_string(), 112)]);
    assert_eq!(take(&seen), ["aggregate"], "grouped, ordered and limited in the pipeline");

    let per_author = q().group_by(Post::author()).count().await.unwrap();
    assert_eq!(per_author.len(), 3);
    assert_eq!(take(&seen), ["aggregate"]);

    assert_eq!(q().distinct(Post::category()).await.unwrap(), ["c0", "c1", "c2", "c3"]);
    assert_eq!(take(&seen), ["aggregate"]);

    let few = q().filter(Post::views().lt(2i64)).values((Post::category(), Post::views())).await.unwrap();
    assert_eq!(few, [("c0".to_string(), 0), ("c1".to_string(), 1)]);
    assert_eq!(take(&seen), ["find"]);

    let by_name = q().filter(Post::author().join(User::name()).eq("user 1")).sum(Post::views()).await.unwrap();
    assert_eq!(by_name, (0..30).filter(|n| n % 3 == 1).sum::<i64>());
    assert_eq!(take(&seen), ["find", "aggregate"], "the join's keys, then the aggregate");
}

#[tokio::test]
async fn integer_sums_are_exact_past_what_a_double_holds() {
    let (db, _seen) = monitored("agg").await;
    let author: Ref<User> = Key::<User>::from_value(nonrel_runtime::KeyValue::Str("x".into())).into();
    let mut posts: Vec<Post> = [(1i64 << 62) + 1, (1i64 << 62) + 1, 1]
        .into_iter()
        .map(|views| Post { id: None, category: "c".into(), views, author: author.clone() })
        .collect();
    db.save_many(&mut posts).await.unwrap();
    // MongoDB's own $sum gives a double here, 2^63 rounded; the exact sum is past i64::MAX.
    let e = db.query::<Post>().sum(Post::views()).await.unwrap_err();
    assert!(e.to_string().contains("views"), "{e}");
    let two = db.query::<Post>().filter(Post::views().gt(1i64)).sum(Post::views()).await.unwrap_err();
    assert!(two.to_string().contains("Post"), "{two}");
    let exact = db.query::<Post>().filter(Post::views().lt(1i64 << 62)).sum(Post::views()).await.unwrap();
    assert_eq!(exact, 1);
}
