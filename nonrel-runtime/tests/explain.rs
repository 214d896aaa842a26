//! What `explain` shows on the embedded backend beyond the query's own access path: each
//! annotation and how it is computed (from the row, or one more query counted by key, with
//! that query explained), and conditions across a `Ref` inside an OR or a NOT resolved into
//! `in` lookups on the `Ref` before the query is explained.

use nonrel_runtime::annotate::{self, AnnotationRun};
use nonrel_runtime::{Database, Key, Model, Query, Redb, Ref};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "ex_posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    n: i64,
    tags: Vec<String>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "ex_comments")]
struct Comment {
    #[field(key)]
    id: Option<Key<Comment>>,
    #[field(index)]
    post: Ref<Post>,
    approved: bool,
}

/// Refers to a post through a field without an index.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "ex_links")]
struct Link {
    #[field(key)]
    id: Option<Key<Link>>,
    post: Ref<Post>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "ex_users")]
struct User {
    #[field(key)]
    id: Option<Key<User>>,
    #[field(index)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "ex_memos", join_in_memory(author))]
struct Memo {
    #[field(key)]
    id: Option<Key<Memo>>,
    #[field(index)]
    text: String,
    #[field(index)]
    author: Option<Ref<User>>,
}

/// 20 posts (`n` 0 to 19, `n % 3` tags); post `n` has `n % 4` comments and one link.
async fn seed(db: &Database<Redb>) {
    let mut posts: Vec<Post> =
        (0..20).map(|n| Post { id: None, n, tags: (0..n % 3).map(|t| t.to_string()).collect() }).collect();
    let keys = db.save_many(&mut posts).await.unwrap();
    let mut comments: Vec<Comment> = (0..20usize)
        .flat_map(|n| (0..n % 4).map(move |c| (n, c)))
        .map(|(n, c)| Comment { id: None, post: keys[n].clone().into(), approved: c == 0 })
        .collect();
    db.save_many(&mut comments).await.unwrap();
    let mut links: Vec<Link> = keys.iter().map(|k| Link { id: None, post: k.clone().into() }).collect();
    db.save_many(&mut links).await.unwrap();
}

#[tokio::test]
async fn explain_lists_each_annotation_and_how_it_runs() {
    let db = Database::in_memory().unwrap();
    seed(&db).await;
    let q = || {
        db.query::<Post>()
            .filter(Post::n().lt(10))
            .annotate("n_tags", annotate::len(Post::tags()))
            .annotate("comments", annotate::count_of(Comment::post()))
            .annotate("approved", annotate::count_of(Comment::post()).filter(Comment::approved().eq(true)))
            .annotate("links", annotate::count_of(Link::post()))
    };
    let explain = q().explain().unwrap();
    assert_eq!(explain.index, Some("n"), "the rows' own access path is unchanged");
    let names: Vec<&str> = explain.annotations.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["n_tags", "comments", "approved", "links"], "in the order asked for");
    assert_eq!(explain.annotations[0].runs, AnnotationRun::FromRow);
    // Posts 0 to 9 have 0+1+2+3+0+1+2+3+0+1 = 13 comments, one approved for each with any.
    let count = |at: usize| match &explain.annotations[at].runs {
        AnnotationRun::CountByKey { model, reference, queries, read } => {
            (*model, reference.clone(), *queries, read.clone())
        }
        other => panic!("{other:?}"),
    };
    let (model, reference, queries, read) = count(1);
    assert_eq!((model, reference.as_str(), queries), ("Comment", "post", 1), "one query for the whole result");
    assert_eq!((read.index, read.ranges, read.entries_read, read.records_read), (Some("post"), 10, 13, 13));
    let (_, _, queries, read) = count(2);
    assert_eq!(queries, 1);
    assert_eq!((read.index, read.entries_read, read.records_read), (Some("post"), 13, 13), "filtered as it reads");
    let (model, _, queries, read) = count(3);
    assert_eq!((model, queries), ("Link", 1));
    assert_eq!((read.index, read.records_read), (None, 20), "no index on the reference: a scan of the links");

    // The `in` limit splits the count's query: 10 keys at 4 a command are 3 commands.
    let split = db.clone().with_max_in_values(4);
    let q = split.query::<Post>().filter(Post::n().lt(10)).annotate("c", annotate::count_of(Comment::post()));
    let AnnotationRun::CountByKey { queries, .. } = &q.explain().unwrap().annotations[0].runs else { panic!() };
    assert_eq!(*queries, 3);

    // No rows: nothing is sent.
    let none = db.query::<Post>().filter(Post::n().gt(100)).annotate("c", annotate::count_of(Comment::post()));
    let AnnotationRun::CountByKey { queries, .. } = &none.explain().unwrap().annotations[0].runs else { panic!() };
    assert_eq!(*queries, 0);

    // The backend's explain of a detached query says the same; a query without annotations
    // and a count list none.
    let detached = Query::<Post>::new().filter(Post::n().lt(10)).annotate("n_tags", annotate::len(Post::tags()));
    assert_eq!(db.backend().explain(&detached).unwrap().annotations[0].runs, AnnotationRun::FromRow);
    assert!(db.query::<Post>().explain().unwrap().annotations.is_empty());
    assert!(db.backend().explain_count(&detached, None).unwrap().annotations.is_empty());
}

#[tokio::test]
async fn explain_resolves_joins_inside_ors_and_nots() {
    let db = Database::in_memory().unwrap();
    let mut users = vec![User { id: None, name: "ann".into() }, User { id: None, name: "bob".into() }];
    let keys = db.save_many(&mut users).await.unwrap();
    let mut memos: Vec<Memo> = (0..30)
        .map(|i| Memo { id: None, text: format!("m{i:02}"), author: Some(keys[i % 2].clone().into()) })
        .collect();
    db.save_many(&mut memos).await.unwrap();
    let by_ann = || Memo::author().join(User::name()).eq("ann").require();
    // Each branch reads its own index: the author's, with ann's key, and the text's.
    let q = db.query::<Memo>().filter(by_ann() | Memo::text().eq("m01"));
    let explain = q.explain().unwrap();
    assert_eq!(explain.branches.len(), 2, "{explain:?}");
    assert_eq!((explain.branches[0].index, explain.branches[0].ranges), (Some("author"), 1));
    assert_eq!(explain.branches[0].entries_read, 15);
    assert_eq!((explain.branches[1].index, explain.branches[1].entries_read), (Some("text"), 1));
    assert_eq!(q.count().await.unwrap(), 16);
    // A condition no user matches leaves its branch out: one branch, no scan.
    let q =
        db.query::<Memo>().filter(Memo::author().join(User::name()).eq("nobody").require() | Memo::text().eq("m01"));
    let explain = q.explain().unwrap();
    assert_eq!((explain.index, explain.entries_read), (Some("text"), 1), "{explain:?}");
    // A NOT is checked on the rows the rest of the query reads.
    let q = db.query::<Memo>().filter(Memo::text().startswith("m0")).filter(!by_ann());
    assert_eq!(q.explain().unwrap().index, Some("text"));
    assert_eq!(q.count().await.unwrap(), 5);
}
