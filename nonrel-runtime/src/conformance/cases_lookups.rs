//! Emulated lookups: every form, through the declared index fields, with the same
//! answers on every backend.
#![allow(missing_docs)]

use crate::backend::capability::Runs;
use crate::engine::lookup::{kinds, Emulated};
use crate::{Backend, Database, DateTime, ErrorKind, Key, Utc};

/// An article whose fields declare every emulated lookup.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_articles")]
pub struct Article {
    #[field(key)]
    pub id: Option<Key<Article>>,
    #[field(index(exact, iexact, istartswith, endswith, icontains, regex = "^[A-Z][a-z]+ ", regex = "[0-9]{4}"))]
    pub title: String,
    #[field(index(icontains))]
    pub subtitle: Option<String>,
    #[field(index(year, month, day, week_day))]
    pub published: DateTime<Utc>,
    #[field(index(month))]
    pub updated: Option<DateTime<Utc>>,
}

/// A backend that runs every lookup [`Article`] declares (every backend, through the
/// declarations).
pub trait RunsArticleLookups:
    Backend
    + Runs<Emulated<kinds::iexact, Article_fields::title>>
    + Runs<Emulated<kinds::istartswith, Article_fields::title>>
    + Runs<Emulated<kinds::endswith, Article_fields::title>>
    + Runs<Emulated<kinds::icontains, Article_fields::title>>
    + Runs<Emulated<kinds::regex, Article_fields::title>>
    + Runs<Emulated<kinds::icontains, Article_fields::subtitle>>
    + Runs<Emulated<kinds::year, Article_fields::published>>
    + Runs<Emulated<kinds::month, Article_fields::published>>
    + Runs<Emulated<kinds::day, Article_fields::published>>
    + Runs<Emulated<kinds::week_day, Article_fields::published>>
    + Runs<Emulated<kinds::month, Article_fields::updated>>
{
}

impl<B> RunsArticleLookups for B where
    B: Backend
        + Runs<Emulated<kinds::iexact, Article_fields::title>>
        + Runs<Emulated<kinds::istartswith, Article_fields::title>>
        + Runs<Emulated<kinds::endswith, Article_fields::title>>
        + Runs<Emulated<kinds::icontains, Article_fields::title>>
        + Runs<Emulated<kinds::regex, Article_fields::title>>
        + Runs<Emulated<kinds::icontains, Article_fields::subtitle>>
        + Runs<Emulated<kinds::year, Article_fields::published>>
        + Runs<Emulated<kinds::month, Article_fields::published>>
        + Runs<Emulated<kinds::day, Article_fields::published>>
        + Runs<Emulated<kinds::week_day, Article_fields::published>>
        + Runs<Emulated<kinds::month, Article_fields::updated>>
{
}

const TITLES: [&str; 8] = [
    "Rust Ownership",
    "rust async in 2024",
    "Über Straße",
    "Python typing",
    "ÉCOLE française",
    "",
    "Go channels!",
    "Trust the RUSTY compiler",
];

const PUBLISHED: [&str; 8] = [
    "2024-03-05T10:00:00Z", // Tuesday
    "2024-03-31T23:59:59Z", // Sunday
    "2023-12-25T00:00:00Z", // Monday
    "2024-02-29T12:00:00Z", // Thursday
    "2022-03-05T00:00:00Z", // Saturday
    "2021-07-04T08:30:00Z", // Sunday
    "2024-12-01T06:00:00Z", // Sunday
    "2020-01-05T00:00:00Z", // Sunday
];

fn date(s: &str) -> DateTime<Utc> {
    s.parse().expect("a date-time")
}

fn article(i: usize) -> Article {
    Article {
        id: None,
        title: TITLES[i].into(),
        subtitle: [Some("A Guide to ownership"), None, Some("GUIDE")].get(i).copied().flatten().map(Into::into),
        published: date(PUBLISHED[i]),
        updated: [Some("2024-06-10T00:00:00Z"), None, Some("2023-06-01T00:00:00Z")].get(i).copied().flatten().map(date),
    }
}

async fn seed<B: Backend>(db: &Database<B>) {
    let mut articles: Vec<Article> = (0..TITLES.len()).map(article).collect();
    db.save_many(&mut articles).await.expect("seed articles");
}

/// The indexes (into `TITLES`) of the articles found, sorted.
fn found(articles: Vec<Article>) -> Vec<usize> {
    let mut out: Vec<usize> =
        articles.iter().map(|a| TITLES.iter().position(|t| *t == a.title).expect("a seeded title")).collect();
    out.sort();
    out
}

const ALL: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

macro_rules! check {
    ($db:expr, $cond:expr, $expected:expr) => {{
        let got = found($db.query::<Article>().filter($cond).all().await.expect(stringify!($cond)));
        assert_eq!(got, $expected.to_vec(), "{}", stringify!($cond));
    }};
}

