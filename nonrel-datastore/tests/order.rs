//! Ordered queries and pages Datastore runs itself: a declared compound index (Datastore's
//! composite index) lets it return a page of an ordered, filtered query reading only that
//! page. Each answer is checked against the same query on a model without the declaration,
//! whose order runs in nonrel's evaluator.

mod support;

use nonrel_datastore::Datastore;
use nonrel_runtime::conformance::Rng;
use nonrel_runtime::{Database, ErrorKind, Key, Model};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "order_posts", compound_index("category", "-views"), compound_index("category", "rank"))]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    category: String,
    #[field(index)]
    views: i64,
    rank: i32,
    title: String,
}

/// The same fields, nothing declared beyond the single-field indexes.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "order_plain")]
struct Plain {
    #[field(key)]
    id: Option<Key<Plain>>,
    #[field(index)]
    category: String,
    #[field(index)]
    views: i64,
    rank: i32,
    title: String,
}

const CATEGORIES: [&str; 4] = ["a", "b", "c", "d"];

async fn fill(ds: &Datastore, n: usize) -> Database<Datastore> {
    let db = Database::new(ds.clone());
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut posts = Vec::new();
    let mut plains = Vec::new();
    for i in 0..n {
        let category = CATEGORIES[rng.below_u64(4) as usize].to_string();
        // Few distinct values: many ties, broken by key.
        let (views, rank) = (rng.below_u64(12) as i64 - 3, rng.below_u64(9) as i32 - 4);
        let title = format!("t{i:04}");
        posts.push(Post { id: None, category: category.clone(), views, rank, title: title.clone() });
        plains.push(Plain { id: None, category, views, rank, title });
    }
    // Saved in the same order, so key order (the tie-break) is the same in both.
    for (p, q) in posts.chunks_mut(50).zip(plains.chunks_mut(50)) {
        db.save_many(p).await.unwrap();
        db.save_many(q).await.unwrap();
    }
    db
}

fn titles_of_posts(v: &[Post]) -> Vec<String> {
    v.iter().map(|p| p.title.clone()).collect()
}

