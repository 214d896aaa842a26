//! Behaviour specific to the embedded backend: files, reopening, faults, index use.

use nonrel_runtime::{Database, ErrorKind, Key, Model, Query};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "notes")]
struct Note {
    #[field(key)]
    id: Option<Key<Note>>,
    #[field(index)]
    title: String,
    #[field(unique)]
    slug: String,
    words: u32,
}

/// A draft, as the first version of a program stores it.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "drafts")]
struct Draft {
    #[field(key)]
    id: Option<Key<Draft>>,
    words: u32,
}

/// The same collection seen by a later version of the program that indexes `words`.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "drafts")]
struct DraftV2 {
    #[field(key)]
    id: Option<Key<DraftV2>>,
    #[field(index)]
    words: u32,
}

fn note(title: &str, words: u32) -> Note {
    Note { id: None, title: title.into(), slug: title.to_lowercase().replace(' ', "-"), words }
}

#[tokio::test]
async fn reopening_the_file_finds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (first, second) = {
        let db = Database::open(&path).unwrap();
        let mut a = note("First note", 10);
        let mut b = note("Second note", 20);
        (db.save(&mut a).await.unwrap(), db.save(&mut b).await.unwrap())
    };
    let db = Database::open_existing(&path).unwrap();
    assert_eq!(db.get(&first).await.unwrap().unwrap().title, "First note");
    let by_title = db.query::<Note>().filter(Note::title().eq("Second note")).all().await.unwrap();
    assert_eq!(by_title[0].id.as_ref(), Some(&second));
    let mut c = note("Third note", 30);
    let third = db.save(&mut c).await.unwrap();
    assert!(third != first && third != second, "the key sequence continues after reopening");
    assert!(db.integrity_check().await.unwrap().is_ok());
}

#[tokio::test]
async fn a_file_open_elsewhere_is_a_locked_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let _held = Database::open(&path).unwrap();
    let err = Database::open(&path).err().expect("second open fails");
    assert_eq!(err.kind(), ErrorKind::Locked);
    assert!(err.to_string().contains("locked.db"), "{err}");
}

#[tokio::test]
async fn a_corrupt_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Database::open(&path).err().expect("garbage is not a database");
    assert!(matches!(err.kind(), ErrorKind::Corrupt | ErrorKind::Storage), "{err:?}");
    assert!(err.to_string().contains("corrupt.db"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 8192], "the file is left as it was");
}

#[tokio::test]
async fn a_missing_file_or_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Database::open_existing(dir.path().join("absent.db")).err().expect("missing file");
    assert!(err.to_string().contains("absent.db"), "{err}");
    let err = Database::open(dir.path().join("no/such/dir/app.db")).err().expect("missing directory");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[tokio::test]
async fn indexed_filters_read_the_index_and_others_scan() {
    let db = Database::in_memory().unwrap();
    db.save(&mut note("x", 1)).await.unwrap();
    let explain = |q: Query<Note>| db.backend().explain(&q).unwrap();
    let eq = explain(Query::new().filter(Note::title().eq("x")));
    assert_eq!((eq.index, eq.ranges), (Some("title"), 1));
    assert_eq!(explain(Query::new().filter(Note::title().is_in(["a", "b", "a"]))).ranges, 2);
    assert_eq!(explain(Query::new().filter(Note::title().startswith("x"))).index, Some("title"));
    assert_eq!(explain(Query::new().filter(Note::slug().gt("m"))).index, Some("slug"));
    assert_eq!(explain(Query::new().filter(Note::words().eq(3u32))).index, None);
    let walk = explain(Query::new().order_by(Note::title().desc()).limit(5));
    assert!(walk.ordered && walk.index == Some("title"));
    assert_eq!(explain(Query::new().filter(Note::words().gt(1u32)).filter(Note::title().eq("x"))).index, Some("title"));
}

