//! Annotations on MongoDB: the commands sent, counted with the driver's command monitoring.
//! `len` sends nothing more; each `count_of` one `find` of the referring collection whatever
//! the number of rows, split at the `in` limit.

mod support;

use nonrel_runtime::{annotate, Database, Key, Model, Mongo, Ref};
use support::{monitored, take};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rt_an_posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    n: i64,
    tags: Vec<String>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "rt_an_comments")]
struct Comment {
    #[field(key)]
    id: Option<Key<Comment>>,
    #[field(index)]
    post: Ref<Post>,
    approved: bool,
}

/// 100 posts with `n % 4` tags; post `n` has `n % 3` comments.
async fn seed(db: &Database<Mongo>) {
    let mut posts: Vec<Post> =
        (0..100).map(|n| Post { id: None, n, tags: (0..n % 4).map(|t| t.to_string()).collect() }).collect();
    let keys = db.save_many(&mut posts).await.unwrap();
    let mut comments: Vec<Comment> = (0..100usize)
        .flat_map(|n| (0..n % 3).map(move |c| (n, c)))
        .map(|(n, c)| Comment { id: None, post: keys[n].clone().into(), approved: c == 0 })
        .collect();
    db.save_many(&mut comments).await.unwrap();
}

#[tokio::test]
async fn count_of_costs_one_find_for_any_number_of_rows() {
    let (db, seen) = monitored("annotate").await;
    seed(&db).await;
    for rows in [1, 100] {
        take(&seen);
        let found = db
            .query::<Post>()
            .order_by(Post::n().asc())
            .limit(rows)
            .annotate("n_tags", annotate::len(Post::tags()))
            .annotate("comments", annotate::count_of(Comment::post()))
            .rows()
            .await
            .unwrap();
        assert_eq!(found.len(), rows);
        for r in &found {
            assert_eq!(r.annotation_as::<u64>("n_tags").unwrap(), Some(r.record.n as u64 % 4));
            assert_eq!(r.annotation_as::<u64>("comments").unwrap(), Some(r.record.n as u64 % 3));
        }
        assert_eq!(take(&seen), ["find", "find"], "{rows} rows: the query, then one find of the comments");
    }
    let split = db.clone().with_max_in_values(30);
    take(&seen);
    let found = split.query::<Post>().annotate("comments", annotate::count_of(Comment::post())).rows().await.unwrap();
    assert!(found.iter().all(|r| r.annotation_as::<u64>("comments").unwrap() == Some(r.record.n as u64 % 3)));
    assert_eq!(take(&seen), ["find", "find", "find", "find", "find"], "the query, then 100 keys in parts of 30");
}
