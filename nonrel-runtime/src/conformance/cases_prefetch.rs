//! Related selections of every kind of reference: `select_related` on optional
//! references, `prefetch_related` on lists of references and `prefetch_reverse` on the records
//! referring to each row, with deferred fields and `in` lookups split at the backend's limit.
//! Every backend gives the same rows.
#![allow(missing_docs)]

use crate::{Backend, Database, Key, Query, Ref};

/// A contributor, referred to by writeups as author and (optionally) editor; natural keys.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_pf_people")]
pub struct Contributor {
    #[field(key)]
    pub name: String,
    pub age: i32,
    pub bio: String,
}

/// A sticker that writeups list; automatic keys.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_pf_labels")]
pub struct Sticker {
    #[field(key)]
    pub id: Option<Key<Sticker>>,
    pub text: String,
    pub note: String,
}

/// A writeup: one author, an optional editor (stored under another name, not indexed) and a
/// list of stickers.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_pf_entries")]
pub struct Writeup {
    #[field(key)]
    pub id: Option<Key<Writeup>>,
    #[field(index)]
    pub n: i32,
    #[field(index)]
    pub author: Ref<Contributor>,
    #[field(rename = "ed")]
    pub editor: Option<Ref<Contributor>>,
    #[field(index)]
    pub labels: Vec<Ref<Sticker>>,
    pub body: String,
}

/// A contributor's name, age and bio.
type Summary = (String, i32, String);

fn person(name: &str) -> Key<Contributor> {
    Key::from(name)
}

/// Contributors ann, bob, cy (no writeups) and dee (deleted: a dangling reference); labels l0..l3
/// (l3 deleted); writeups 0..=5:
///
/// | n | author | editor | labels         |
/// |---|--------|--------|----------------|
/// | 0 | ann    | bob    | l0, l1         |
/// | 1 | ann    | —      | —              |
/// | 2 | bob    | dee    | l2, l0, l2     |
/// | 3 | ann    | ann    | l3, l1         |
/// | 4 | dee    | —      | l1             |
/// | 5 | ann    | bob    | l2, l3, l0, l1 |
async fn seed<B: Backend>(db: &Database<B>) -> Vec<Key<Sticker>> {
    let mut people: Vec<Contributor> = [("ann", 30), ("bob", 40), ("cy", 50), ("dee", 60)]
        .into_iter()
        .map(|(n, age)| Contributor { name: n.into(), age, bio: format!("{n}'s bio") })
        .collect();
    db.save_many(&mut people).await.expect("people");
    let mut labels: Vec<Sticker> =
        (0..4).map(|i| Sticker { id: None, text: format!("l{i}"), note: format!("note {i}") }).collect();
    let l = db.save_many(&mut labels).await.expect("labels");
    let rows: [(&str, Option<&str>, Vec<usize>); 6] = [
        ("ann", Some("bob"), vec![0, 1]),
        ("ann", None, vec![]),
        ("bob", Some("dee"), vec![2, 0, 2]),
        ("ann", Some("ann"), vec![3, 1]),
        ("dee", None, vec![1]),
        ("ann", Some("bob"), vec![2, 3, 0, 1]),
    ];
    let mut entries: Vec<Writeup> = rows
        .into_iter()
        .enumerate()
        .map(|(n, (author, editor, labels))| Writeup {
            id: None,
            n: n as i32,
            author: person(author).into(),
            editor: editor.map(|e| person(e).into()),
            labels: labels.into_iter().map(|i| l[i].clone().into()).collect(),
            body: format!("body {n}"),
        })
        .collect();
    db.save_many(&mut entries).await.expect("entries");
    assert!(db.delete(person("dee")).await.expect("delete dee"));
    assert!(db.delete(&l[3]).await.expect("delete l3"));
    l
}

