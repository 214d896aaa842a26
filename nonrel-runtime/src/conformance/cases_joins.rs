//! JOIN cases and related selections: every form on every backend, with the same
//! expected results.
#![allow(missing_docs)]

use crate::backend::capability::Runs;
use crate::conformance::Rng;
use crate::engine::related::{Join, JoinOrder};
use crate::plan::Native;
use crate::{Backend, Database, Key, Ref};

/// A related model: the copied fields, one renamed, and one that is never copied.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_authors")]
pub struct Author {
    #[field(key)]
    pub id: Option<Key<Author>>,
    #[field(index)]
    pub username: String,
    #[field(rename = "yrs")]
    pub age: i32,
    pub bio: String,
}

/// The same collection written by another program that knows nothing of the copies.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_authors")]
pub struct AuthorElsewhere {
    #[field(key)]
    pub id: Option<Key<AuthorElsewhere>>,
    #[field(index)]
    pub username: String,
    #[field(rename = "yrs")]
    pub age: i32,
    pub bio: String,
}

/// Holds denormalized copies of its author's username and age.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_papers", denormalize(author.username, author.age))]
pub struct Paper {
    #[field(key)]
    pub id: Option<Key<Paper>>,
    pub title: String,
    #[field(index)]
    pub author: Ref<Author>,
}

/// The articles collection as it was before the copies were declared.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_papers")]
pub struct PaperBefore {
    #[field(key)]
    pub id: Option<Key<PaperBefore>>,
    pub title: String,
    #[field(index)]
    pub author: Ref<Author>,
}

/// Joined to its author in two steps (no copies).
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_memos", join_in_memory(author))]
pub struct Memo {
    #[field(key)]
    pub id: Option<Key<Memo>>,
    pub text: String,
    #[field(index)]
    pub author: Option<Ref<Author>>,
}

type ArticleUsername = Join<Paper_fields::author, Author_fields::username>;
type ArticleAge = Join<Paper_fields::author, Author_fields::age>;
type NoteJoin<R> = Join<Memo_fields::author, R>;

/// What the JOIN cases need of a backend: every backend has it, through joins or through
/// the models' declarations.
pub trait JoinBackend:
    Backend
    + Runs<ArticleUsername>
    + Runs<ArticleAge>
    + Runs<JoinOrder<Paper_fields::author, Author_fields::username>>
    + Runs<NoteJoin<Author_fields::username>>
    + Runs<NoteJoin<Author_fields::age>>
{
}

impl<B> JoinBackend for B where
    B: Backend
        + Runs<ArticleUsername>
        + Runs<ArticleAge>
        + Runs<JoinOrder<Paper_fields::author, Author_fields::username>>
        + Runs<NoteJoin<Author_fields::username>>
        + Runs<NoteJoin<Author_fields::age>>
{
}

fn author(name: &str, age: i32) -> Author {
    Author { id: None, username: name.into(), age, bio: format!("{name} writes") }
}

fn article(title: &str, by: &Key<Author>) -> Paper {
    Paper { id: None, title: title.into(), author: by.clone().into() }
}

fn note(text: &str, by: Option<&Key<Author>>) -> Memo {
    Memo { id: None, text: text.into(), author: by.map(|k| k.clone().into()) }
}

/// Authors ann (30), bob (40), cy (50); articles by ann (2) and bob (1); notes by ann, cy
/// and nobody.
async fn seed<B: Backend>(db: &Database<B>) -> Vec<Key<Author>> {
    let mut authors = vec![author("ann", 30), author("bob", 40), author("cy", 50)];
    let keys = db.save_many(&mut authors).await.expect("authors");
    let mut articles = vec![article("A1", &keys[0]), article("A2", &keys[0]), article("B1", &keys[1])];
    db.save_many(&mut articles).await.expect("articles");
    let mut notes = vec![note("n-ann", Some(&keys[0])), note("n-cy", Some(&keys[2])), note("n-none", None)];
    db.save_many(&mut notes).await.expect("notes");
    keys
}

