//! Maintained counts on the embedded backend: a count that is an equality on a declared
//! grouping reads its counter (a constant number of reads at any size), transactions keep
//! the counters, and a damaged counter is reported and rebuilt.

use nonrel_runtime::{Database, Key, Model, Query};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "counted_posts", count_by(author), count_by("author", "live"), count_by())]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    author: String,
    live: bool,
    words: u32,
}

fn post(author: &str, live: bool, words: u32) -> Post {
    Post { id: None, author: author.into(), live, words }
}

/// The same collection, as a program that declares no counter stores it.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "later_counted")]
struct Plain {
    #[field(key)]
    id: Option<Key<Plain>>,
    author: String,
}

/// A later version of the program that counts by author.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "later_counted", count_by(author))]
struct Counted {
    #[field(key)]
    id: Option<Key<Counted>>,
    author: String,
}

async fn posts(db: &Database<nonrel_runtime::Redb>, n: u32) {
    let mut batch: Vec<Post> = (0..n).map(|i| post(["ann", "bob", "cy"][(i % 3) as usize], i % 2 == 0, i)).collect();
    db.save_many(&mut batch).await.unwrap();
}

#[tokio::test]
async fn a_count_on_a_grouping_reads_one_counter_at_any_size() {
    let mut read_at = Vec::new();
    for n in [30, 3000] {
        let db = Database::in_memory().unwrap();
        posts(&db, n).await;
        let by_ann = Query::<Post>::new().filter(Post::author().eq("ann"));
        let explain = db.backend().explain_count(&by_ann, None).unwrap();
        assert_eq!(explain.counter, Some("author"), "{n} records");
        assert_eq!(explain.records_read, 0);
        read_at.push(explain.entries_read);
        let ann = db.query::<Post>().filter(Post::author().eq("ann")).count().await.unwrap();
        assert_eq!(ann, u64::from(n.div_ceil(3)));

        let both = Query::<Post>::new().filter(Post::live().eq(true)).filter(Post::author().eq("bob"));
        assert_eq!(db.backend().explain_count(&both, None).unwrap().counter, Some("author,live"));
        let all = Query::<Post>::new();
        let explain = db.backend().explain_count(&all, None).unwrap();
        assert_eq!((explain.counter, explain.entries_read), (Some(""), 1));
        assert_eq!(db.query::<Post>().count().await.unwrap(), u64::from(n));

        // Not a declared grouping: counted by reading records.
        let other = Query::<Post>::new().filter(Post::words().gte(0));
        let explain = db.backend().explain_count(&other, None).unwrap();
        assert_eq!((explain.counter, explain.entries_read), (None, u64::from(n)));
    }
    assert_eq!(read_at, [1, 1], "one counter group read at either size");
}

