//! Maintained counts (`#[model(count_by(...))]`): every write (insert, save moving a record
//! between groups, save_many, delete, update operations) keeps the counts exact, checked
//! against an oracle of the records written; a backend that keeps no counters answers the
//! same counts by counting records.
//!
//! `NONREL_STRESS_ROUNDS` (default 40) sets the operations; a failure prints the seed
//! (`NONREL_STRESS_SEED` replays one).
#![allow(missing_docs)]

use crate::conformance::Rng;
use crate::{Backend, Database};
use std::collections::BTreeMap;

/// A post counted by author, by author and status, and in total.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_counted", count_by(author), count_by("author", "status"), count_by())]
pub struct Counted {
    #[field(key)]
    pub id: i64,
    pub author: String,
    pub status: Option<String>,
    pub score: i64,
}

const AUTHORS: [&str; 4] = ["ann", "bob", "cy", "dee"];
const STATUSES: [Option<&str>; 3] = [None, Some("draft"), Some("live")];
const IDS: u64 = 24;

fn rounds() -> u64 {
    std::env::var("NONREL_STRESS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(40)
}

fn seed() -> u64 {
    let fixed = std::env::var("NONREL_STRESS_SEED").ok().and_then(|v| v.parse().ok());
    fixed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_nanos() as u64 | 1
    })
}

fn random(rng: &mut Rng, id: i64) -> Counted {
    Counted {
        id,
        author: AUTHORS[rng.below_u64(AUTHORS.len() as u64) as usize].to_owned(),
        status: STATUSES[rng.below_u64(STATUSES.len() as u64) as usize].map(str::to_owned),
        score: rng.below_u64(100) as i64,
    }
}

/// Every declared count against the oracle's records.
async fn check_counts<B: Backend>(db: &Database<B>, oracle: &BTreeMap<i64, Counted>, ctx: &str) {
    let total = db.query::<Counted>().count().await.expect("total");
    assert_eq!(total, oracle.len() as u64, "total count: {ctx}");
    for a in AUTHORS {
        let want = oracle.values().filter(|p| p.author == a).count() as u64;
        let got = db.query::<Counted>().filter(Counted::author().eq(a)).count().await.expect("count by author");
        assert_eq!(got, want, "count of author {a:?}: {ctx}");
        for s in STATUSES {
            let want = oracle.values().filter(|p| p.author == a && p.status.as_deref() == s).count() as u64;
            let by_status = match s {
                Some(s) => Counted::status().eq(s),
                None => Counted::status().isnull(true),
            };
            let query = db.query::<Counted>().filter(by_status).filter(Counted::author().eq(a));
            let got = query.count().await.expect("count by author and status");
            assert_eq!(got, want, "count of author {a:?}, status {s:?}: {ctx}");
        }
        let upto = db.query::<Counted>().filter(Counted::author().eq(a)).count_upto(1).await.expect("count_upto");
        assert_eq!(upto, want.min(1), "count_upto(1) of author {a:?}: {ctx}");
    }
    let nobody = db.query::<Counted>().filter(Counted::author().eq("nobody")).count().await.expect("nobody");
    assert_eq!(nobody, 0, "an author without records: {ctx}");
}

/// Seeded inserts, saves moving records between groups, batch saves, deletes and update
/// operations; after each step every declared count equals the oracle's, and the integrity
/// check is clean at the end.
pub async fn counters_agree_with_an_oracle<B: Backend>(db: &Database<B>) {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let mut oracle: BTreeMap<i64, Counted> = BTreeMap::new();
    check_counts(db, &oracle, "empty store").await;
    for round in 0..rounds() {
        let ctx = format!("round {round}, seed {seed} (NONREL_STRESS_SEED={seed} replays it)");
        let id = rng.below_u64(IDS) as i64;
        match rng.below_u64(6) {
            0 | 1 => {
                let mut p = random(&mut rng, id);
                db.save(&mut p).await.expect("save");
                oracle.insert(id, p);
            }
            2 => {
                let mut batch: Vec<Counted> = (0..3).map(|i| random(&mut rng, (id + i) % IDS as i64)).collect();
                db.save_many(&mut batch).await.expect("save_many");
                for p in batch {
                    oracle.insert(p.id, p);
                }
            }
            3 => {
                let gone =
                    db.delete(crate::Key::<Counted>::from_value(crate::KeyValue::Int(id))).await.expect("delete");
                assert_eq!(gone, oracle.remove(&id).is_some(), "delete of {id}: {ctx}");
            }
            4 => {
                // Every record of one author moves to another.
                let from = AUTHORS[rng.below_u64(AUTHORS.len() as u64) as usize];
                let to = AUTHORS[rng.below_u64(AUTHORS.len() as u64) as usize];
                db.query::<Counted>()
                    .filter(Counted::author().eq(from))
                    .update()
                    .set(Counted::author(), to)
                    .await
                    .expect("update");
                for p in oracle.values_mut().filter(|p| p.author == from) {
                    p.author = to.to_owned();
                }
            }
            _ => {
                // One record's status changes by key (an update, or a save of the record read
                // back for no status); its author group stays.
                let status = STATUSES[rng.below_u64(STATUSES.len() as u64) as usize].map(str::to_owned);
                match &status {
                    Some(s) => {
                        let by_key = db.query::<Counted>().filter(Counted::id().eq(id));
                        by_key.update().set(Counted::status(), s.as_str()).await.expect("update by key");
                    }
                    None => {
                        if let Some(mut p) =
                            db.get(crate::Key::<Counted>::from_value(crate::KeyValue::Int(id))).await.expect("get")
                        {
                            p.status = None;
                            db.save(&mut p).await.expect("save read record");
                        }
                    }
                }
                if let Some(p) = oracle.get_mut(&id) {
                    p.status = status;
                }
            }
        }
        check_counts(db, &oracle, &ctx).await;
    }
    let all = db.query::<Counted>().all().await.expect("all");
    assert_eq!(all.len(), oracle.len(), "records, seed {seed}");
    let report = db.integrity_check().await.expect("integrity_check");
    assert!(report.is_ok(), "seed {seed}: {:?}", report.problems);
}

/// A count with another condition beside the grouping's equality, a range, or an equality
/// on only part of a combined grouping is answered by counting records, and agrees.
pub async fn counts_outside_a_grouping_stay_exact<B: Backend>(db: &Database<B>) {
    let mut rows: Vec<Counted> = (0..12)
        .map(|i| Counted {
            id: 100 + i,
            author: AUTHORS[(i % 4) as usize].to_owned(),
            status: STATUSES[(i % 3) as usize].map(str::to_owned),
            score: i,
        })
        .collect();
    db.save_many(&mut rows).await.expect("save_many");
    let q = || db.query::<Counted>();
    assert_eq!(q().filter(Counted::author().eq("ann")).filter(Counted::score().gte(4)).count().await.unwrap(), 2);
    assert_eq!(q().filter(Counted::status().eq("draft")).count().await.unwrap(), 4);
    assert_eq!(q().filter(Counted::author().is_in(["ann", "bob"])).count().await.unwrap(), 6);
    assert_eq!(q().filter(Counted::author().eq("ann")).limit(2).count().await.unwrap(), 2);
    assert_eq!(q().filter(Counted::author().gt("bob")).count().await.unwrap(), 6);
}
