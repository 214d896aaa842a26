//! Counted indexes (`#[field(index(counted))]`) on the embedded backend: every count over a
//! range equals an oracle's after every kind of write (single saves, batches written in key
//! order, update operations, transactions, deletes), reads a few dozen blocks and entries
//! where the range holds thousands, and damaged or missing counts are reported and rebuilt.

use chrono::{DateTime, TimeZone, Utc};
use nonrel_runtime::{Database, Model, Query, Redb};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "stock")]
struct Item {
    #[field(key)]
    id: i64,
    #[field(index(counted))]
    qty: i64,
    #[field(index(counted, covering))]
    price: Option<f64>,
    #[field(index(counted))]
    at: DateTime<Utc>,
    #[field(unique, index(counted))]
    serial: i64,
    name: String,
}

/// The same collection as a program that declared `qty` without `counted` stored it.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "stock_later")]
struct Plain {
    #[field(key)]
    id: i64,
    #[field(index)]
    qty: i64,
}

/// A later version of that program, which counts `qty`.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "stock_later")]
struct Counted {
    #[field(key)]
    id: i64,
    #[field(index(counted))]
    qty: i64,
}

/// A small xorshift generator: the same steps on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

const T0: i64 = 1_700_000_000_000;

fn item(rng: &mut Rng, id: i64) -> Item {
    Item {
        id,
        qty: rng.below(20_000) - 2_000,
        price: (rng.below(5) != 0).then(|| rng.below(1_000_000) as f64 / 100.0),
        at: at(T0 + rng.below(90 * 86_400_000)),
        serial: id * 7 + 3,
        name: format!("item {id}"),
    }
}

