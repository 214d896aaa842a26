//! OR and NOT: every form agrees with an oracle (MongoDB's semantics: a missing field does
//! not equal a value, so its negation matches; a condition on a list is negated as a whole),
//! read every way (`all`, `count`, `exists`, `first`, windows, pages both ways, updates), with
//! emulated lookups inside the branches, and the same on every backend.
#![allow(missing_docs)]

use crate::query::{all, any, not};
use crate::{Backend, Condition, Database, Query};

/// A ticket: indexed status and owner, an unindexed optional priority, indexed tags, a title
/// with a declared case-insensitive lookup.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_bool_tickets")]
pub struct Ticket {
    #[field(key)]
    pub id: i64,
    #[field(index)]
    pub status: String,
    #[field(index)]
    pub owner: i64,
    pub priority: Option<i64>,
    #[field(index)]
    pub tags: Vec<String>,
    #[field(index(icontains))]
    pub title: String,
}

const STATUSES: [&str; 3] = ["open", "closed", "waiting"];
const TAGS: [&str; 4] = ["bug", "ui", "db", "docs"];

fn tickets() -> Vec<Ticket> {
    (0..60)
        .map(|i: i64| Ticket {
            id: i * 7 % 61,
            status: STATUSES[(i % 3) as usize].to_owned(),
            owner: i % 5,
            priority: (i % 4 != 0).then_some(i % 6),
            tags: TAGS.iter().enumerate().filter(|(t, _)| (i >> t) & 1 == 1).map(|(_, s)| (*s).to_owned()).collect(),
            title: format!("{} Ticket {i}", if i % 2 == 0 { "Crash in" } else { "Slow" }),
        })
        .collect()
}

/// A typed condition with the oracle's answer for it.
struct Case {
    name: &'static str,
    condition: fn() -> Condition<Ticket>,
    holds: fn(&Ticket) -> bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "status = open | owner = 3",
            condition: || Ticket::status().eq("open") | Ticket::owner().eq(3),
            holds: |t| t.status == "open" || t.owner == 3,
        },
        Case {
            name: "!(priority = 3): a missing priority matches",
            condition: || !Ticket::priority().eq(3),
            holds: |t| t.priority != Some(3),
        },
        Case {
            name: "!(priority > 2): missing matches, as with $nor",
            condition: || !Ticket::priority().gt(2),
            holds: |t| t.priority.is_none_or(|p| p <= 2),
        },
        Case {
            name: "!tags has bug: no element is bug",
            condition: || !Ticket::tags().contains("bug"),
            holds: |t| !t.tags.iter().any(|x| x == "bug"),
        },
        Case {
            name: "!(tags ne bug): some element is bug",
            condition: || !Ticket::tags().ne(vec!["bug".to_owned()]),
            holds: |t| t.tags == ["bug"],
        },
        Case {
            name: "(open & owner 1) | (closed & priority missing)",
            condition: || {
                (Ticket::status().eq("open") & Ticket::owner().eq(1))
                    | (Ticket::status().eq("closed") & Ticket::priority().isnull(true))
            },
            holds: |t| (t.status == "open" && t.owner == 1) || (t.status == "closed" && t.priority.is_none()),
        },
        Case {
            name: "!(open | tags has ui)",
            condition: || !(Ticket::status().eq("open") | Ticket::tags().contains("ui")),
            holds: |t| !(t.status == "open" || t.tags.iter().any(|x| x == "ui")),
        },
        Case {
            name: "!!(owner in 1, 2)",
            condition: || !!Ticket::owner().is_in([1, 2]),
            holds: |t| t.owner == 1 || t.owner == 2,
        },
        Case {
            name: "owner < 2 | owner > 3 | priority in 0, 5",
            condition: || any([Ticket::owner().lt(2), Ticket::owner().gt(3), Ticket::priority().is_in([0, 5])]),
            holds: |t| t.owner < 2 || t.owner > 3 || matches!(t.priority, Some(0 | 5)),
        },
        Case { name: "any of none: nothing", condition: || any([]), holds: |_| false },
        Case { name: "all of none: everything", condition: || all([]), holds: |_| true },
        Case { name: "not all of none: nothing", condition: || not(all([])), holds: |_| false },
        Case {
            name: "icontains inside an OR (declared lookup)",
            condition: || Ticket::title().icontains("CRASH").require() | Ticket::owner().eq(1),
            holds: |t| t.title.to_lowercase().contains("crash") || t.owner == 1,
        },
        Case {
            name: "not icontains",
            condition: || !Ticket::title().icontains("slow").require(),
            holds: |t| !t.title.to_lowercase().contains("slow"),
        },
        Case {
            name: "key inside an OR",
            condition: || Ticket::id().is_in([3, 5, 70]) | Ticket::owner().eq(4),
            holds: |t| [3, 5].contains(&t.id) || t.owner == 4,
        },
    ]
}

