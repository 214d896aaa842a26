//! Deletion cases: nothing cascades by default; declared cascades delete dependents in
//! batches, to any depth, cycles included.
#![allow(missing_docs)]

use crate::backend::capability::Transactions;
use crate::{Backend, Database, Error, ErrorKind, Key, Ref};

#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_del_authors")]
pub struct Writer {
    #[field(key)]
    pub name: String,
}

#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_del_articles")]
pub struct Piece {
    #[field(key)]
    pub id: i64,
    #[field(on_delete = cascade)]
    pub writer: Ref<Writer>,
    pub title: String,
}

/// Deleted with its article, which is deleted with its writer: two levels.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_del_remarks")]
pub struct Remark {
    #[field(key)]
    pub id: Option<Key<Remark>>,
    #[field(index, on_delete = cascade)]
    pub article: Ref<Piece>,
}

/// Refers to articles without a cascade: it stays (no cascade by default).
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_del_mentions")]
pub struct Mention {
    #[field(key)]
    pub id: i64,
    pub article: Ref<Piece>,
    #[field(on_delete = cascade)]
    pub also_in: Vec<Ref<Piece>>,
}

/// A tree (or a cycle) of records deleted with their parent.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_del_nodes")]
pub struct Node {
    #[field(key)]
    pub id: i64,
    #[field(on_delete = cascade)]
    pub parent: Option<Ref<Node>>,
}

const REMARKS: usize = 1_200;

async fn seed_articles<B: Backend>(db: &Database<B>) {
    for name in ["ann", "bob"] {
        db.save(&mut Writer { name: name.into() }).await.unwrap();
    }
    let mut articles: Vec<Piece> = (1..=4)
        .map(|id| Piece { id, writer: Key::from(if id < 4 { "ann" } else { "bob" }).into(), title: format!("a{id}") })
        .collect();
    db.save_many(&mut articles).await.unwrap();
    let mut remarks: Vec<Remark> = (0..REMARKS).map(|_| Remark { id: None, article: Key::from(1i64).into() }).collect();
    remarks.extend((0..5).map(|_| Remark { id: None, article: Key::from(4i64).into() }));
    db.save_many(&mut remarks).await.unwrap();
    let mut mentions = vec![
        Mention { id: 1, article: Key::from(1i64).into(), also_in: vec![] },
        Mention {
            id: 2,
            article: Key::from(4i64).into(),
            also_in: vec![Key::from(9i64).into(), Key::from(2i64).into()],
        },
        Mention { id: 3, article: Key::from(4i64).into(), also_in: vec![Key::from(4i64).into()] },
    ];
    db.save_many(&mut mentions).await.unwrap();
}

async fn remarks_on<B: Backend>(db: &Database<B>, article: i64) -> u64 {
    db.query::<Remark>().filter(Remark::article().eq(Key::from(article))).count().await.unwrap()
}

/// Deleting a record deletes what declares a cascade towards it, in batches and to any
/// depth, and nothing else.
pub async fn declared_cascades_delete_dependents<B: Backend>(db: &Database<B>) {
    seed_articles(db).await;
    assert!(db.delete::<Writer>("ann").await.unwrap());
    let left: Vec<i64> = db.query::<Piece>().all().await.unwrap().iter().map(|a| a.id).collect();
    assert_eq!(left, [4], "ann's articles went with her");
    assert_eq!(remarks_on(db, 1).await, 0, "all {REMARKS} remarks on article 1, over several batches");
    assert_eq!(remarks_on(db, 4).await, 5, "bob's article keeps its remarks");
    let mentions: Vec<i64> = db.query::<Mention>().all().await.unwrap().iter().map(|m| m.id).collect();
    assert_eq!(mentions, [1, 3], "a list of references cascades; a plain reference does not (mention 1 stays)");
    assert!(db.get::<Writer>("bob").await.unwrap().is_some());
    assert!(db.integrity_check().await.unwrap().is_ok());

    // Without a declared cascade nothing else goes: a writer with no articles.
    db.save(&mut Writer { name: "cy".into() }).await.unwrap();
    assert_eq!(db.delete_many::<Writer, _>(["bob", "cy", "nobody"]).await.unwrap(), 2);
    assert_eq!(db.query::<Piece>().count().await.unwrap(), 0);
    assert_eq!(db.query::<Remark>().count().await.unwrap(), 0);
    assert_eq!(db.query::<Mention>().count().await.unwrap(), 1, "only the mention without a cascade is left");
}

/// Cascades through a model's own references end, even around a cycle.
pub async fn cascades_follow_trees_and_cycles<B: Backend>(db: &Database<B>) {
    let node = |id: i64, parent: Option<i64>| Node { id, parent: parent.map(|p| Key::from(p).into()) };
    // A tree under 1, a cycle 10 -> 12 -> 11 -> 10, and a bystander.
    let mut nodes =
        vec![node(1, None), node(2, Some(1)), node(3, Some(1)), node(4, Some(3)), node(5, Some(4)), node(6, None)];
    nodes.extend([node(10, Some(11)), node(11, Some(12)), node(12, Some(10))]);
    db.save_many(&mut nodes).await.unwrap();
    assert!(db.delete::<Node>(1i64).await.unwrap());
    assert!(db.delete::<Node>(10i64).await.unwrap());
    let left: Vec<i64> = db.query::<Node>().all().await.unwrap().iter().map(|n| n.id).collect();
    assert_eq!(left, [6]);
}

/// Inside a transaction a cascade is all or nothing.
pub async fn cascades_in_transactions_are_atomic<B: Transactions>(db: &Database<B>) {
    seed_articles(db).await;
    let err = db
        .transaction(|tx| async move {
            assert!(tx.delete::<Writer>("ann").await?);
            assert_eq!(tx.get::<Piece>(1i64).await?, None);
            Err::<(), _>(Error::new(ErrorKind::Unsupported, "not today"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.message(), "not today");
    assert_eq!(db.query::<Piece>().count().await.unwrap(), 4, "nothing was deleted");
    assert_eq!(remarks_on(db, 1).await, REMARKS as u64);
    db.transaction(|tx| async move { tx.delete::<Writer>("ann").await }).await.unwrap();
    assert_eq!(db.query::<Piece>().count().await.unwrap(), 1);
    assert_eq!(remarks_on(db, 1).await, 0);
    assert_eq!(remarks_on(db, 4).await, 5);
    assert!(db.integrity_check().await.unwrap().is_ok());
}