/// Checks random ranges of each counted field, and `integrity_check`.
async fn agree(db: &Database<Redb>, live: &std::collections::BTreeMap<i64, Item>, rng: &mut Rng) {
    for _ in 0..12 {
        let (a, w) = (rng.below(24_000) - 4_000, rng.below(6_000));
        let want = live.values().filter(|i| i.qty >= a && i.qty < a + w).count() as u64;
        let q = db.query::<Item>().filter(Item::qty().gte(a)).filter(Item::qty().lt(a + w));
        assert_eq!(q.count().await.unwrap(), want, "qty in [{a}, {})", a + w);
        let want = live.values().filter(|i| i.qty > a).count() as u64;
        assert_eq!(db.query::<Item>().filter(Item::qty().gt(a)).count().await.unwrap(), want, "qty > {a}");
        let want = live.values().filter(|i| i.qty <= a).count() as u64;
        assert_eq!(db.query::<Item>().filter(Item::qty().lte(a)).count().await.unwrap(), want, "qty <= {a}");

        let (lo, hi) = (rng.below(12_000) as f64 - 1_000.5, rng.below(8_000) as f64);
        let want = live.values().filter(|i| i.price.is_some_and(|p| p >= lo && p <= lo + hi)).count() as u64;
        let q = db.query::<Item>().filter(Item::price().range(lo, lo + hi));
        assert_eq!(q.count().await.unwrap(), want, "price in [{lo}, {}]", lo + hi);

        let (from, span) = (T0 + rng.below(100 * 86_400_000) - 5 * 86_400_000, rng.below(30 * 86_400_000));
        let want = live.values().filter(|i| i.at >= at(from) && i.at < at(from + span)).count() as u64;
        let q = db.query::<Item>().filter(Item::at().gte(at(from))).filter(Item::at().lt(at(from + span)));
        assert_eq!(q.count().await.unwrap(), want, "at in [{from}, {})", from + span);

        let s = rng.below(live.len() as u64 * 7 + 10);
        let want = live.values().filter(|i| i.serial >= s).count() as u64;
        assert_eq!(db.query::<Item>().filter(Item::serial().gte(s)).count().await.unwrap(), want, "serial >= {s}");
    }
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[tokio::test]
async fn counts_over_ranges_agree_with_an_oracle_after_every_kind_of_write() {
    let db = Database::in_memory().unwrap();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut live = std::collections::BTreeMap::new();
    let mut next = 0;
    for step in 0..40 {
        match step % 5 {
            // A batch of new records past every key: held and written in key order.
            0 => {
                let mut batch: Vec<Item> = (0..200).map(|k| item(&mut rng, next + k)).collect();
                next += 200;
                db.save_many(&mut batch).await.unwrap();
                live.extend(batch.into_iter().map(|i| (i.id, i)));
            }
            // Saves one by one: new records, and stored ones with new values.
            1 => {
                for _ in 0..30 {
                    let id = if rng.below(3) == 0 { next } else { rng.below(next as u64) };
                    next = next.max(id + 1);
                    let mut one = item(&mut rng, id);
                    if rng.below(4) == 0 {
                        one.price = None;
                    }
                    db.save(&mut one).await.unwrap();
                    live.insert(id, one);
                }
            }
            // An update operation over a range of `qty`: every match moves by 500.
            2 => {
                let a = rng.below(18_000) - 2_000;
                let q = db.query::<Item>().filter(Item::qty().gte(a)).filter(Item::qty().lt(a + 300));
                let counts = q.update().inc(Item::qty(), 500i64).await.unwrap();
                let mut moved = 0;
                for i in live.values_mut().filter(|i| i.qty >= a && i.qty < a + 300) {
                    i.qty += 500;
                    moved += 1;
                }
                assert_eq!(counts.matched, moved);
            }
            // A transaction: saves and deletes, then one that fails and writes nothing.
            3 => {
                let mut changed: Vec<Item> = (0..10)
                    .map(|_| {
                        let id = rng.below(next as u64);
                        item(&mut rng, id)
                    })
                    .collect();
                let gone: Vec<i64> = (0..10).map(|_| rng.below(next as u64)).collect();
                let (c, g) = (changed.clone(), gone.clone());
                db.transaction(move |tx| {
                    let (mut c, g) = (c.clone(), g.clone());
                    async move {
                        for i in &mut c {
                            tx.save(i).await?;
                        }
                        for k in g {
                            tx.delete::<Item>(k).await?;
                        }
                        Ok(())
                    }
                })
                .await
                .unwrap();
                for i in changed.drain(..) {
                    live.insert(i.id, i);
                }
                for k in gone {
                    live.remove(&k);
                }
                let extra = item(&mut rng, next + 1_000_000);
                let failed: nonrel_runtime::Result<()> = db
                    .transaction(move |tx| {
                        let mut extra = extra.clone();
                        async move {
                            tx.save(&mut extra).await?;
                            Err(nonrel_runtime::Error::new(nonrel_runtime::ErrorKind::Unsupported, "give up"))
                        }
                    })
                    .await;
                assert!(failed.is_err());
            }
            // Deletes.
            _ => {
                for _ in 0..40 {
                    let k = rng.below(next as u64);
                    let existed = db.delete::<Item>(k).await.unwrap();
                    assert_eq!(existed, live.remove(&k).is_some());
                }
            }
        }
        agree(&db, &live, &mut rng).await;
    }
    // Rebuilt from the records: the same answers.
    db.rebuild_indexes().await.unwrap();
    agree(&db, &live, &mut rng).await;
}

#[tokio::test]
async fn a_count_over_thousands_of_entries_reads_a_few_dozen() {
    let db = Database::in_memory().unwrap();
    let mut batch: Vec<Item> = (0..20_000)
        .map(|i| Item {
            id: i,
            qty: (i * 7919) % 20_000,
            price: Some(i as f64),
            at: at(T0 + i * 60_000),
            serial: i,
            name: String::new(),
        })
        .collect();
    db.save_many(&mut batch).await.unwrap();
    let mut most = 0;
    for a in (0..17_000).step_by(1_013) {
        let q = Query::<Item>::new().filter(Item::qty().gte(a)).filter(Item::qty().lt(a + 3_000));
        let explain = db.backend().explain_count(&q, None).unwrap();
        assert_eq!((explain.index, explain.records_read), (Some("qty"), 0));
        assert_eq!(
            db.query::<Item>().filter(Item::qty().gte(a)).filter(Item::qty().lt(a + 3_000)).count().await.unwrap(),
            3_000
        );
        most = most.max(explain.entries_read);
    }
    assert!(most <= 120, "{most} blocks and entries read for 3,000");
    // A day of minutes: 1,440 records, in blocks of 4.7 hours and 3.1 days.
    let q =
        Query::<Item>::new().filter(Item::at().gte(at(T0 + 86_400_000))).filter(Item::at().lt(at(T0 + 2 * 86_400_000)));
    let explain = db.backend().explain_count(&q, None).unwrap();
    assert!(explain.entries_read < 600, "{} read", explain.entries_read);
    // A bounded count of a few stops at them, reading entries.
    let q = || db.query::<Item>().filter(Item::qty().gte(100)).filter(Item::qty().lt(5_000));
    assert_eq!(q().count_upto(10).await.unwrap(), 10);
    assert!(q().exists().await.unwrap());
    let bounded = Query::<Item>::new().filter(Item::qty().gte(100)).filter(Item::qty().lt(5_000));
    assert_eq!(db.backend().explain_count(&bounded, Some(10)).unwrap().entries_read, 10);
}

#[tokio::test]
async fn counts_declared_after_entries_are_filled_by_the_first_write_and_damage_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.db");
    {
        let db = Database::open(&path).unwrap();
        let mut old: Vec<Plain> = (0..500).map(|i| Plain { id: i, qty: i % 100 }).collect();
        db.save_many(&mut old).await.unwrap();
    }
    let counts = redb::TableDefinition::<nonrel_runtime::StoredKey, &[u8]>::new("counts:index:stock_later:qty");
    let built = redb::TableDefinition::<&str, u8>::new("nonrel:built-indexes");
    {
        // As a program that declared no counted index left the store: no counts, no marker.
        let raw = redb::Database::open(&path).unwrap();
        let tx = raw.begin_write().unwrap();
        tx.delete_table(counts).unwrap();
        tx.open_table(built).unwrap().remove("counts:index:stock_later:qty").unwrap();
        tx.commit().unwrap();
    }
    let db = Database::open(&path).unwrap();
    let between = Query::<Counted>::new().filter(Counted::qty().gte(10)).filter(Counted::qty().lt(60));
    // Not filled: the count reads its 250 entries, and is right.
    assert_eq!(db.backend().explain_count(&between, None).unwrap().entries_read, 250);
    assert_eq!(
        db.query::<Counted>().filter(Counted::qty().gte(10)).filter(Counted::qty().lt(60)).count().await.unwrap(),
        250
    );
    // The first write fills the counts.
    db.save(&mut Counted { id: 500, qty: 20 }).await.unwrap();
    assert!(db.backend().explain_count(&between, None).unwrap().entries_read < 100);
    assert_eq!(
        db.query::<Counted>().filter(Counted::qty().gte(10)).filter(Counted::qty().lt(60)).count().await.unwrap(),
        251
    );
    assert!(db.integrity_check().await.unwrap().is_ok());
    // Closing writes the changes held in memory: no held marker is left in the file.
    drop(db);
    {
        let raw = redb::Database::open(&path).unwrap();
        let tx = redb::ReadableDatabase::begin_read(&raw).unwrap();
        let markers = tx.open_table(built).unwrap();
        let held = redb::ReadableTable::range(&markers, "counts-held:".."counts-held;").unwrap().count();
        assert_eq!(held, 0);
    }
    {
        // Through the raw store: one block gains two.
        let raw = redb::Database::open(&path).unwrap();
        let tx = raw.begin_write().unwrap();
        {
            let mut table = tx.open_table(counts).unwrap();
            let (k, v) = {
                let first = redb::ReadableTable::first(&table).unwrap().expect("a block");
                (first.0.value().to_vec(), i64::from_le_bytes(first.1.value().try_into().unwrap()))
            };
            table.insert(k.as_slice(), (v + 2).to_le_bytes().as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    let db = Database::open(&path).unwrap();
    let report = db.integrity_check().await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!((report.problems[0].model, report.problems[0].index), ("Counted", "qty"));
    assert!(report.problems[0].message.contains("counted index holds"), "{}", report.problems[0].message);
    db.rebuild_indexes().await.unwrap();
    assert!(db.integrity_check().await.unwrap().is_ok());
    assert_eq!(db.query::<Counted>().filter(Counted::qty().gte(0)).count().await.unwrap(), 501);
}

/// Counts on other threads while a writer inserts one record at a time (its changes to
/// blocks held in memory, then written to the table every few hundred blocks): each count
/// lies between the inserts acknowledged before it began and those acknowledged after it
/// returned, plus the one insert that may have committed but not yet been acknowledged.
#[test]
fn counts_beside_a_writer_see_what_committed_before_them() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    use std::sync::Arc;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let db = Arc::new(Database::in_memory().unwrap());
    let acknowledged = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, acknowledged, done) = (db.clone(), acknowledged.clone(), done.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let mut counts = 0;
                while !done.load(SeqCst) {
                    let before = acknowledged.load(SeqCst);
                    let q = db.query::<Item>().filter(Item::qty().gte(0)).filter(Item::qty().lt(1_000_000));
                    let n = rt.block_on(q.count()).unwrap();
                    let after = acknowledged.load(SeqCst);
                    assert!(
                        before <= n && n <= after + 1,
                        "counted {n}, acknowledged {before} before and {after} after"
                    );
                    counts += 1;
                }
                counts
            })
        })
        .collect();
    rt.block_on(async {
        for i in 0..1_500i64 {
            let mut one =
                Item { id: i, qty: (i * 7_919) % 100_000, price: None, at: at(T0 + i), serial: i, name: String::new() };
            db.insert(&mut one).await.unwrap();
            acknowledged.fetch_add(1, SeqCst);
        }
    });
    done.store(true, SeqCst);
    for r in readers {
        assert!(r.join().unwrap() > 10, "the readers counted while the writer wrote");
    }
    let report = rt.block_on(db.integrity_check()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
