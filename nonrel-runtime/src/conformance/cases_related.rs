//! JOINs and related selections composed with the rest of a query: order, offset,
//! limit, local conditions, fields left out, several selections, counts. MongoDB runs these
//! by `$lookup` or in steps depending on the handle's strategies; every form, and the
//! embedded backend, must give the same rows.
#![allow(missing_docs)]

use super::cases_joins::{Author, Paper};
use crate::backend::capability::Runs;
use crate::engine::related::Join;
use crate::{Backend, Database, Key, Ref};

/// A review of an optional paper by an author, joined in two steps where joins need a
/// declaration.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_reviews", join_in_memory(author))]
pub struct Review {
    #[field(key)]
    pub id: Option<Key<Review>>,
    #[field(index)]
    pub stars: i32,
    #[field(index)]
    pub author: Ref<Author>,
    pub paper: Option<Ref<Paper>>,
}

type ReviewJoin<R> = Join<Review_fields::author, R>;

/// What these cases need of a backend.
pub trait RelatedBackend:
    Backend + Runs<ReviewJoin<Author_fields::username>> + Runs<ReviewJoin<Author_fields::age>>
{
}

impl<B> RelatedBackend for B where
    B: Backend + Runs<ReviewJoin<Author_fields::username>> + Runs<ReviewJoin<Author_fields::age>>
{
}

use super::cases_joins::Author_fields;

/// Authors ann (30), bob (40), cy (50); paper P by ann; reviews with 0..9 stars, by ann,
/// bob and cy in turn, of P when the stars are even.
async fn seed<B: Backend>(db: &Database<B>) -> (Vec<Key<Author>>, Key<Paper>) {
    let mut authors: Vec<Author> = [("ann", 30), ("bob", 40), ("cy", 50)]
        .into_iter()
        .map(|(n, age)| Author { id: None, username: n.into(), age, bio: format!("{n} writes") })
        .collect();
    let keys = db.save_many(&mut authors).await.expect("authors");
    let paper =
        db.save(&mut Paper { id: None, title: "P".into(), author: keys[0].clone().into() }).await.expect("paper");
    let mut reviews: Vec<Review> = (0..9)
        .map(|i| Review {
            id: None,
            stars: i,
            author: keys[i as usize % 3].clone().into(),
            paper: (i % 2 == 0).then(|| paper.clone().into()),
        })
        .collect();
    db.save_many(&mut reviews).await.expect("reviews");
    (keys, paper)
}

fn stars(reviews: &[Review]) -> Vec<i32> {
    reviews.iter().map(|r| r.stars).collect()
}

/// Joins and related selections with order, offset, limit, local conditions and fields.
pub async fn joins_and_related_compose_with_the_query<B: RelatedBackend>(db: &Database<B>) {
    seed(db).await;
    let name = || Review::author().join(Author::username());
    let q = || db.query::<Review>();
    // ann: 0, 3, 6; cy: 2, 5, 8.
    let got = q().filter(name().is_in(["ann", "cy"])).order_by(Review::stars().desc()).offset(1).limit(3).all().await;
    assert_eq!(stars(&got.unwrap()), [6, 5, 3], "order, offset and limit after the join");
    let got = q().filter(name().eq("cy")).filter(Review::stars().gt(2)).all().await.unwrap();
    assert_eq!(stars(&got), [5, 8], "a local condition with the join, in key order");
    let got = q().filter(Review::author().join(Author::age()).gte(40)).filter(name().ne("cy")).all().await.unwrap();
    assert_eq!(stars(&got), [1, 4, 7], "two joins on one query");
    let split = db.clone().with_max_in_values(1);
    let got = split
        .query::<Review>()
        .filter(name().is_in(["ann", "cy"]))
        .filter(Review::stars().is_in([0, 2, 3, 7, 8]))
        .order_by(Review::stars().asc())
        .select_related(Review::author())
        .rows()
        .await
        .unwrap();
    let got: Vec<(i32, String)> =
        got.iter().map(|r| (r.record.stars, r.related(Review::author()).unwrap().unwrap().username)).collect();
    let want = [(0, "ann"), (2, "cy"), (3, "ann"), (8, "cy")];
    assert_eq!(got, want.map(|(s, n)| (s, n.to_string())), "`in` lookups larger than the backend takes, split");
    assert!(q().filter(name().eq("nobody")).all().await.unwrap().is_empty());
    assert!(q().filter(name().eq("ann")).limit(0).all().await.unwrap().is_empty());
    assert_eq!(q().filter(name().eq("ann")).count().await.unwrap(), 3);
    assert_eq!(q().filter(name().eq("ann")).offset(1).count().await.unwrap(), 2);
    let only = q().filter(name().eq("bob")).only(Review::stars()).only(Review::author()).all().await.unwrap();
    assert_eq!(stars(&only), [1, 4, 7], "only the stars and the author loaded");
    assert!(only.iter().all(|r| r.paper.is_none()), "the paper left out: {only:?}");
    let rows = q()
        .filter(name().is_in(["bob", "cy"]))
        .order_by(Review::stars().asc())
        .offset(1)
        .limit(3)
        .select_related(Review::author())
        .defer_related(Author::bio())
        .rows()
        .await
        .unwrap();
    let got: Vec<(i32, String, String)> = rows
        .iter()
        .map(|r| {
            let a = r.related(Review::author()).unwrap().expect("author loaded");
            (r.record.stars, a.username, a.bio)
        })
        .collect();
    let want = [(2, "cy", ""), (4, "bob", ""), (5, "cy", "")];
    assert_eq!(got, want.map(|(s, n, b)| (s, n.to_string(), b.to_string())), "joined and related, bio deferred");
}

/// Several related selections on one query; a parent's fields left out.
pub async fn several_related_selections<B: RelatedBackend>(db: &Database<B>) {
    let (authors, paper) = seed(db).await;
    let rows = db
        .query::<Review>()
        .filter(Review::stars().lt(4))
        .select_related(Review::author())
        .select_related(Review::paper())
        .only_related(Author::username())
        .rows()
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        let a = r.related(Review::author()).unwrap().expect("author loaded");
        let want = ["ann", "bob", "cy"][r.record.stars as usize % 3];
        assert_eq!((a.username.as_str(), a.age, a.bio.as_str()), (want, 0, ""), "only the username");
        let p = r.related(Review::paper()).unwrap();
        match r.record.stars % 2 {
            0 => assert_eq!(p.map(|p| (p.id, p.title)), Some((Some(paper.clone()), "P".into()))),
            _ => assert_eq!(p, None, "no paper, nothing loaded"),
        }
    }
    let rows = db
        .query::<Review>()
        .filter(Review::stars().eq(4))
        .only(Review::stars())
        .only(Review::author())
        .select_related(Review::paper())
        .rows()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].record.paper, None, "left out");
    assert_eq!(rows[0].related(Review::paper()).unwrap(), None, "the `Ref` left out: nothing loaded");
    let rows = db
        .query::<Review>()
        .filter(Review::stars().eq(3))
        .defer(Review::paper())
        .select_related(Review::author())
        .rows()
        .await
        .unwrap();
    assert_eq!(rows[0].related(Review::author()).unwrap().map(|a| a.id), Some(Some(authors[0].clone())));
    let none = db.query::<Review>().filter(Review::stars().gt(100)).select_related(Review::author()).rows().await;
    assert!(none.unwrap().is_empty());
}