async fn load<B: Backend>(db: &Database<B>) -> Vec<Ticket> {
    let mut all = tickets();
    db.save_many(&mut all).await.expect("save tickets");
    all.sort_by_key(|t| t.id);
    all
}

/// Every condition, read every way, against the oracle.
pub async fn or_and_not_agree_with_an_oracle<B: Backend>(db: &Database<B>) {
    let records = load(db).await;
    for case in cases() {
        let want: Vec<Ticket> = records.iter().filter(|t| (case.holds)(t)).cloned().collect();
        let q = || db.query::<Ticket>().with(Query::new().filter((case.condition)()));
        let name = case.name;
        assert_eq!(q().all().await.expect(name), want, "{name}: all");
        assert_eq!(q().count().await.expect(name), want.len() as u64, "{name}: count");
        assert_eq!(q().count_upto(3).await.expect(name), want.len().min(3) as u64, "{name}: count_upto");
        assert_eq!(q().exists().await.expect(name), !want.is_empty(), "{name}: exists");
        // Ordered by a field, then the key; a window.
        let mut by_owner = want.clone();
        by_owner.sort_by(|a, b| b.owner.cmp(&a.owner).then(a.id.cmp(&b.id)));
        let window: Vec<Ticket> = by_owner.iter().skip(2).take(5).cloned().collect();
        let got = q().order_by(Ticket::owner().desc()).offset(2).limit(5).all().await.expect(name);
        assert_eq!(got, window, "{name}: ordered window");
        assert_eq!(
            q().order_by(Ticket::owner().desc()).first().await.expect(name),
            by_owner.first().cloned(),
            "{name}: first"
        );
        // Pages forward, then back from the end.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let builder = q().order_by(Ticket::owner().desc()).page(4);
            let page = match &cursor {
                Some(c) => builder.after(c.clone()).await,
                None => builder.await,
            }
            .expect(name);
            seen.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, by_owner, "{name}: pages forward");
    }
}

/// Updates by an OR or a NOT change exactly the matching records.
pub async fn updates_by_or_and_not_change_the_matching_records<B: Backend>(db: &Database<B>) {
    let mut records = load(db).await;
    let cond = || (Ticket::status().eq("waiting") & Ticket::owner().eq(2)) | !Ticket::priority().lt(5);
    let holds = |t: &Ticket| (t.status == "waiting" && t.owner == 2) || t.priority.is_none_or(|p| p >= 5);
    let counts = db.query::<Ticket>().filter(cond()).update().set(Ticket::owner(), 99).await.expect("update");
    let changed = records.iter().filter(|t| holds(t)).count() as u64;
    assert_eq!(counts.matched, changed);
    for t in records.iter_mut().filter(|t| holds(t)) {
        t.owner = 99;
    }
    assert_eq!(db.query::<Ticket>().all().await.expect("all"), records);
    assert_eq!(db.query::<Ticket>().filter(Ticket::owner().eq(99)).count().await.expect("count"), changed);
}
