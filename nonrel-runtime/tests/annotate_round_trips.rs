//! Annotations cost what they say, on the embedded backend: `len` no round trip, each
//! `count_of` one query of the referring model whatever the number of rows, split at the
//! `in` limit as every large `in` lookup is. Counted from the store commands' spans
//! (`nonrel.round_trips`), with the subscriber in `spans/`.

mod spans;

use nonrel_runtime::{annotate, Database, Key, Model, Ref};
use spans::Collect;

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

/// 100 posts with `n % 4` tags; post `n` has `n % 3` comments, the first approved.
async fn seed(db: &Database<nonrel_runtime::Redb>) {
    let mut posts: Vec<Post> =
        (0..100).map(|n| Post { id: None, n, tags: (0..n % 4).map(|t| t.to_string()).collect() }).collect();
    let keys = db.save_many(&mut posts).await.unwrap();
    let mut comments: Vec<Comment> = (0..100usize)
        .flat_map(|n| (0..n % 3).map(move |c| (n, c)))
        .map(|(n, c)| Comment { id: None, post: keys[n].clone().into(), approved: c == 0 })
        .collect();
    db.save_many(&mut comments).await.unwrap();
}

#[test]
fn count_of_costs_one_round_trip_for_any_number_of_rows() {
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(collect.clone());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let db = Database::in_memory().unwrap();
        seed(&db).await;
        for rows in [1, 10, 100] {
            collect.queries();
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
                let n = r.record.n as u64;
                assert_eq!(r.annotation_as::<u64>("n_tags").unwrap(), Some(n % 4));
                assert_eq!(r.annotation_as::<u64>("comments").unwrap(), Some(n % 3));
            }
            let queries = collect.queries();
            assert_eq!(
                queries,
                [("rt_an_posts".to_owned(), 1), ("rt_an_comments".to_owned(), 1)],
                "{rows} rows: the query, then one query of the comments"
            );
        }

        // Two count_of annotations: one query each; `len` alone: none.
        collect.queries();
        let approved = annotate::count_of(Comment::post()).filter(Comment::approved().eq(true));
        let q = db.query::<Post>().annotate("all", annotate::count_of(Comment::post())).annotate("approved", approved);
        let found = q.rows().await.unwrap();
        for r in &found {
            assert_eq!(r.annotation_as::<u64>("approved").unwrap(), Some(u64::from(r.record.n % 3 > 0)));
        }
        let comments = ("rt_an_comments".to_owned(), 1);
        assert_eq!(collect.queries(), [("rt_an_posts".to_owned(), 1), comments.clone(), comments]);
        db.query::<Post>().annotate("n_tags", annotate::len(Post::tags())).rows().await.unwrap();
        assert_eq!(collect.queries(), [("rt_an_posts".to_owned(), 1)], "len reads the rows themselves");

        // Past the `in` limit the comments' query is split: 100 keys by 30 make four parts.
        let split = db.clone().with_max_in_values(30);
        let found = split.query::<Post>().annotate("comments", annotate::count_of(Comment::post())).rows().await;
        for r in &found.unwrap() {
            assert_eq!(r.annotation_as::<u64>("comments").unwrap(), Some(r.record.n as u64 % 3));
        }
        assert_eq!(collect.queries(), [("rt_an_posts".to_owned(), 1), ("rt_an_comments".to_owned(), 4)]);

        // No rows: nothing to count.
        let none = db.query::<Post>().filter(Post::n().gt(500)).annotate("c", annotate::count_of(Comment::post()));
        assert!(none.rows().await.unwrap().is_empty());
        assert_eq!(collect.queries(), [("rt_an_posts".to_owned(), 1)]);
    });
}
