//! A detached query may carry related selections (the one query builder has them); the places
//! that run a detached query without related records refuse such a query with a clear error
//! instead of dropping the selection silently.

use nonrel_runtime::{Database, ErrorKind, Key, Model, Query, Ref};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "ds_users")]
struct User {
    #[field(key)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "ds_posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    views: i32,
    author: Ref<User>,
}

async fn fixture() -> Database<nonrel_runtime::Redb> {
    let db = Database::in_memory().unwrap();
    db.save(&mut User { name: "ann".into() }).await.unwrap();
    db.save(&mut Post { id: None, views: 5, author: Key::from("ann").into() }).await.unwrap();
    db
}

#[tokio::test]
async fn a_transaction_query_refuses_related_selections() {
    let db = fixture().await;
    let err = db
        .transaction(|tx| async move { tx.query(Query::<Post>::new().select_related(Post::author())).await })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("Post") && err.to_string().contains("related"), "{err}");
    // Without the selection the same query runs.
    let n = db.transaction(|tx| async move { Ok(tx.query(Query::<Post>::new()).await?.len()) }).await.unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_reverse_prefetch_refuses_a_query_with_selections_of_its_own() {
    let db = fixture().await;
    let inner = Query::<Post>::new().select_related(Post::author());
    let err = db.query::<User>().prefetch_reverse_with(Post::author(), inner).rows().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("Post"), "{err}");
    let rows = db.query::<User>().prefetch_reverse_with(Post::author(), Query::<Post>::new()).rows().await.unwrap();
    assert_eq!(rows[0].reverse(Post::author()).unwrap().len(), 1);
}
