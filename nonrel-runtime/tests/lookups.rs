//! Emulated lookups on the embedded backend: index scans, rebuilding after a declaration is
//! added, run-time errors, index fields kept out of the model.

use nonrel_runtime::{Database, DateTime, ErrorKind, Extra, Key, Model, Utc};

/// Articles as a first version of a program stores them: no declared lookups.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "articles")]
struct Article {
    #[field(key)]
    id: Option<Key<Article>>,
    title: String,
    published: DateTime<Utc>,
}

/// The same collection seen by a later version that declares lookups.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "articles")]
struct ArticleV2 {
    #[field(key)]
    id: Option<Key<ArticleV2>>,
    #[field(index(iexact, icontains, regex = "^[A-Z]"))]
    title: String,
    #[field(index(month))]
    published: DateTime<Utc>,
}

/// A model keeping unknown fields, with a declared lookup.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "tagged")]
struct Tagged {
    #[field(key)]
    id: Option<Key<Tagged>>,
    #[field(index(iexact))]
    name: String,
    #[field(extra)]
    extra: Extra,
}

fn date(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn article(title: &str) -> Article {
    Article { id: None, title: title.into(), published: date("2024-03-05T10:00:00Z") }
}

#[tokio::test]
async fn emulated_lookups_read_their_index() {
    let db = Database::in_memory().unwrap();
    let mut a = ArticleV2 { id: None, title: "Hello World".into(), published: date("2024-03-05T10:00:00Z") };
    db.save(&mut a).await.unwrap();
    let explain = |q: nonrel_runtime::QueryBuilder<'_, nonrel_runtime::Redb, ArticleV2>| q.explain().unwrap().index;
    assert_eq!(explain(db.query::<ArticleV2>().filter(ArticleV2::title().icontains("world"))), Some("_ix_title_grams"));
    assert_eq!(explain(db.query::<ArticleV2>().filter(ArticleV2::title().icontains("wo"))), Some("_ix_title_grams"));
    assert_eq!(explain(db.query::<ArticleV2>().filter(ArticleV2::title().icontains(""))), Some("_ix_title_grams"));
    assert_eq!(
        explain(db.query::<ArticleV2>().filter(ArticleV2::title().iexact("HELLO world"))),
        Some("_ix_title_lower")
    );
    assert_eq!(explain(db.query::<ArticleV2>().filter(ArticleV2::title().regex("^[A-Z]"))), Some("_ix_title_regex"));
    assert_eq!(explain(db.query::<ArticleV2>().filter(ArticleV2::published().month(3))), Some("_ix_published_month"));
}

#[tokio::test]
async fn old_records_become_findable_after_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("articles.db");
    {
        let db = Database::open(&path).unwrap();
        let mut old = vec![article("Rust in Production"), article("gardening notes"), article("Trusty tools")];
        db.save_many(&mut old).await.unwrap();
    }
    let db = Database::open(&path).unwrap();
    // Declared after the records were written: not filled, so the query says so instead of
    // scanning the collection.
    let err = db.query::<ArticleV2>().filter(ArticleV2::title().icontains("rust")).all().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("rebuild_indexes_of::<ArticleV2>()"), "{err}");
    assert!(db.integrity_check().await.unwrap().problems.iter().any(|p| p.model == "ArticleV2"));

    let written = db.rebuild_indexes_of::<ArticleV2>().await.unwrap();
    assert!(written > 0);
    let found = db.query::<ArticleV2>().filter(ArticleV2::title().icontains("RUST")).all().await.unwrap();
    let mut titles: Vec<String> = found.into_iter().map(|a| a.title).collect();
    titles.sort();
    assert_eq!(titles, ["Rust in Production", "Trusty tools"]);
    assert_eq!(db.query::<ArticleV2>().filter(ArticleV2::published().month(3)).count().await.unwrap(), 3);
    assert_eq!(db.query::<ArticleV2>().filter(ArticleV2::title().regex("^[A-Z]")).count().await.unwrap(), 2);
    assert!(db.integrity_check().await.unwrap().is_ok());
    // The older model still reads the records (the index fields are not its fields).
    assert_eq!(db.query::<Article>().count().await.unwrap(), 3);
}

#[tokio::test]
async fn undeclared_regex_pattern_is_a_clear_error() {
    let db = Database::in_memory().unwrap();
    db.save(&mut ArticleV2 { id: None, title: "Hi".into(), published: date("2024-01-01T00:00:00Z") }).await.unwrap();
    let err = db.query::<ArticleV2>().filter(ArticleV2::title().regex("^H")).all().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let msg = err.to_string();
    for part in ["ArticleV2", "title", "\"^H\"", "\"^[A-Z]\"", "#[field(index(regex = \"^H\"))]"] {
        assert!(msg.contains(part), "{part} in {msg}");
    }
}

#[tokio::test]
async fn index_fields_stay_out_of_the_model() {
    let db = Database::in_memory().unwrap();
    let mut t = Tagged { id: None, name: "Ann".into(), extra: Extra::default() };
    let key = db.save(&mut t).await.unwrap();
    let mut loaded = db.get(&key).await.unwrap().unwrap();
    assert_eq!(loaded, t, "no index field in Extra");
    loaded.name = "Bob".into();
    db.save(&mut loaded).await.unwrap();
    db.save(&mut loaded).await.unwrap();
    assert_eq!(db.get(&key).await.unwrap().unwrap(), loaded);
    assert_eq!(db.query::<Tagged>().filter(Tagged::name().iexact("BOB")).count().await.unwrap(), 1);
    assert_eq!(db.query::<Tagged>().filter(Tagged::name().iexact("ann")).count().await.unwrap(), 0);
    assert!(db.integrity_check().await.unwrap().is_ok());
}
