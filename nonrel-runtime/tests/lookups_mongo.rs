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

/// Members with `iexact` declared on `username`.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "m_members")]
struct Member {
    #[field(key)]
    id: String,
    #[field(index(iexact))]
    username: String,
}

/// Posts that follow their author across a `Ref`.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "m_posts")]
struct Post {
    #[field(key)]
    id: i64,
    text: String,
    #[field(index)]
    author: nonrel_runtime::Ref<Member>,
}

/// A fresh database recording the full text of every command sent (name, then body).
async fn recording() -> (Database<Mongo>, std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    use nonrel_runtime::mongo::mongodb::event::{command::CommandEvent, EventHandler};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut options = support::options().await;
    options.command_event_handler = Some(EventHandler::callback(move |e: CommandEvent| {
        if let CommandEvent::Started(s) = e {
            sink.lock().unwrap().push((s.command_name, s.command.to_string()));
        }
    }));
    let mongo = Mongo::connect_with(options, &support::fresh_name("plans")).await.expect("connect");
    let db = Database::new(mongo);
    db.sync_indexes().await.unwrap();
    (db, seen)
}

/// The commands recorded since the last call, as `name: body`.
fn sent(seen: &std::sync::Mutex<Vec<(String, String)>>) -> Vec<String> {
    std::mem::take(&mut *seen.lock().unwrap()).into_iter().map(|(n, b)| format!("{n}: {b}")).collect()
}

/// Asserts that the commands filter on index field `field` and never run the lookup natively
/// on the declaring field `plain` (`$regex` on it, or `$expr` with a date operator).
fn filter_on(commands: &[String], field: &str, plain: &str) {
    assert!(commands.iter().any(|c| c.contains(&format!("\"{field}\""))), "{field} in {commands:#?}");
    let native = format!("\"{plain}\": {{ \"$regex\"");
    assert!(commands.iter().all(|c| !c.contains(&native) && !c.contains("$expr")), "native lookup in {commands:#?}");
}

#[tokio::test]
async fn pages_counts_updates_and_joins_send_the_declared_index_fields() {
    let (db, seen) = recording().await;
    seed(&db).await;
    let mut members =
        vec![Member { id: "m1".into(), username: "Ann".into() }, Member { id: "m2".into(), username: "bob".into() }];
    db.save_many(&mut members).await.unwrap();
    let mut posts = vec![
        Post { id: 1, text: "first".into(), author: nonrel_runtime::Key::from("m1").into() },
        Post { id: 2, text: "second".into(), author: nonrel_runtime::Key::from("m2").into() },
    ];
    db.save_many(&mut posts).await.unwrap();
    sent(&seen);

    let page = db.query::<Article>().filter(Article::title().icontains("rust")).page(1).await.unwrap();
    assert_eq!(page.items.len(), 1);
    filter_on(&sent(&seen), "_ix_title_grams", "title");

    assert_eq!(db.query::<Article>().filter(Article::title().iexact("RUST OWNERSHIP")).count().await.unwrap(), 1);
    filter_on(&sent(&seen), "_ix_title_lower", "title");

    let done = db
        .query::<Article>()
        .filter(Article::published().month(3))
        .update()
        .set(Article::body(), "march")
        .await
        .unwrap();
    assert_eq!(done.matched, 3);
    filter_on(&sent(&seen), "_ix_published_month", "published");

    let by_ann = db.query::<Post>().filter(Post::author().join(Member::username()).iexact("ANN")).all().await.unwrap();
    assert_eq!(by_ann.iter().map(|p| p.id).collect::<Vec<_>>(), [1]);
    filter_on(&sent(&seen), "_ix_username_lower", "username");

    let n = db.query::<Post>().filter(Post::author().join(Member::username()).iexact("bob")).count().await.unwrap();
    assert_eq!(n, 1);
    filter_on(&sent(&seen), "_ix_username_lower", "username");
}

/// Texts and needles holding regex syntax, every ASCII punctuation character, NUL, newlines
/// and non-ASCII text.
fn tricky() -> Vec<String> {
    let punctuation: String = (0x21u8..0x7f).filter(u8::is_ascii_punctuation).map(char::from).collect();
    let mut out: Vec<String> = [
        "", "\0", "a\0b", "ab", "AB", "ab\n", "Ab\n\n", "a\nb", "\n", "a.b", "axb", ".*", "^a", "b$", "(a|b)",
        "[a-z]+", "\\", "\\z", "$", "é", "É", "日本", "ü€", "\u{1}", " ", "a?", "/a/", "xab", "abab",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    out.extend(punctuation.chars().map(String::from));
    out.push(punctuation);
    out
}

#[tokio::test]
async fn undeclared_text_lookups_read_every_needle_literally() {
    let db = support::fresh_mongo().await;
    let texts = tricky();
    let day = date("2024-01-01T00:00:00Z");
    let mut articles: Vec<Article> = texts
        .iter()
        .map(|t| Article { id: None, title: t.clone(), body: t.clone(), published: day, edited: day })
        .collect();
    db.save_many(&mut articles).await.unwrap();
    let lower = |s: &str| s.to_lowercase();
    let which = |keep: &dyn Fn(&str) -> bool| -> Vec<String> {
        let mut t: Vec<String> = texts.iter().filter(|t| keep(t)).cloned().collect();
        t.sort();
        t
    };
    let (t, b) = (Article::title, Article::body);
    for n in tricky() {
        let iexact = which(&|s| lower(s) == lower(&n));
        assert_eq!(titles(&db, b().iexact(n.clone())).await, iexact, "native iexact {n:?}");
        assert_eq!(titles(&db, t().iexact(n.clone())).await, iexact, "declared iexact {n:?}");
        let istarts = which(&|s| lower(s).starts_with(&lower(&n)));
        assert_eq!(titles(&db, b().istartswith(n.clone())).await, istarts, "native istartswith {n:?}");
        assert_eq!(titles(&db, t().istartswith(n.clone())).await, istarts, "declared istartswith {n:?}");
        let ends = which(&|s| s.ends_with(&n));
        assert_eq!(titles(&db, b().endswith(n.clone())).await, ends, "native endswith {n:?}");
        assert_eq!(titles(&db, t().endswith(n.clone())).await, ends, "declared endswith {n:?}");
        let icontains = which(&|s| lower(s).contains(&lower(&n)));
        assert_eq!(titles(&db, b().icontains(n.clone())).await, icontains, "native icontains {n:?}");
    }
    // A pattern holding NUL matches it literally (it used to be dropped).
    assert_eq!(titles(&db, b().regex("^a\0b$")).await, ["a\0b"]);
    assert_eq!(titles(&db, b().regex("^a\\\0b$")).await, ["a\0b"], "an escaped NUL");
}
