//! Fields stored through serde (`#[field(serde)]`): user structs and enums become nested
//! documents, arrays and scalars, read back whole and found by equality on every backend.

use crate::{Backend, Database, ErrorKind, Key};
use serde::{Deserialize, Serialize};

/// A user enum of every serde variant kind.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Status {
    Draft,
    Scheduled(i64),
    Published { by: String, views: i64 },
}

/// A user struct holding a nested struct, a list and an option.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Layout {
    columns: i32,
    theme: Theme,
    tags: Vec<String>,
    note: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Theme {
    name: String,
    dark: bool,
}

#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_serde")]
struct Article {
    #[field(key)]
    id: Option<Key<Article>>,
    title: String,
    #[field(serde)]
    status: Status,
    #[field(serde)]
    layout: Layout,
    #[field(serde)]
    sidebar: Option<Theme>,
}

/// The same records with `status` as plain text: what another program might have written.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_serde")]
struct ArticleAsText {
    #[field(key)]
    id: Option<Key<ArticleAsText>>,
    title: String,
    status: String,
}

fn article(title: &str, status: Status, columns: i32, sidebar: Option<&str>) -> Article {
    let theme = |name: &str| Theme { name: name.into(), dark: name.ends_with("night") };
    Article {
        id: None,
        title: title.into(),
        status,
        layout: Layout { columns, theme: theme("paper"), tags: vec!["a".into(), title.into()], note: None },
        sidebar: sidebar.map(theme),
    }
}

/// Serde fields round-trip whole, and `eq`, `ne` and `is_in` find records by them.
pub async fn serde_fields_round_trip_and_match_by_equality<B: Backend>(db: &Database<B>) {
    let published = Status::Published { by: "ann".into(), views: 7 };
    let mut records = vec![
        article("one", Status::Draft, 1, None),
        article("two", Status::Scheduled(1_700_000_000), 2, Some("night")),
        article("three", published.clone(), 3, Some("day")),
        article("four", Status::Draft, 1, Some("night")),
    ];
    db.save_many(&mut records).await.unwrap();
    for r in &records {
        assert_eq!(db.get::<Article>(r.id.clone().unwrap()).await.unwrap().as_ref(), Some(r));
    }
    let titles = |found: Vec<Article>| {
        let mut t: Vec<String> = found.into_iter().map(|a| a.title).collect();
        t.sort();
        t
    };
    let q = || db.query::<Article>();
    assert_eq!(titles(q().filter(Article::status().eq(Status::Draft)).all().await.unwrap()), ["four", "one"]);
    assert_eq!(titles(q().filter(Article::status().eq(&published)).all().await.unwrap()), ["three"]);
    let other = Status::Published { by: "ann".into(), views: 8 };
    assert!(q().filter(Article::status().eq(other)).all().await.unwrap().is_empty());
    let scheduled = Status::Scheduled(1_700_000_000);
    let either = q().filter(Article::status().is_in([scheduled, published.clone()])).all().await.unwrap();
    assert_eq!(titles(either), ["three", "two"]);
    assert_eq!(titles(q().filter(Article::status().ne(Status::Draft)).all().await.unwrap()), ["three", "two"]);
    let layout = records[1].layout.clone();
    assert_eq!(titles(q().filter(Article::layout().eq(layout)).all().await.unwrap()), ["two"]);
    let night = Theme { name: "night".into(), dark: true };
    assert_eq!(titles(q().filter(Article::sidebar().eq(Some(night))).all().await.unwrap()), ["four", "two"]);
    assert_eq!(titles(q().filter(Article::sidebar().isnull(true)).all().await.unwrap()), ["one"]);
    // Conditions on serde fields compose with the others.
    let both = q().filter(Article::status().eq(Status::Draft)).filter(Article::title().eq("one"));
    assert_eq!(titles(both.all().await.unwrap()), ["one"]);
}

/// A stored value serde cannot read is a decode error naming the model, the field and the
/// value.
pub async fn serde_fields_that_do_not_decode_name_model_field_and_value<B: Backend>(db: &Database<B>) {
    let mut text = ArticleAsText { id: None, title: "odd".into(), status: "Retracted".into() };
    let key = db.save(&mut text).await.unwrap();
    let err = db.get::<Article>(Key::from_value(key.into_value())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert_eq!(err.model(), Some("Article"));
    assert_eq!(err.field(), Some("status"));
    assert!(err.to_string().contains("Retracted"), "{err}");
}