/// `iexact`, `istartswith`, `endswith`, `icontains` and declared `regex` patterns, with
/// Unicode, empty and short operands, agree with their definitions on every backend.
pub async fn emulated_text_lookups<B: RunsArticleLookups>(db: &Database<B>) {
    seed(db).await;
    let t = || Article::title();
    check!(db, t().iexact("rust OWNERSHIP"), [0]);
    check!(db, t().iexact("über straße"), [2]);
    check!(db, t().iexact("ÜBER STRASSE"), [] as [usize; 0]);
    check!(db, t().iexact(""), [5]);
    check!(db, t().iexact("rust"), [] as [usize; 0]);
    check!(db, t().istartswith("RUST"), [0, 1]);
    check!(db, t().istartswith("écol"), [4]);
    check!(db, t().istartswith(""), ALL);
    check!(db, t().endswith("!"), [6]);
    check!(db, t().endswith("typing"), [3]);
    check!(db, t().endswith("Typing"), [] as [usize; 0]);
    check!(db, t().endswith("raße"), [2]);
    check!(db, t().endswith(""), ALL);
    check!(db, t().icontains("rust"), [0, 1, 7]);
    check!(db, t().icontains("RUSTY"), [7]);
    check!(db, t().icontains("st"), [0, 1, 2, 7]);
    check!(db, t().icontains("É"), [4]);
    check!(db, t().icontains("ç"), [4]);
    check!(db, t().icontains("!"), [6]);
    check!(db, t().icontains(""), ALL);
    check!(db, t().icontains("ownership"), [0]);
    check!(db, t().icontains("ust o"), [0]);
    check!(db, t().icontains("t the r"), [7]);
    check!(db, t().icontains("own ers"), [] as [usize; 0]);
    check!(db, t().icontains("shipx"), [] as [usize; 0]);
    check!(db, t().icontains("2024"), [1]);
    check!(db, t().regex("^[A-Z][a-z]+ "), [0, 3, 6, 7]);
    check!(db, t().regex("[0-9]{4}"), [1]);
    check!(db, Article::subtitle().icontains("guide"), [0, 2]);
    check!(db, Article::subtitle().icontains("OWNER"), [0]);
    let both = db.query::<Article>().filter(t().icontains("rust")).filter(t().istartswith("trust")).all();
    assert_eq!(found(both.await.expect("two lookups")), [7]);
    let with_plain = db.query::<Article>().filter(t().icontains("rust")).filter(t().ne("Rust Ownership")).all();
    assert_eq!(found(with_plain.await.expect("a lookup and a plain filter")), [1, 7]);
    let n = db.query::<Article>().filter(t().icontains("rust")).count_upto(2).await.expect("count");
    assert_eq!(n, 2);
}

/// `year`, `month`, `day` and `week_day` (UTC, 1 = Sunday) on required and optional fields.
pub async fn emulated_date_lookups<B: RunsArticleLookups>(db: &Database<B>) {
    seed(db).await;
    let p = || Article::published();
    check!(db, p().year(2024), [0, 1, 3, 6]);
    check!(db, p().year(1999), [] as [usize; 0]);
    check!(db, p().month(3), [0, 1, 4]);
    check!(db, p().day(5), [0, 4, 7]);
    check!(db, p().day(31), [1]);
    check!(db, p().week_day(1), [1, 5, 6, 7]);
    check!(db, p().week_day(7), [4]);
    check!(db, p().week_day(3), [0]);
    check!(db, Article::updated().month(6), [0, 2]);
    check!(db, Article::updated().month(1), [] as [usize; 0]);
    let both = db.query::<Article>().filter(p().year(2024)).filter(p().month(3)).all();
    assert_eq!(found(both.await.expect("two date parts")), [0, 1]);
}

/// Index fields follow a save that changes the value and an atomic update that sets it.
pub async fn emulated_lookups_follow_saves_and_updates<B: RunsArticleLookups>(db: &Database<B>) {
    seed(db).await;
    let mut a = db.query::<Article>().filter(Article::title().eq("Python typing")).first().await.unwrap().unwrap();
    a.title = "Typed Haskell".into();
    a.published = date("2019-08-17T00:00:00Z");
    db.save(&mut a).await.expect("save");
    check!(db, Article::title().icontains("python"), [] as [usize; 0]);
    let got = db.query::<Article>().filter(Article::title().icontains("HASKELL")).all().await.unwrap();
    assert_eq!(got, vec![a.clone()], "the saved record, index fields not decoded into it");
    assert_eq!(db.query::<Article>().filter(Article::published().year(2019)).count().await.unwrap(), 1);
    let done = db
        .query::<Article>()
        .filter(Article::title().eq("Typed Haskell"))
        .update()
        .set(Article::title(), "Lazy Evaluation")
        .set(Article::updated(), date("2025-01-31T00:00:00Z"))
        .await
        .expect("update");
    assert_eq!(done.matched, 1);
    assert_eq!(db.query::<Article>().filter(Article::title().icontains("haskell")).count().await.unwrap(), 0);
    assert_eq!(db.query::<Article>().filter(Article::title().iexact("lazy evaluation")).count().await.unwrap(), 1);
    assert_eq!(db.query::<Article>().filter(Article::title().endswith("tion")).count().await.unwrap(), 1);
    assert_eq!(db.query::<Article>().filter(Article::updated().month(1)).count().await.unwrap(), 1);
    let report = db.integrity_check().await.expect("integrity check");
    assert!(report.problems.iter().all(|p| p.model != "Article"), "{report:?}");
}

/// Out-of-range date parts are clear errors when the query runs; nothing panics.
pub async fn emulated_lookup_bad_values<B: RunsArticleLookups>(db: &Database<B>) {
    seed(db).await;
    for (cond, what) in [
        (Article::published().month(13), "month must be 1 to 12, got 13"),
        (Article::published().month(0), "month must be 1 to 12, got 0"),
    ] {
        let err = db.query::<Article>().filter(cond).all().await.expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Encode);
        assert!(err.to_string().contains(what) && err.to_string().contains("Article"), "{err}");
    }
    let err = db.query::<Article>().filter(Article::published().day(32)).count().await.unwrap_err();
    assert!(err.to_string().contains("day must be 1 to 31, got 32"), "{err}");
    let err = db.query::<Article>().filter(Article::published().week_day(0)).count().await.unwrap_err();
    assert!(err.to_string().contains("week_day must be 1 to 7, got 0"), "{err}");
}