async fn article_titles<B: JoinBackend>(db: &Database<B>, c: crate::Condition<Paper, ArticleUsername>) -> Vec<String> {
    let mut t: Vec<String> =
        db.query::<Paper>().filter(c).all().await.expect("join").into_iter().map(|a| a.title).collect();
    t.sort();
    t
}

async fn note_texts<B, R>(db: &Database<B>, c: crate::Condition<Memo, NoteJoin<R>>) -> Vec<String>
where
    B: JoinBackend + Runs<NoteJoin<R>>,
{
    let mut t: Vec<String> =
        db.query::<Memo>().filter(c).all().await.expect("join").into_iter().map(|n| n.text).collect();
    t.sort();
    t
}

/// Lookups across a `Ref` through denormalized copies: every lookup, ordering, counting.
pub async fn joins_on_denormalized_copies<B: JoinBackend>(db: &Database<B>) {
    seed(db).await;
    let username = || Paper::author().join(Author::username());
    assert_eq!(article_titles(db, username().eq("ann")).await, ["A1", "A2"]);
    assert_eq!(article_titles(db, username().ne("ann")).await, ["B1"]);
    assert_eq!(article_titles(db, username().is_in(["bob", "cy"])).await, ["B1"]);
    assert_eq!(article_titles(db, username().startswith("b")).await, ["B1"]);
    assert_eq!(article_titles(db, username().gt("ann")).await, ["B1"]);
    assert!(article_titles(db, username().eq("cy")).await.is_empty(), "cy wrote no article");
    let older = db.query::<Paper>().filter(Paper::author().join(Author::age()).gte(35)).all().await.unwrap();
    assert_eq!(older.iter().map(|a| a.title.as_str()).collect::<Vec<_>>(), ["B1"], "a renamed field copies too");
    let ordered = db
        .query::<Paper>()
        .order_by(Paper::author().join(Author::username()).desc())
        .order_by(Paper::title().asc())
        .all()
        .await
        .unwrap();
    assert_eq!(ordered.iter().map(|a| a.title.as_str()).collect::<Vec<_>>(), ["B1", "A1", "A2"]);
    let n = db.query::<Paper>().filter(username().eq("ann")).filter(Paper::title().eq("A2")).count().await;
    assert_eq!(n.unwrap(), 1, "a join combines with local conditions");
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// Copies follow the related record when it is saved or updated, and the holder when its
/// `Ref` changes.
pub async fn denormalized_copies_follow_their_records<B: JoinBackend>(db: &Database<B>) {
    let keys = seed(db).await;
    let username = || Paper::author().join(Author::username());
    let mut ann = db.get(&keys[0]).await.unwrap().unwrap();
    ann.username = "anna".into();
    db.save(&mut ann).await.unwrap();
    assert_eq!(article_titles(db, username().eq("anna")).await, ["A1", "A2"], "a save of the related record");
    assert!(article_titles(db, username().eq("ann")).await.is_empty());
    let done = db.query::<Author>().filter(Author::username().eq("bob")).update().set(Author::username(), "rob").await;
    assert_eq!(done.unwrap().modified, 1);
    assert_eq!(article_titles(db, username().eq("rob")).await, ["B1"], "an update of the related record");
    let mut b1 = db.query::<Paper>().filter(Paper::title().eq("B1")).first().await.unwrap().unwrap();
    b1.author = keys[2].clone().into();
    db.save(&mut b1).await.unwrap();
    assert_eq!(article_titles(db, username().eq("cy")).await, ["B1"], "a save of the holder");
    let done = db.query::<Paper>().filter(Paper::title().eq("A2")).update().set(Paper::author(), &keys[2]).await;
    assert_eq!(done.unwrap().matched, 1);
    assert_eq!(article_titles(db, username().eq("cy")).await, ["A2", "B1"], "an update of the holder's Ref");
    let mut many = vec![author("dee", 60)];
    let dee = db.save_many(&mut many).await.unwrap().remove(0);
    let mut moved = db.query::<Paper>().filter(Paper::title().eq("A1")).all().await.unwrap();
    moved[0].author = dee.into();
    db.save_many(&mut moved).await.unwrap();
    assert_eq!(article_titles(db, username().eq("dee")).await, ["A1"], "save_many of holders");
    let by_key = db.query::<Author>().filter(Author::id().eq(&keys[2]));
    assert_eq!(by_key.update().set(Author::username(), "cyd").await.unwrap().modified, 1);
    assert_eq!(article_titles(db, username().eq("cyd")).await, ["A2", "B1"], "an update of the related record by key");
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// A related record written without the copies' knowledge leaves them stale:
/// `integrity_check` names each, `rebuild_indexes` brings them up to date.
pub async fn integrity_check_reports_stale_copies<B: JoinBackend>(db: &Database<B>) {
    let keys = seed(db).await;
    let mut ann = db.get(Key::<AuthorElsewhere>::from_value(keys[0].value().clone())).await.unwrap().unwrap();
    ann.username = "ann2".into();
    db.save(&mut ann).await.unwrap();
    let report = db.integrity_check().await.unwrap();
    let stale: Vec<_> = report.problems.iter().filter(|p| p.index == "_dn_author_username").collect();
    assert_eq!(stale.len(), 2, "{:?}", report.problems);
    assert!(stale.iter().all(|p| p.model == "Paper" && p.message.contains("stale")), "{stale:?}");
    assert!(stale[0].message.contains("\"ann\"") && stale[0].message.contains("\"ann2\""), "{}", stale[0].message);
    assert!(db.rebuild_indexes().await.unwrap() >= 2);
    assert!(db.integrity_check().await.unwrap().is_ok());
    assert_eq!(article_titles(db, Paper::author().join(Author::username()).eq("ann2")).await, ["A1", "A2"]);
}

/// Records saved before the copies were declared are found once `rebuild_indexes` has
/// backfilled them.
pub async fn rebuild_backfills_new_copies<B: JoinBackend>(db: &Database<B>) {
    let mut authors = vec![author("ann", 30)];
    let keys = db.save_many(&mut authors).await.unwrap();
    let mut old =
        vec![PaperBefore { id: None, title: "old".into(), author: Key::from_value(keys[0].value().clone()).into() }];
    db.save_many(&mut old).await.unwrap();
    let username = || Paper::author().join(Author::username());
    assert!(article_titles(db, username().eq("ann")).await.is_empty(), "no copy yet");
    assert!(!db.integrity_check().await.unwrap().is_ok(), "a missing copy is stale");
    db.rebuild_indexes().await.unwrap();
    assert_eq!(article_titles(db, username().eq("ann")).await, ["old"]);
    let old = db.query::<Paper>().first().await.unwrap().unwrap();
    assert_eq!(old.title, "old", "the copies do not disturb decoding");
}

/// In-memory (two-step) joins: the related keys first, then one `in` lookup.
pub async fn two_step_joins<B: JoinBackend>(db: &Database<B>) {
    seed(db).await;
    let username = || Memo::author().join(Author::username());
    assert_eq!(note_texts(db, username().eq("ann")).await, ["n-ann"]);
    assert_eq!(note_texts(db, username().is_in(["ann", "cy"])).await, ["n-ann", "n-cy"]);
    assert_eq!(note_texts(db, Memo::author().join(Author::age()).range(40, 60)).await, ["n-cy"]);
    assert!(note_texts(db, username().eq("nobody")).await.is_empty());
    let n = db.query::<Memo>().filter(username().startswith("c")).count().await.unwrap();
    assert_eq!(n, 1);
    let both = db.query::<Memo>().filter(username().is_in(["ann", "cy"])).filter(Memo::text().ne("n-cy")).all().await;
    assert_eq!(both.unwrap().len(), 1);
    let split = db.clone().with_max_in_values(1);
    let found = split.query::<Memo>().filter(Memo::author().join(Author::age()).gte(0)).all().await.unwrap();
    assert_eq!(found.len(), 2, "the keys found are split into `in` lookups the backend takes");
    let page = db.query::<Memo>().filter(username().is_in(["ann", "cy"])).order_by(Memo::text().asc()).page(1);
    let first = page.await.expect("a page with a join");
    assert_eq!(first.items.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(), ["n-ann"]);
    let next = first.next.expect("a second page");
    let q = || db.query::<Memo>().filter(username().is_in(["ann", "cy"])).order_by(Memo::text().asc()).page(1);
    let second = q().after(next.clone()).await.expect("the second page");
    assert_eq!(second.items.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(), ["n-cy"]);
    assert!(second.next.is_none(), "only two notes match");
    let other = db.query::<Memo>().filter(username().eq("ann")).order_by(Memo::text().asc()).page(1).after(next);
    assert_eq!(other.await.unwrap_err().kind(), crate::ErrorKind::InvalidCursor, "another join condition");
}

/// `select_related`: the related records of the whole result, with deferred fields.
pub async fn select_related_loads_related_records<B: JoinBackend>(db: &Database<B>) {
    let keys = seed(db).await;
    let rows = db.query::<Paper>().order_by(Paper::title().asc()).select_related(Paper::author()).rows().await;
    let rows = rows.unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.related(Paper::author()).unwrap().unwrap().username).collect();
    assert_eq!(names, ["ann", "ann", "bob"]);
    let first = rows[0].related(Paper::author()).unwrap().unwrap();
    assert_eq!(first, db.get(&keys[0]).await.unwrap().unwrap(), "the whole record");
    let rows = db
        .query::<Memo>()
        .order_by(Memo::text().asc())
        .select_related(Memo::author())
        .defer_related(Author::bio())
        .rows()
        .await
        .unwrap();
    let authors: Vec<Option<Author>> = rows.iter().map(|r| r.related(Memo::author()).unwrap()).collect();
    assert_eq!(authors[0].as_ref().map(|a| (a.username.as_str(), a.bio.as_str())), Some(("ann", "")), "bio deferred");
    assert_eq!(authors[1].as_ref().map(|a| a.age), Some(50));
    assert_eq!(authors[2], None, "no reference, no related record");
    db.delete(&keys[2]).await.unwrap();
    let rows = db.query::<Memo>().filter(Memo::text().eq("n-cy")).select_related(Memo::author()).rows().await.unwrap();
    assert_eq!(rows[0].related(Memo::author()).unwrap(), None, "a dangling reference loads nothing");
    let only = db.query::<Paper>().select_related(Paper::author()).only_related(Author::age()).rows().await.unwrap();
    let a = only[0].related(Paper::author()).unwrap().unwrap();
    assert!(a.username.is_empty() && a.age > 0, "only the age loaded: {a:?}");
    let plain = db.query::<Paper>().rows().await.unwrap();
    assert_eq!(plain[0].related(Paper::author()).unwrap(), None, "not selected");
}

/// Records saved inside a transaction keep their copies: a holder saved there
/// gets its author's fields, and renaming the author there updates every copy once the
/// transaction commits.
pub async fn transactions_keep_denormalized_copies<B>(db: &Database<B>)
where
    B: JoinBackend + crate::backend::capability::Transactions,
{
    let keys = seed(db).await;
    let ann = keys[0].clone();
    let saved = ann.clone();
    db.transaction(move |tx| {
        let by = saved.clone();
        async move { tx.save(&mut article("T1", &by)).await }
    })
    .await
    .expect("save in a transaction");
    let username = || Paper::author().join(Author::username());
    assert_eq!(article_titles(db, username().eq("ann")).await, ["A1", "A2", "T1"]);
    db.transaction(move |tx| {
        let key = ann.clone();
        async move {
            let mut a = tx.get::<Author>(&key).await?.expect("ann");
            a.username = "anne".into();
            tx.save(&mut a).await
        }
    })
    .await
    .expect("rename in a transaction");
    assert_eq!(article_titles(db, username().eq("anne")).await, ["A1", "A2", "T1"]);
    assert!(article_titles(db, username().eq("ann")).await.is_empty());
    assert!(db.integrity_check().await.expect("integrity_check").is_ok(), "no stale copy");
}

/// ORs and NOTs mix with joins: beside a condition across a `Ref` (through copies or in two
/// steps) every condition holds, and inside an OR or a NOT a condition across a `Ref` holds
/// as it does alone, a record with no `Ref` matching none (so matching its NOT).
pub async fn ors_mix_with_joins<B: JoinBackend>(db: &Database<B>) {
    seed(db).await;
    let titles: Vec<String> = db
        .query::<Paper>()
        .filter(Paper::author().join(Author::username()).eq("ann"))
        .filter(Paper::title().eq("A2") | Paper::title().eq("B1"))
        .all()
        .await
        .expect("an OR beside a join on copies")
        .into_iter()
        .map(|a| a.title)
        .collect();
    assert_eq!(titles, ["A2"]);
    let texts: Vec<String> = db
        .query::<Memo>()
        .filter(Memo::author().join(Author::username()).is_in(["ann", "cy"]))
        .filter(!Memo::text().eq("n-cy"))
        .all()
        .await
        .expect("a NOT beside a two-step join")
        .into_iter()
        .map(|n| n.text)
        .collect();
    assert_eq!(texts, ["n-ann"]);
    let username = || Memo::author().join(Author::username());
    let age = || Memo::author().join(Author::age());
    assert_eq!(note_texts(db, username().eq("ann") | username().eq("cy")).await, ["n-ann", "n-cy"]);
    assert_eq!(note_texts(db, !username().eq("ann")).await, ["n-cy", "n-none"], "no author: not ann's");
    assert_eq!(note_texts(db, !username().eq("nobody")).await, ["n-ann", "n-cy", "n-none"]);
    assert!(note_texts(db, username().eq("nobody") | username().eq("none")).await.is_empty());
    // Conditions of different requirements mix once `require`d, as emulated lookups do.
    let mixed = username().eq("ann").require() | Memo::text().eq("n-none");
    assert_eq!(memo_texts(db, mixed).await, ["n-ann", "n-none"]);
    let nested = !(username().eq("ann").require() | (age().gte(45).require() & Memo::text().startswith("n-")));
    assert_eq!(memo_texts(db, nested).await, ["n-none"]);
    let copies = Paper::author().join(Author::username()).eq("bob").require() | Paper::title().eq("A1");
    let mut titles: Vec<String> =
        db.query::<Paper>().filter(copies).all().await.unwrap().into_iter().map(|p| p.title).collect();
    titles.sort();
    assert_eq!(titles, ["A1", "B1"], "an OR of a copy and a local condition");
    // `&` of joins alone is the same as two `filter` calls: joins at the top level.
    let both = username().is_in(["ann", "cy"]).require() & age().lt(40).require();
    assert_eq!(memo_texts(db, both).await, ["n-ann"]);
    let either = !username().eq("ann").require() | Memo::text().eq("n-ann");
    let n = db.query::<Memo>().filter(either).count().await;
    assert_eq!(n.unwrap(), 3, "a count resolves the joins inside the OR too");
}

async fn memo_texts<B: Backend>(db: &Database<B>, c: crate::Condition<Memo>) -> Vec<String> {
    let mut t: Vec<String> =
        db.query::<Memo>().filter(c).all().await.expect("memos").into_iter().map(|n| n.text).collect();
    t.sort();
    t
}

/// A memo of the oracle case: its text, whether it holds a `Ref`, and its author's username
/// and age when the `Ref` names a record (none when it is missing or names a deleted author).
struct OracleMemo {
    text: String,
    has_ref: bool,
    author: Option<(String, i32)>,
}

/// One condition of the oracle case on `Memo`: on its text, on its `Ref`, or across it.
#[derive(Debug, Clone)]
enum Atom {
    TextPrefix(String),
    TextGt(String),
    NoAuthor,
    Username(String),
    UsernameIn(Vec<String>),
    UsernameNe(String),
    AgeGte(i32),
    AgeLt(i32),
}

/// A condition tree of the oracle case.
#[derive(Debug, Clone)]
enum Tree {
    Atom(Atom),
    Or(Vec<Vec<Tree>>),
    Not(Vec<Tree>),
}

const NAMES: [&str; 4] = ["ann", "bob", "cy", "dee"];

impl Tree {
    fn draw(rng: &mut Rng, depth: u32) -> Tree {
        match rng.below_u64(if depth == 0 { 3 } else { 5 }) {
            3 => Tree::Or((0..rng.below_u64(4)).map(|_| Tree::conjunction(rng, depth - 1)).collect()),
            4 => Tree::Not(Tree::conjunction(rng, depth - 1)),
            _ => Tree::Atom(match rng.below_u64(8) {
                0 => Atom::TextPrefix(format!("m{}", rng.below_u64(4))),
                1 => Atom::TextGt(format!("m{:02}", rng.below_u64(40))),
                2 => Atom::NoAuthor,
                3 => Atom::Username(rng.pick(&NAMES).into()),
                4 => Atom::UsernameIn((0..rng.below_u64(3)).map(|_| rng.pick(&NAMES).to_string()).collect()),
                5 => Atom::UsernameNe(rng.pick(&NAMES).into()),
                6 => Atom::AgeGte(20 + rng.below_u64(50) as i32),
                _ => Atom::AgeLt(20 + rng.below_u64(50) as i32),
            }),
        }
    }

    fn conjunction(rng: &mut Rng, depth: u32) -> Vec<Tree> {
        (0..1 + rng.below_u64(2)).map(|_| Tree::draw(rng, depth)).collect()
    }

    /// Whether the condition holds for a memo, with MongoDB's meaning: a condition across
    /// the `Ref` holds only through a related record, so a memo without one matches its NOT.
    fn holds(&self, m: &OracleMemo) -> bool {
        let related = |test: &dyn Fn(&str, i32) -> bool| m.author.as_ref().is_some_and(|(n, a)| test(n, *a));
        match self {
            Tree::Atom(Atom::TextPrefix(p)) => m.text.starts_with(p.as_str()),
            Tree::Atom(Atom::TextGt(t)) => m.text.as_str() > t.as_str(),
            Tree::Atom(Atom::NoAuthor) => !m.has_ref,
            Tree::Atom(Atom::Username(u)) => related(&|n, _| n == u),
            Tree::Atom(Atom::UsernameIn(us)) => related(&|n, _| us.iter().any(|u| u == n)),
            Tree::Atom(Atom::UsernameNe(u)) => related(&|n, _| n != u),
            Tree::Atom(Atom::AgeGte(a)) => related(&|_, age| age >= *a),
            Tree::Atom(Atom::AgeLt(a)) => related(&|_, age| age < *a),
            Tree::Or(branches) => branches.iter().any(|b| b.iter().all(|t| t.holds(m))),
            Tree::Not(conds) => !conds.iter().all(|t| t.holds(m)),
        }
    }

    fn condition(&self) -> crate::Condition<Memo, Native> {
        let username = || Memo::author().join(Author::username());
        let age = || Memo::author().join(Author::age());
        match self {
            Tree::Atom(Atom::TextPrefix(p)) => Memo::text().startswith(p.as_str()),
            Tree::Atom(Atom::TextGt(t)) => Memo::text().gt(t.as_str()),
            Tree::Atom(Atom::NoAuthor) => Memo::author().isnull(true),
            Tree::Atom(Atom::Username(u)) => username().eq(u.as_str()).require(),
            Tree::Atom(Atom::UsernameIn(us)) => username().is_in(us.iter().map(String::as_str)).require(),
            Tree::Atom(Atom::UsernameNe(u)) => username().ne(u.as_str()).require(),
            Tree::Atom(Atom::AgeGte(a)) => age().gte(*a).require(),
            Tree::Atom(Atom::AgeLt(a)) => age().lt(*a).require(),
            Tree::Or(branches) => {
                crate::query::any(branches.iter().map(|b| crate::query::all(b.iter().map(Tree::condition))))
            }
            Tree::Not(conds) => !crate::query::all(conds.iter().map(Tree::condition)),
        }
    }
}

/// Conditions across a `Ref` inside ORs and NOTs, nested, mixed with conditions on the
/// memo and its `Ref`, on random memos (some without an author, some whose author was
/// deleted): every query, count and page gives the oracle's answer.
pub async fn joins_inside_ors_and_nots_agree_with_an_oracle<B: JoinBackend>(db: &Database<B>) {
    let mut rng = Rng::new(0x6a6f_696e_5f6f_7273);
    let mut authors: Vec<Author> = (0..6).map(|_| author(rng.pick(&NAMES), 20 + rng.below_u64(50) as i32)).collect();
    let keys = db.save_many(&mut authors).await.expect("authors");
    let (mut memos, mut oracle) = (Vec::new(), Vec::new());
    for i in 0..40 {
        // Authors 0 to 4, none, or author 5 (deleted below).
        let by = match rng.below_u64(8) as usize {
            6 => None,
            7 => Some(5),
            at => Some(at.min(4)),
        };
        memos.push(note(&format!("m{i:02}"), by.map(|at| &keys[at])));
        let author = by.filter(|at| *at != 5).map(|at| (authors[at].username.clone(), authors[at].age));
        oracle.push(OracleMemo { text: format!("m{i:02}"), has_ref: by.is_some(), author });
    }
    db.save_many(&mut memos).await.expect("memos");
    db.delete(&keys[5]).await.expect("an author deleted, its memos left referring to it");
    let want = |tree: &Tree| -> Vec<String> {
        let mut t: Vec<String> = oracle.iter().filter(|m| tree.holds(m)).map(|m| m.text.clone()).collect();
        t.sort();
        t
    };
    let (mut with_join, mut under_not) = (0, 0);
    for round in 0..40 {
        let tree = Tree::Or(vec![Tree::conjunction(&mut rng, 2)]);
        let text = format!("{tree:?}");
        with_join += usize::from(text.contains("Username") || text.contains("Age"));
        under_not += usize::from(text.contains("Not("));
        let expected = want(&tree);
        let mut got: Vec<String> = db
            .query::<Memo>()
            .filter(tree.condition())
            .all()
            .await
            .unwrap_or_else(|e| panic!("{tree:?}: {e}"))
            .into_iter()
            .map(|m| m.text)
            .collect();
        got.sort();
        assert_eq!(got, expected, "{tree:?}");
        if round % 3 == 0 {
            let n = db.query::<Memo>().filter(tree.condition()).count().await.expect("count");
            assert_eq!(n, expected.len() as u64, "count of {tree:?}");
        }
        if round % 5 == 0 {
            // Beside a join at the top level: both hold.
            let top = Memo::author().join(Author::age()).gte(40);
            let both = Tree::Or(vec![vec![tree.clone(), Tree::Atom(Atom::AgeGte(40))]]);
            let mut got: Vec<String> = db
                .query::<Memo>()
                .filter(top)
                .filter(tree.condition())
                .all()
                .await
                .expect("with a join at the top level")
                .into_iter()
                .map(|m| m.text)
                .collect();
            got.sort();
            assert_eq!(got, want(&both), "age >= 40 and {tree:?}");
        }
        if round % 8 == 0 {
            let mut pages = Vec::new();
            let mut page = db.query::<Memo>().filter(tree.condition()).order_by(Memo::text().asc()).page(7).await;
            loop {
                let p = page.unwrap_or_else(|e| panic!("a page of {tree:?}: {e}"));
                pages.extend(p.items.into_iter().map(|m| m.text));
                let Some(next) = p.next else { break };
                page =
                    db.query::<Memo>().filter(tree.condition()).order_by(Memo::text().asc()).page(7).after(next).await;
            }
            assert_eq!(pages, expected, "the pages of {tree:?}");
        }
    }
    assert!(with_join >= 20 && under_not >= 5, "the trees drew joins ({with_join}) and NOTs ({under_not})");
}