#[tokio::test]
async fn an_index_declared_later_is_filled_before_it_is_used() {
    let db = Database::in_memory().unwrap();
    for i in 0..5 {
        db.save(&mut Draft { id: None, words: i % 2 }).await.unwrap();
    }
    let by_words = Query::<DraftV2>::new().filter(DraftV2::words().eq(1u32));
    assert_eq!(db.backend().explain(&by_words).unwrap().index, None, "not filled yet: scan");
    assert_eq!(db.query::<DraftV2>().with(by_words.clone()).count().await.unwrap(), 2);
    let report = db.integrity_check().await.unwrap();
    assert!(report.problems.iter().any(|p| p.index == "words" && p.message.contains("rebuild")), "{report:?}");
    let mut later = DraftV2 { id: None, words: 1 };
    db.save(&mut later).await.unwrap();
    assert_eq!(db.backend().explain(&by_words).unwrap().index, Some("words"));
    assert_eq!(
        db.query::<DraftV2>().with(by_words).count().await.unwrap(),
        3,
        "old records are found through the index"
    );
    assert!(db.integrity_check().await.unwrap().is_ok());
}

#[tokio::test]
async fn unique_values_are_checked_against_existing_records() {
    let db = Database::in_memory().unwrap();
    db.save(&mut note("Same", 1)).await.unwrap();
    let err = db.save(&mut note("Same", 2)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation);
    assert!(err.to_string().contains("Note.slug") && err.to_string().contains("\"same\""), "{err}");
    assert_eq!(db.query::<Note>().count().await.unwrap(), 1, "nothing half-written");
    assert!(db.integrity_check().await.unwrap().is_ok());
}

#[test]
fn operations_work_without_an_async_runtime_handle_too() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let db = Database::in_memory().unwrap();
    rt.block_on(async {
        let key = db.save(&mut note("sync", 1)).await.unwrap();
        assert_eq!(db.get(&key).await.unwrap().unwrap().title, "sync");
    });
}

/// Notes whose title index holds the records (`index(covering)`).
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "covered_notes")]
struct CoveredNote {
    #[field(key)]
    id: Option<Key<CoveredNote>>,
    #[field(index(covering))]
    title: String,
    words: u32,
}

/// Outlines, as a program version with a plain index on `words` stores them.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "outlines")]
struct Outline {
    #[field(key)]
    id: Option<Key<Outline>>,
    #[field(index)]
    words: u32,
}

/// The same collection seen by a later version that makes the index covering.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "outlines")]
struct OutlineV2 {
    #[field(key)]
    id: Option<Key<OutlineV2>>,
    #[field(index(covering))]
    words: u32,
}

type RawTable = redb::TableDefinition<'static, nonrel_runtime::StoredKey, &'static [u8]>;
const COVERING_TITLE: RawTable = redb::TableDefinition::new("covering:covered_notes:title");

/// Rewrites every entry of the covering title index with `edit` (the file must be closed).
fn edit_covering_entries(path: &std::path::Path, edit: impl Fn(&mut Vec<u8>)) {
    let raw = redb::Database::open(path).unwrap();
    let tx = raw.begin_write().unwrap();
    {
        let mut table = tx.open_table(COVERING_TITLE).unwrap();
        let entries: Vec<(Vec<u8>, Vec<u8>)> = redb::ReadableTable::iter(&table)
            .unwrap()
            .map(|e| e.map(|(k, v)| (k.value().to_vec(), v.value().to_vec())).unwrap())
            .collect();
        for (k, mut v) in entries {
            edit(&mut v);
            table.insert(k.as_slice(), v.as_slice()).unwrap();
        }
    }
    tx.commit().unwrap();
}