#[tokio::test]
async fn transactions_keep_the_counters() {
    let db = Database::in_memory().unwrap();
    let mut ann = post("ann", true, 1);
    let key = db.save(&mut ann).await.unwrap();
    db.transaction(move |tx| {
        let key = key.clone();
        async move {
            tx.save(&mut post("bob", true, 2)).await?;
            let mut moved = tx.get(key).await?.expect("saved");
            moved.author = "bob".into();
            tx.save(&mut moved).await?;
            Ok(())
        }
    })
    .await
    .unwrap();
    let count = |a: &'static str| db.query::<Post>().filter(Post::author().eq(a)).count();
    assert_eq!((count("ann").await.unwrap(), count("bob").await.unwrap()), (0, 2));
    // A transaction that fails writes no count either.
    let failed: nonrel_runtime::Result<()> = db
        .transaction(move |tx| async move {
            tx.save(&mut post("cy", true, 3)).await?;
            Err(nonrel_runtime::Error::new(nonrel_runtime::ErrorKind::Unsupported, "give up"))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(count("cy").await.unwrap(), 0);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

#[tokio::test]
async fn a_counter_declared_after_records_counts_them_once_filled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.db");
    {
        let db = Database::open(&path).unwrap();
        let mut old: Vec<Plain> =
            ["ann", "bob", "ann"].iter().map(|a| Plain { id: None, author: (*a).into() }).collect();
        db.save_many(&mut old).await.unwrap();
    }
    {
        // As a program that declared no counter left the store: no counter, no marker.
        let raw = redb::Database::open(&path).unwrap();
        let tx = raw.begin_write().unwrap();
        tx.delete_table(redb::TableDefinition::<&[u8], i64>::new("counters:later_counted")).unwrap();
        tx.open_table(redb::TableDefinition::<&str, u8>::new("nonrel:built-indexes"))
            .unwrap()
            .remove("counters:later_counted:author")
            .unwrap()
            .expect("the counter's marker");
        tx.commit().unwrap();
    }
    let db = Database::open(&path).unwrap();
    let by_ann = Query::<Counted>::new().filter(Counted::author().eq("ann"));
    // Not filled yet: the count reads records, and is right.
    assert_eq!(db.backend().explain_count(&by_ann, None).unwrap().counter, None);
    assert_eq!(db.query::<Counted>().filter(Counted::author().eq("ann")).count().await.unwrap(), 2);
    // The first write to the collection fills the counter.
    db.save(&mut Counted { id: None, author: "ann".into() }).await.unwrap();
    assert_eq!(db.backend().explain_count(&by_ann, None).unwrap().counter, Some("author"));
    assert_eq!(db.query::<Counted>().filter(Counted::author().eq("ann")).count().await.unwrap(), 3);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// A model that declares no counter but shares the collection of one that does moves the
/// counted groups with every write, so counts through the counting model stay exact.
#[tokio::test]
async fn writes_through_a_model_without_counters_keep_the_collections_counters() {
    let db = Database::in_memory().unwrap();
    let count = |author: &'static str| {
        let db = &db;
        async move { db.query::<Counted>().filter(Counted::author().eq(author)).count().await.unwrap() }
    };
    db.save(&mut Counted { id: None, author: "ann".into() }).await.unwrap();
    let mut plain = Plain { id: None, author: "ann".into() };
    db.save(&mut plain).await.unwrap();
    assert_eq!(count("ann").await, 2);
    plain.author = "bob".into();
    db.save(&mut plain).await.unwrap();
    assert_eq!((count("ann").await, count("bob").await), (1, 1));
    db.delete::<Plain>(plain.id.clone().unwrap()).await.unwrap();
    assert_eq!((count("ann").await, count("bob").await), (1, 0));
    let by_ann = Query::<Counted>::new().filter(Counted::author().eq("ann"));
    assert_eq!(db.backend().explain_count(&by_ann, None).unwrap().counter, Some("author"));
    assert!(db.integrity_check().await.unwrap().is_ok());
}

type RawCounters = redb::TableDefinition<'static, &'static [u8], i64>;
const COUNTERS: RawCounters = redb::TableDefinition::new("counters:counted_posts");

#[tokio::test]
async fn a_damaged_counter_is_reported_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counters.db");
    {
        let db = Database::open(&path).unwrap();
        posts(&db, 9).await;
        assert!(db.integrity_check().await.unwrap().is_ok());
    }
    {
        // Through the raw store: ann's counter gains two.
        let raw = redb::Database::open(&path).unwrap();
        let tx = raw.begin_write().unwrap();
        {
            let mut table = tx.open_table(COUNTERS).unwrap();
            let mut key = b"author\0".to_vec();
            key.extend(nonrel_runtime::order::encoded(&nonrel_runtime::Value::String("ann".into())));
            let now = redb::ReadableTable::get(&table, key.as_slice()).unwrap().expect("ann's counter").value();
            assert_eq!(now, 3);
            table.insert(key.as_slice(), now + 2).unwrap();
        }
        tx.commit().unwrap();
    }
    let db = Database::open(&path).unwrap();
    assert_eq!(db.query::<Post>().filter(Post::author().eq("ann")).count().await.unwrap(), 5, "read from the counter");
    let report = db.integrity_check().await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let problem = &report.problems[0];
    assert_eq!((problem.model, problem.index), ("Post", "author"));
    assert!(problem.message.contains("author = \"ann\"") && problem.message.contains("holds 5"), "{}", problem.message);
    db.rebuild_indexes().await.unwrap();
    assert!(db.integrity_check().await.unwrap().is_ok());
    assert_eq!(db.query::<Post>().filter(Post::author().eq("ann")).count().await.unwrap(), 3);
}

#[tokio::test]
async fn compare_and_set_writes_move_and_remove_records_between_groups() {
    use nonrel_runtime::backend::{Backend, SwapItem};
    let db = Database::in_memory().unwrap();
    let mut ann = post("ann", true, 1);
    let a = db.save(&mut ann).await.unwrap();
    let mut cy = post("cy", false, 2);
    let c = db.save(&mut cy).await.unwrap();
    let raw = |k: &Key<Post>| {
        let rows = db.backend().get_many(Post::DESC, vec![k.value().clone()]);
        async move { rows.await.unwrap().pop().flatten().expect("stored") }
    };
    let (ann_doc, cy_doc) = (raw(&a).await, raw(&c).await);
    let mut moved = Vec::new();
    Model::encode(&post("bob", true, 1), &mut moved).unwrap();
    let items = vec![
        SwapItem { key: a.value().clone(), expected: ann_doc, doc: Some(moved) },
        SwapItem { key: c.value().clone(), expected: cy_doc, doc: None },
    ];
    db.backend().swap(Post::DESC, items).await.unwrap();
    let count = |a: &'static str| db.query::<Post>().filter(Post::author().eq(a)).count();
    let counts = (count("ann").await.unwrap(), count("bob").await.unwrap(), count("cy").await.unwrap());
    assert_eq!(counts, (0, 1, 0));
    assert_eq!(db.query::<Post>().count().await.unwrap(), 1);
    assert!(db.integrity_check().await.unwrap().is_ok());
}