fn titles_of_plains(v: &[Plain]) -> Vec<String> {
    v.iter().map(|p| p.title.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_queries_agree_with_the_evaluator_and_read_only_the_page() {
    let ds = support::backend();
    let db = fill(&ds, 240).await;
    let mut rng = Rng::new(77);
    for round in 0..60 {
        let c = CATEGORIES[rng.below_u64(4) as usize];
        let limit = 1 + rng.below_u64(15) as usize;
        let (posts, plains) = match round % 4 {
            0 => (
                db.query::<Post>()
                    .filter(Post::category().eq(c))
                    .order_by(Post::views().desc())
                    .limit(limit)
                    .all()
                    .await,
                db.query::<Plain>()
                    .filter(Plain::category().eq(c))
                    .order_by(Plain::views().desc())
                    .limit(limit)
                    .all()
                    .await,
            ),
            1 => (
                db.query::<Post>().filter(Post::category().eq(c)).order_by(Post::rank().asc()).limit(limit).all().await,
                db.query::<Plain>()
                    .filter(Plain::category().eq(c))
                    .order_by(Plain::rank().asc())
                    .limit(limit)
                    .all()
                    .await,
            ),
            2 => (
                db.query::<Post>().order_by(Post::views().asc()).limit(limit).all().await,
                db.query::<Plain>().order_by(Plain::views().asc()).limit(limit).all().await,
            ),
            _ => (
                db.query::<Post>().filter(Post::category().eq(c)).limit(limit).all().await,
                db.query::<Plain>().filter(Plain::category().eq(c)).limit(limit).all().await,
            ),
        };
        assert_eq!(titles_of_posts(&posts.unwrap()), titles_of_plains(&plains.unwrap()), "round {round}");
    }
    // The declared order reads the page alone; the undeclared one reads every match.
    let before = ds.rpc_counts();
    let page = db.query::<Post>().filter(Post::category().eq("b")).order_by(Post::views().desc()).limit(10).all().await;
    assert_eq!(page.unwrap().len(), 10);
    let declared = ds.rpc_counts() - before;
    assert_eq!((declared.run_query, declared.entities), (1, 10), "one runQuery reading 10 entities");
    let before = ds.rpc_counts();
    let all_b = db.query::<Plain>().filter(Plain::category().eq("b")).count().await.unwrap();
    let _ = db.query::<Plain>().filter(Plain::category().eq("b")).order_by(Plain::views().desc()).limit(10).all().await;
    let undeclared = ds.rpc_counts() - before;
    assert_eq!(undeclared.entities, all_b, "without the declaration every match is read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_start_at_their_position() {
    let ds = support::backend();
    let db = fill(&ds, 160).await;
    let size = 7;
    for c in ["a", "c"] {
        let expected = titles_of_plains(
            &db.query::<Plain>().filter(Plain::category().eq(c)).order_by(Plain::views().desc()).all().await.unwrap(),
        );
        let mut got = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let before = ds.rpc_counts();
            let builder = db.query::<Post>().filter(Post::category().eq(c)).order_by(Post::views().desc()).page(size);
            let page = match &cursor {
                None => builder.await,
                Some(k) => builder.after(k.clone()).await,
            }
            .unwrap();
            let d = ds.rpc_counts() - before;
            assert!(d.entities <= size as u64 + 1, "a page reads its own entities only: {d:?}");
            got.extend(titles_of_posts(&page.items));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(got.len() <= expected.len(), "pages do not end");
        }
        assert_eq!(got, expected, "pages of {c:?} cover the result once, in order");
    }
    // Key-ordered pages of an equality start from the position's key.
    let expected = titles_of_plains(&db.query::<Plain>().filter(Plain::category().eq("d")).all().await.unwrap());
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let before = ds.rpc_counts();
        let builder = db.query::<Post>().filter(Post::category().eq("d")).page(size);
        let page = match &cursor {
            None => builder.await,
            Some(k) => builder.after(k.clone()).await,
        }
        .unwrap();
        assert!((ds.rpc_counts() - before).entities <= size as u64 + 1);
        got.extend(titles_of_posts(&page.items));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_composite_index_is_a_clear_error_when_required() {
    let ds = support::backend().require_compound_indexes();
    let db = fill(&ds, 20).await;
    let err = db
        .query::<Plain>()
        .filter(Plain::category().eq("a"))
        .order_by(Plain::views().desc())
        .limit(3)
        .all()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let text = err.to_string();
    assert!(text.contains("Plain"), "{text}");
    assert!(text.contains(r#"#[model(compound_index("category", "-views"))]"#), "{text}");
    let err = db.query::<Plain>().order_by(Plain::rank().asc()).all().await.unwrap_err();
    assert!(err.to_string().contains("#[field(index)] on `rank`"), "{err}");
    // Served by built-in or declared indexes: no error.
    db.query::<Plain>().order_by(Plain::views().desc()).limit(3).all().await.unwrap();
    db.query::<Plain>().filter(Plain::category().eq("a")).limit(3).all().await.unwrap();
    db.query::<Post>().filter(Post::category().eq("a")).order_by(Post::views().desc()).all().await.unwrap();
    // Without the requirement the same query reads every match and sorts them.
    let lenient = Database::new(Datastore::from_env(ds.project()).unwrap());
    assert_eq!(lenient.query::<Plain>().order_by(Plain::rank().asc()).all().await.unwrap().len(), 20);
}

#[test]
fn index_yaml_lists_the_declared_composite_indexes() {
    let yaml = Datastore::index_yaml(&[Post::DESC, Plain::DESC]);
    assert_eq!(
        yaml,
        "indexes:\n\
         - kind: order_posts\n  properties:\n  - name: category\n  - name: views\n    direction: desc\n  - name: __key__\n\
         - kind: order_posts\n  properties:\n  - name: category\n  - name: rank\n"
    );
}