#[tokio::test]
async fn a_covering_index_answers_from_its_entries_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("covering.db");
    {
        let db = Database::open(&path).unwrap();
        let mut notes: Vec<CoveredNote> =
            ["alpha", "beta", "alpha"].iter().map(|t| CoveredNote { id: None, title: (*t).into(), words: 3 }).collect();
        db.save_many(&mut notes).await.unwrap();
        let by_title = Query::<CoveredNote>::new().filter(CoveredNote::title().eq("alpha"));
        let explain = db.backend().explain(&by_title).unwrap();
        assert_eq!((explain.index, explain.covering), (Some("title"), true));
        assert!(db.integrity_check().await.unwrap().is_ok());
    }

    // The query reads the copies the entries hold, not the records table: an entry edited
    // behind nonrel's back shows through, and integrity_check names it.
    edit_covering_entries(&path, |v| {
        let at = v.windows(5).position(|w| w == b"alpha").map(|i| i + 4);
        if let Some(i) = at {
            v[i] = b'X';
        }
    });
    {
        let db = Database::open_existing(&path).unwrap();
        let read = db.query::<CoveredNote>().filter(CoveredNote::title().eq("alpha")).all().await.unwrap();
        assert_eq!(read.iter().map(|n| n.title.as_str()).collect::<Vec<_>>(), ["alphX", "alphX"]);
        let report = db.integrity_check().await.unwrap();
        let stale = report.problems.iter().filter(|p| p.message.contains("stale copy")).count();
        assert_eq!(stale, 2, "{report:?}");
        db.rebuild_indexes().await.unwrap();
        assert!(db.integrity_check().await.unwrap().is_ok());
        let read = db.query::<CoveredNote>().filter(CoveredNote::title().eq("alpha")).all().await.unwrap();
        assert!(read.iter().all(|n| n.title == "alpha") && read.len() == 2);
    }

    // An entry that holds no document is a clear error, not a panic or a wrong record.
    edit_covering_entries(&path, |v| v.truncate(3));
    let db = Database::open_existing(&path).unwrap();
    let err = db.query::<CoveredNote>().filter(CoveredNote::title().eq("beta")).all().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("covering index on `title`"), "{err}");
    assert!(!db.integrity_check().await.unwrap().is_ok());
    db.rebuild_indexes().await.unwrap();
    assert_eq!(db.query::<CoveredNote>().filter(CoveredNote::title().eq("beta")).count().await.unwrap(), 1);
}

#[tokio::test]
async fn an_index_made_covering_later_is_filled_in_its_own_table_and_read_from_it() {
    let db = Database::in_memory().unwrap();
    for i in 0..6 {
        db.save(&mut Outline { id: None, words: i % 3 }).await.unwrap();
    }
    let by_words = Query::<OutlineV2>::new().filter(OutlineV2::words().eq(1u32));
    assert_eq!(db.backend().explain(&by_words).unwrap().index, None, "the covering table is not filled yet");
    assert_eq!(db.query::<OutlineV2>().with(by_words.clone()).count().await.unwrap(), 2);
    db.save(&mut OutlineV2 { id: None, words: 1 }).await.unwrap();
    let explain = db.backend().explain(&by_words).unwrap();
    assert_eq!((explain.index, explain.covering), (Some("words"), true));
    let found = db.query::<OutlineV2>().with(by_words).all().await.unwrap();
    assert_eq!(found.len(), 3, "old records are read from the new covering entries");
    let report = db.integrity_check().await.unwrap();
    // Both declarations are registered in this program: the covering table is whole, while
    // the plain one (the first version's) lacks the record saved through the second.
    assert!(report.problems.iter().all(|p| p.index == "words" && p.message == "index entry missing"), "{report:?}");
    assert_eq!(report.problems.len(), 1, "{report:?}");
}

/// The drafts collection with `words` stored as any value.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "drafts")]
struct RawDraft {
    #[field(key)]
    id: Option<Key<RawDraft>>,
    words: nonrel_runtime::Value,
}

#[tokio::test]
async fn an_inc_refused_on_one_record_writes_nothing() {
    use nonrel_runtime::Value;
    let db = Database::in_memory().unwrap();
    let mut drafts: Vec<RawDraft> = [Value::Int64(1), Value::String("many".into()), Value::Null, Value::Int64(4)]
        .into_iter()
        .map(|words| RawDraft { id: None, words })
        .collect();
    db.save_many(&mut drafts).await.unwrap();
    let err = db.query::<DraftV2>().update().inc(DraftV2::words(), 1u32).await.unwrap_err();
    assert_eq!((err.kind(), err.field()), (ErrorKind::Decode, Some("words")), "{err}");
    let after: Vec<Value> = db.query::<RawDraft>().all().await.unwrap().into_iter().map(|d| d.words).collect();
    let before: Vec<Value> = drafts.into_iter().map(|d| d.words).collect();
    assert_eq!(after, before, "the update is one transaction: nothing of it is written");
}
