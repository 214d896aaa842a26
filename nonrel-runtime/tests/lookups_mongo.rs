//! Emulated lookups on MongoDB: undeclared ones run natively, declared ones through their
//! index fields (which MongoDB indexes after `sync_indexes`).

mod support;

use nonrel_runtime::{Database, DateTime, Key, Model, Mongo, Utc};

/// Articles with every lookup declared on `title` and `published`, none on `body`/`edited`.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "m_articles")]
struct Article {
    #[field(key)]
    id: Option<Key<Article>>,
    #[field(index(iexact, istartswith, endswith, icontains, regex = "^[A-Z]"))]
    title: String,
    body: String,
    #[field(index(year, month, day, week_day))]
    published: DateTime<Utc>,
    edited: DateTime<Utc>,
}

/// The same collection without declarations.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "m_articles")]
struct PlainArticle {
    #[field(key)]
    id: Option<Key<PlainArticle>>,
    title: String,
    body: String,
    published: DateTime<Utc>,
    edited: DateTime<Utc>,
}

fn date(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn seed(db: &Database<Mongo>) {
    let rows = [
        ("Rust Ownership", "2024-03-05T10:00:00Z"),
        ("rust async in 2024", "2024-03-31T23:59:59Z"),
        ("Python typing", "2023-12-25T00:00:00Z"),
        ("Go channels!", "2022-03-05T00:00:00Z"),
    ];
    let mut articles: Vec<Article> = rows
        .iter()
        .map(|(t, d)| Article { id: None, title: (*t).into(), body: (*t).into(), published: date(d), edited: date(d) })
        .collect();
    db.save_many(&mut articles).await.unwrap();
}

async fn titles<R>(db: &Database<Mongo>, c: nonrel_runtime::Condition<Article, R>) -> Vec<String>
where
    Mongo: nonrel_runtime::capability::Runs<R>,
{
    let mut t: Vec<String> =
        db.query::<Article>().filter(c).all().await.unwrap().into_iter().map(|a| a.title).collect();
    t.sort();
    t
}

#[tokio::test]
async fn undeclared_lookups_run_natively_with_the_same_answers() {
    let db = support::fresh_mongo().await;
    seed(&db).await;
    let (t, b) = (Article::title, Article::body);
    assert_eq!(titles(&db, b().iexact("RUST OWNERSHIP")).await, titles(&db, t().iexact("RUST OWNERSHIP")).await);
    assert_eq!(titles(&db, b().istartswith("RUST")).await, titles(&db, t().istartswith("RUST")).await);
    assert_eq!(titles(&db, b().endswith("!")).await, titles(&db, t().endswith("!")).await);
    assert_eq!(titles(&db, b().icontains("rust")).await, titles(&db, t().icontains("rust")).await);
    assert_eq!(titles(&db, b().icontains("a.")).await, Vec::<String>::new(), "operands are escaped");
    assert_eq!(titles(&db, b().regex("^[A-Z]")).await, titles(&db, t().regex("^[A-Z]")).await);
    assert_eq!(titles(&db, b().icontains("rust")).await, ["Rust Ownership", "rust async in 2024"]);
    let (p, e) = (Article::published, Article::edited);
    assert_eq!(titles(&db, e().year(2024)).await, titles(&db, p().year(2024)).await);
    assert_eq!(titles(&db, e().month(3)).await, titles(&db, p().month(3)).await);
    assert_eq!(titles(&db, e().day(5)).await, titles(&db, p().day(5)).await);
    assert_eq!(titles(&db, e().week_day(1)).await, titles(&db, p().week_day(1)).await);
    assert_eq!(titles(&db, e().month(3)).await, ["Go channels!", "Rust Ownership", "rust async in 2024"]);
    assert_eq!(titles(&db, e().week_day(1)).await, ["rust async in 2024"]);
    // A pattern the field does not declare runs natively too.
    assert_eq!(titles(&db, t().regex("^[a-z]")).await, ["rust async in 2024"]);
}

#[tokio::test]
async fn declared_lookups_use_their_index_fields() {
    let db = support::fresh_mongo().await;
    // Saved without the declarations: no index fields in the documents.
    let mut old = PlainArticle {
        id: None,
        title: "Legacy Record".into(),
        body: "Legacy Record".into(),
        published: date("2020-05-01T00:00:00Z"),
        edited: date("2020-05-01T00:00:00Z"),
    };
    db.save(&mut old).await.unwrap();
    // The declared lookup reads `_ix_title_grams`, which the old document lacks; the
    // undeclared one on `body` runs natively and finds it.
    assert!(titles(&db, Article::title().icontains("legacy")).await.is_empty());
    assert!(titles(&db, Article::published().month(5)).await.is_empty());
    assert_eq!(titles(&db, Article::body().icontains("legacy")).await, ["Legacy Record"]);
    db.rebuild_indexes_of::<Article>().await.unwrap();
    assert_eq!(titles(&db, Article::title().icontains("legacy")).await, ["Legacy Record"]);
    assert_eq!(titles(&db, Article::published().month(5)).await, ["Legacy Record"]);
    let names = db.collection::<Article>().list_index_names().await.unwrap();
    for index in ["_ix_title_grams", "_ix_title_lower", "_ix_title_rev", "_ix_title_regex", "_ix_published_month"] {
        assert!(names.iter().any(|n| n == index), "{index} in {names:?}");
    }
}