/// The databases a case runs on: the one given, and the same with every `in` lookup split
/// into lookups of at most one and two values.
fn splits<B: Backend>(db: &Database<B>) -> [(Database<B>, &'static str); 3] {
    [
        (db.clone(), "whole"),
        (db.clone().with_max_in_values(1), "split by 1"),
        (db.clone().with_max_in_values(2), "split by 2"),
    ]
}

/// `select_related` on an `Option<Ref>`: `None` for rows without one and for a dangling one;
/// deferred and only-loaded fields honoured; composed with a selection of a `Ref`.
pub async fn select_related_follows_optional_refs<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let rows = db
        .query::<Writeup>()
        .order_by(Writeup::n().asc())
        .select_related(Writeup::editor())
        .select_related(Writeup::author())
        .defer_related(Contributor::bio())
        .rows()
        .await
        .unwrap();
    let got: Vec<(i32, Option<Summary>, Option<String>)> = rows
        .iter()
        .map(|r| {
            let editor = r.related(Writeup::editor()).unwrap().map(|p| (p.name, p.age, p.bio));
            let author = r.related(Writeup::author()).unwrap().map(|p| p.name);
            (r.record.n, editor, author)
        })
        .collect();
    let e = |n: &str, age| Some((n.to_string(), age, String::new()));
    let a = |n: &str| Some(n.to_string());
    let want = vec![
        (0, e("bob", 40), a("ann")),
        (1, None, a("ann")),
        (2, None, a("bob")),
        (3, e("ann", 30), a("ann")),
        (4, None, None),
        (5, e("bob", 40), a("ann")),
    ];
    assert_eq!(got, want, "editors (bio deferred) and authors; none, or dangling, gives None");
    let rows = db
        .query::<Writeup>()
        .filter(Writeup::n().is_in([0, 3]))
        .select_related(Writeup::editor())
        .only_related(Contributor::age())
        .rows()
        .await
        .unwrap();
    let got: Vec<Contributor> =
        rows.iter().map(|r| r.related(Writeup::editor()).unwrap().expect("an editor")).collect();
    let want = [("bob", 40), ("ann", 30)].map(|(n, age)| Contributor { name: n.into(), age, bio: String::new() });
    assert_eq!(got, want, "only the age loaded (and the key)");
    let plain = db.query::<Writeup>().rows().await.unwrap();
    assert_eq!(plain[0].related(Writeup::editor()).unwrap(), None, "not selected");
}

/// `prefetch_related` on a `Vec<Ref>`: the list's order, duplicates kept, empty lists,
/// dangling keys left out and reported, deferred fields, the union of keys split.
pub async fn prefetch_related_follows_lists_of_refs<B: Backend>(db: &Database<B>) {
    let l = seed(db).await;
    for (db, how) in splits(db) {
        let rows = db
            .query::<Writeup>()
            .order_by(Writeup::n().desc())
            .prefetch_related(Writeup::labels())
            .defer_related(Sticker::note())
            .rows()
            .await
            .unwrap();
        let got: Vec<(i32, Vec<String>, Vec<Key<Sticker>>)> = rows
            .iter()
            .map(|r| {
                let texts = r.related_many(Writeup::labels()).unwrap().into_iter().map(|t| t.text).collect();
                (r.record.n, texts, r.missing_related(Writeup::labels()))
            })
            .collect();
        let t = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let want = vec![
            (5, t(&["l2", "l0", "l1"]), vec![l[3].clone()]),
            (4, t(&["l1"]), vec![]),
            (3, t(&["l1"]), vec![l[3].clone()]),
            (2, t(&["l2", "l0", "l2"]), vec![]),
            (1, t(&[]), vec![]),
            (0, t(&["l0", "l1"]), vec![]),
        ];
        assert_eq!(got, want, "{how}: in each list's order, duplicates kept, the deleted label reported");
        let first = &rows[3].related_many(Writeup::labels()).unwrap()[0];
        assert_eq!((first.id.as_ref(), first.note.as_str()), (Some(&l[2]), ""), "{how}: keys loaded, note deferred");
        let only = db
            .query::<Writeup>()
            .filter(Writeup::n().eq(0))
            .prefetch_related(Writeup::labels())
            .only_related(Sticker::note())
            .rows()
            .await
            .unwrap();
        let got: Vec<(String, String)> =
            only[0].related_many(Writeup::labels()).unwrap().into_iter().map(|t| (t.text, t.note)).collect();
        assert_eq!(got, [("", "note 0"), ("", "note 1")].map(|(a, b)| (a.into(), b.into())), "{how}: only the note");
    }
    let none =
        db.query::<Writeup>().filter(Writeup::n().eq(1)).prefetch_related(Writeup::labels()).rows().await.unwrap();
    assert!(none[0].related_many(Writeup::labels()).unwrap().is_empty(), "an empty list");
    let empty =
        db.query::<Writeup>().filter(Writeup::n().gt(99)).prefetch_related(Writeup::labels()).rows().await.unwrap();
    assert!(empty.is_empty(), "no rows, nothing to read");
}

/// `prefetch_reverse`: for each row, the records whose `Ref`, `Option<Ref>` or `Vec<Ref>`
/// refers to it, grouped per row in key order; rows nobody refers to get none; the keys'
/// `in` split; deferred fields; a query on the reverse set with order and a limit per row.
pub async fn prefetch_reverse_groups_referring_records<B: Backend>(db: &Database<B>) {
    let l = seed(db).await;
    let ns = |entries: Vec<Writeup>| entries.into_iter().map(|e| e.n).collect::<Vec<_>>();
    for (db, how) in splits(db) {
        let rows = db
            .query::<Contributor>()
            .prefetch_reverse(Writeup::author())
            .prefetch_reverse(Writeup::editor())
            .defer_related(Writeup::body())
            .rows()
            .await
            .unwrap();
        let got: Vec<(String, Vec<i32>, Vec<i32>)> = rows
            .iter()
            .map(|r| {
                let wrote = ns(r.reverse(Writeup::author()).unwrap());
                let edited = ns(r.reverse(Writeup::editor()).unwrap());
                (r.record.name.clone(), wrote, edited)
            })
            .collect();
        let want = vec![
            ("ann".to_string(), vec![0, 1, 3, 5], vec![3]),
            ("bob".to_string(), vec![2], vec![0, 5]),
            ("cy".to_string(), vec![], vec![]),
        ];
        assert_eq!(got, want, "{how}: each person's writeups as author and as editor");
        let ann = &rows[0].reverse(Writeup::author()).unwrap()[1];
        assert_eq!(
            (ann.author.key(), ann.labels.is_empty(), ann.body.as_str()),
            (&person("ann"), true, ""),
            "{how}: the reference loaded, the body deferred"
        );
        let labels = db
            .query::<Sticker>()
            .order_by(Sticker::text().asc())
            .prefetch_reverse(Writeup::labels())
            .only_related(Writeup::n())
            .only_related(Writeup::author())
            .rows()
            .await
            .unwrap();
        let got: Vec<(String, Vec<i32>)> =
            labels.iter().map(|r| (r.record.text.clone(), ns(r.reverse(Writeup::labels()).unwrap()))).collect();
        let want = [("l0", vec![0, 2, 5]), ("l1", vec![0, 3, 4, 5]), ("l2", vec![2, 5])];
        assert_eq!(got, want.map(|(t, n)| (t.to_string(), n)), "{how}: through lists, a label listed twice once");
        let e = &labels[0].reverse(Writeup::labels()).unwrap()[0];
        assert!(e.labels.is_empty() && e.body.is_empty(), "{how}: only the number and author loaded: {e:?}");
        let top = Query::<Writeup>::new().filter(Writeup::n().gt(0)).order_by(Writeup::n().desc()).offset(1).limit(2);
        let rows = db
            .query::<Contributor>()
            .filter(Contributor::age().lte(40))
            .order_by(Contributor::age().desc())
            .prefetch_reverse_with(Writeup::author(), top)
            .rows()
            .await
            .unwrap();
        let got: Vec<(String, Vec<i32>)> =
            rows.iter().map(|r| (r.record.name.clone(), ns(r.reverse(Writeup::author()).unwrap()))).collect();
        let want = [("bob", vec![]), ("ann", vec![3, 1])];
        assert_eq!(got, want.map(|(n, e)| (n.to_string(), e)), "{how}: filtered, ordered, offset and limit per person");
    }
    let _ = l;
    let none =
        db.query::<Contributor>().filter(Contributor::age().gt(99)).prefetch_reverse(Writeup::author()).rows().await;
    assert!(none.unwrap().is_empty(), "no rows, nothing to read");
}

/// Every kind on one query: a `Ref`, an `Option<Ref>`, a list and a reverse set.
pub async fn every_kind_of_reference_on_one_query<B: Backend>(db: &Database<B>) {
    seed(db).await;
    let rows = db
        .query::<Writeup>()
        .filter(Writeup::n().is_in([0, 2]))
        .select_related(Writeup::author())
        .select_related(Writeup::editor())
        .prefetch_related(Writeup::labels())
        .rows()
        .await
        .unwrap();
    let got: Vec<(i32, String, Option<String>, usize)> = rows
        .iter()
        .map(|r| {
            (
                r.record.n,
                r.related(Writeup::author()).unwrap().expect("author").name,
                r.related(Writeup::editor()).unwrap().map(|p| p.name),
                r.related_many(Writeup::labels()).unwrap().len(),
            )
        })
        .collect();
    assert_eq!(got, [(0, "ann".into(), Some("bob".into()), 2), (2, "bob".into(), None, 3)]);
    let people = db
        .query::<Contributor>()
        .filter(Contributor::age().eq(40))
        .prefetch_reverse(Writeup::author())
        .prefetch_reverse(Writeup::editor())
        .rows()
        .await
        .unwrap();
    let edited = people[0].reverse(Writeup::editor()).unwrap();
    assert_eq!(edited.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(), ["body 0", "body 5"], "whole records");
    assert_eq!(people[0].reverse(Writeup::author()).unwrap()[0].n, 2);
}
