//! nonrel's embedded backend against its peers on one workload: native_db 0.8 (on redb),
//! Toasty 0.11 with its SQLite driver, SQLite through rusqlite (bundled), and the same work
//! written by hand on redb.
//!
//! Every side holds the same 100,000 ten-field records (an indexed integer `qty`, a
//! permutation of 0..100,000 spread over the keys, and an indexed `category` of 100 values),
//! each in its own file in a temporary directory, each with its own defaults for durability
//! (every commit waits for the disk on all five). The sides are interleaved: every sample of
//! every operation runs each side in turn for the same number of iterations, so the load of
//! a shared machine falls on all of them alike. Each side's time per operation is its
//! fastest sample (as in the foundation benchmarks: neighbours only ever add time). The async
//! sides run on a multi-threaded tokio runtime, the one `#[tokio::main]` builds.
//!
//! Prints `time` lines, then one `ratio peer_<op>_vs_best <nonrel / best of native_db,
//! Toasty and SQLite> 1.0` and one `ratio peer_<op>_vs_redb <nonrel / redb by hand> 1.3` per
//! operation, and `ratio peer_eq_limit10_scaling <t(big) / t(10,000)> 1.2` for nonrel alone.
//! `PEERS_BIG` sets the big size (default 1,000,000; a lower one makes a quick run, and the
//! scaling ratio then says less); `PEERS_RECORDS` the workload's size (default 100,000).
//!
//! Run it with `cargo bench` in this directory (`scripts/bench` does).

use criterion::{Criterion, SamplingMode};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// One record as every side's code sees it.
#[derive(Debug, Clone, PartialEq)]
struct Plain {
    id: i64,
    qty: i64,
    category: String,
    name: String,
    price: f64,
    active: bool,
    created: i64,
    note: String,
    score: i64,
    tag: String,
}

fn category(n: i64) -> String {
    format!("cat-{:02}", n.rem_euclid(100))
}

/// Record `i` of a workload of `n` (ids 0..n; `qty` a permutation of 0..n).
fn plain(i: i64, n: i64) -> Plain {
    Plain {
        id: i,
        qty: (i * 7919) % n,
        category: category(i),
        name: format!("record number {i}"),
        price: i as f64 * 0.25,
        active: i % 3 == 0,
        created: 1_700_000_000 + i,
        note: "a note of some thirty-odd characters".into(),
        score: i % 1000,
        tag: format!("t{}", i % 17),
    }
}

/// A record inserted while measuring: a key past the workload, a category and `qty` no
/// query of the workload reads.
fn fresh(id: i64) -> Plain {
    Plain { category: "new".into(), qty: -id, ..plain(id, i64::MAX) }
}

// ----- nonrel ---------------------------------------------------------------------------

mod ours {
    use nonrel_runtime::Model;

    /// `qty`'s index is counted (`index(counted)`): it keeps the number of its entries by
    /// blocks of values, written with every insert, update and delete measured here, and a
    /// count over a range adds up blocks. No peer keeps such counts; SQLite counts by reading
    /// its index.
    #[derive(Model, Debug, Clone)]
    #[model(collection = "recs")]
    pub struct Rec {
        #[field(key)]
        pub id: i64,
        #[field(index(counted))]
        pub qty: i64,
        #[field(index)]
        pub category: String,
        pub name: String,
        pub price: f64,
        pub active: bool,
        pub created: i64,
        pub note: String,
        pub score: i64,
        pub tag: String,
    }

    impl From<super::Plain> for Rec {
        fn from(p: super::Plain) -> Rec {
            Rec {
                id: p.id,
                qty: p.qty,
                category: p.category,
                name: p.name,
                price: p.price,
                active: p.active,
                created: p.created,
                note: p.note,
                score: p.score,
                tag: p.tag,
            }
        }
    }
}

// ----- native_db ------------------------------------------------------------------------

mod native {
    use native_db::*;
    use native_model::{native_model, Model};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, Clone)]
    #[native_model(id = 1, version = 1)]
    #[native_db]
    pub struct NRec {
        #[primary_key]
        pub id: i64,
        #[secondary_key]
        pub qty: i64,
        #[secondary_key]
        pub category: String,
        pub name: String,
        pub price: f64,
        pub active: bool,
        pub created: i64,
        pub note: String,
        pub score: i64,
        pub tag: String,
    }

    impl From<super::Plain> for NRec {
        fn from(p: super::Plain) -> NRec {
            NRec {
                id: p.id,
                qty: p.qty,
                category: p.category,
                name: p.name,
                price: p.price,
                active: p.active,
                created: p.created,
                note: p.note,
                score: p.score,
                tag: p.tag,
            }
        }
    }
}

// ----- Toasty ---------------------------------------------------------------------------

mod toasty_side {
    #[derive(Debug, toasty::Model)]
    pub struct TRec {
        #[key]
        pub id: i64,
        #[index]
        pub qty: i64,
        #[index]
        pub category: String,
        pub name: String,
        pub price: f64,
        pub active: bool,
        pub created: i64,
        pub note: String,
        pub score: i64,
        pub tag: String,
    }

    pub fn create(p: super::Plain) -> <TRec as toasty::schema::Model>::Create {
        TRec::create()
            .id(p.id)
            .qty(p.qty)
            .category(p.category)
            .name(p.name)
            .price(p.price)
            .active(p.active)
            .created(p.created)
            .note(p.note)
            .score(p.score)
            .tag(p.tag)
    }
}

// ----- redb by hand ---------------------------------------------------------------------

mod by_hand {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};

    pub const RECORDS: TableDefinition<i64, &[u8]> = TableDefinition::new("records");
    pub const BY_QTY: TableDefinition<(i64, i64), ()> = TableDefinition::new("by_qty");
    pub const BY_CATEGORY: TableDefinition<(&str, i64), ()> = TableDefinition::new("by_category");

    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// A fixed layout: the numbers little-endian, the strings after their length.
    pub fn encode(p: &super::Plain) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&p.id.to_le_bytes());
        out.extend_from_slice(&p.qty.to_le_bytes());
        out.extend_from_slice(&p.price.to_le_bytes());
        out.extend_from_slice(&p.created.to_le_bytes());
        out.extend_from_slice(&p.score.to_le_bytes());
        out.push(u8::from(p.active));
        for s in [&p.category, &p.name, &p.note, &p.tag] {
            put_str(&mut out, s);
        }
        out
    }

    pub fn decode(b: &[u8]) -> super::Plain {
        let n = |at: usize| i64::from_le_bytes(b[at..at + 8].try_into().expect("eight bytes"));
        let mut at = 41;
        let mut s = || {
            let len = u32::from_le_bytes(b[at..at + 4].try_into().expect("four bytes")) as usize;
            let v = std::str::from_utf8(&b[at + 4..at + 4 + len]).expect("utf-8").to_owned();
            at += 4 + len;
            v
        };
        let (category, name, note, tag) = (s(), s(), s(), s());
        super::Plain {
            id: n(0),
            qty: n(8),
            price: f64::from_bits(n(16) as u64),
            created: n(24),
            score: n(32),
            active: b[40] == 1,
            category,
            name,
            note,
            tag,
        }
    }

    pub fn insert(tx: &redb::WriteTransaction, items: &[super::Plain]) {
        let mut records = tx.open_table(RECORDS).expect("records");
        let mut by_qty = tx.open_table(BY_QTY).expect("by_qty");
        let mut by_category = tx.open_table(BY_CATEGORY).expect("by_category");
        for p in items {
            records.insert(p.id, encode(p).as_slice()).expect("insert");
            by_qty.insert((p.qty, p.id), ()).expect("insert");
            by_category.insert((p.category.as_str(), p.id), ()).expect("insert");
        }
    }

    pub fn get(db: &redb::Database, id: i64) -> Option<super::Plain> {
        let tx = db.begin_read().expect("read");
        let records = tx.open_table(RECORDS).expect("records");
        records.get(id).expect("get").map(|g| decode(g.value()))
    }

    pub fn by_category(db: &redb::Database, c: &str, limit: usize) -> Vec<super::Plain> {
        let tx = db.begin_read().expect("read");
        let index = tx.open_table(BY_CATEGORY).expect("index");
        let records = tx.open_table(RECORDS).expect("records");
        let mut out = Vec::new();
        for entry in index.range((c, i64::MIN)..=(c, i64::MAX)).expect("range").take(limit) {
            let id = entry.expect("entry").0.value().1;
            out.push(decode(records.get(id).expect("get").expect("indexed").value()));
        }
        out
    }

    pub fn by_qty(db: &redb::Database, a: i64, b: i64) -> Vec<super::Plain> {
        let tx = db.begin_read().expect("read");
        let index = tx.open_table(BY_QTY).expect("index");
        let records = tx.open_table(RECORDS).expect("records");
        let mut out = Vec::new();
        for entry in index.range((a, i64::MIN)..(b, i64::MIN)).expect("range") {
            let id = entry.expect("entry").0.value().1;
            out.push(decode(records.get(id).expect("get").expect("indexed").value()));
        }
        out
    }

    pub fn count_qty(db: &redb::Database, a: i64, b: i64) -> u64 {
        let tx = db.begin_read().expect("read");
        let index = tx.open_table(BY_QTY).expect("index");
        index.range((a, i64::MIN)..(b, i64::MIN)).expect("range").count() as u64
    }

    pub fn set_score(db: &redb::Database, ids: impl FnOnce(&redb::WriteTransaction) -> Vec<i64>, score: i64) -> u64 {
        let tx = db.begin_write().expect("write");
        let ids = ids(&tx);
        {
            let mut records = tx.open_table(RECORDS).expect("records");
            for &id in &ids {
                let mut p = decode(records.get(id).expect("get").expect("exists").value());
                p.score = score;
                records.insert(id, encode(&p).as_slice()).expect("insert");
            }
        }
        tx.commit().expect("commit");
        ids.len() as u64
    }

    pub fn ids_of_category(tx: &redb::WriteTransaction, c: &str) -> Vec<i64> {
        let index = tx.open_table(BY_CATEGORY).expect("index");
        let ids = index.range((c, i64::MIN)..=(c, i64::MAX)).expect("range");
        ids.map(|e| e.expect("entry").0.value().1).collect()
    }
}

// ----- the sides ------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Side {
    Nonrel,
    NativeDb,
    Toasty,
    Sqlite,
    Redb,
}

const SIDES: [Side; 5] = [Side::Nonrel, Side::NativeDb, Side::Toasty, Side::Sqlite, Side::Redb];

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Nonrel => "nonrel",
            Side::NativeDb => "native_db",
            Side::Toasty => "toasty_sqlite",
            Side::Sqlite => "rusqlite",
            Side::Redb => "redb_by_hand",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Op {
    Get,
    EqLimit10,
    EqAll,
    Range,
    Count,
    UpdateOne,
    UpdateMany,
    Insert,
    BulkInsert,
}

const OPS: [Op; 9] = [
    Op::Get,
    Op::EqLimit10,
    Op::EqAll,
    Op::Range,
    Op::Count,
    Op::UpdateOne,
    Op::UpdateMany,
    Op::Insert,
    Op::BulkInsert,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::EqLimit10 => "eq_limit10",
            Op::EqAll => "eq_all",
            Op::Range => "range",
            Op::Count => "count",
            Op::UpdateOne => "update_one",
            Op::UpdateMany => "update_1000",
            Op::Insert => "insert",
            Op::BulkInsert => "bulk_insert",
        }
    }
}

/// Records per `range` answer, and per `count`.
const RANGE: i64 = 100;
const COUNTED: i64 = 1_000;
/// Records per bulk insert.
const BULK: i64 = 1_000;

struct Sides {
    rt: tokio::runtime::Runtime,
    n: i64,
    nonrel: nonrel_runtime::Database<nonrel_runtime::Redb>,
    native: native_db::Database<'static>,
    toasty: toasty::Db,
    sqlite: rusqlite::Connection,
    redb: redb::Database,
    /// The next key each side inserts.
    next: HashMap<Side, i64>,
}

const SQLITE_COLUMNS: &str = "id, qty, category, name, price, active, created, note, score, tag";

fn sqlite_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Plain> {
    Ok(Plain {
        id: r.get(0)?,
        qty: r.get(1)?,
        category: r.get(2)?,
        name: r.get(3)?,
        price: r.get(4)?,
        active: r.get(5)?,
        created: r.get(6)?,
        note: r.get(7)?,
        score: r.get(8)?,
        tag: r.get(9)?,
    })
}

fn sqlite_insert(tx: &rusqlite::Connection, items: &[Plain]) {
    let sql = format!("INSERT INTO recs ({SQLITE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    let mut stmt = tx.prepare_cached(&sql).expect("prepare");
    for p in items {
        let params =
            rusqlite::params![p.id, p.qty, p.category, p.name, p.price, p.active, p.created, p.note, p.score, p.tag];
        stmt.execute(params).expect("insert");
    }
}

impl Sides {
    fn build(dir: &Path, n: i64) -> Sides {
        let started = Instant::now();
        // The runtime `#[tokio::main]` builds: multi-threaded.
        let rt = tokio::runtime::Builder::new_multi_thread().enable_time().build().expect("tokio runtime");
        let all: Vec<Plain> = (0..n).map(|i| plain(i, n)).collect();

        let nonrel = nonrel_runtime::Database::open(dir.join("nonrel.redb")).expect("nonrel");
        for chunk in all.chunks(5_000) {
            let mut recs: Vec<ours::Rec> = chunk.iter().cloned().map(Into::into).collect();
            rt.block_on(nonrel.save_many(&mut recs)).expect("save_many");
        }

        let mut models = native_db::Models::new();
        models.define::<native::NRec>().expect("define");
        let models: &'static native_db::Models = Box::leak(Box::new(models));
        let native = native_db::Builder::new().create(models, dir.join("native_db.redb")).expect("native_db");
        {
            let rw = native.rw_transaction().expect("rw");
            for p in &all {
                rw.insert(native::NRec::from(p.clone())).expect("insert");
            }
            rw.commit().expect("commit");
        }

        let url = format!("sqlite:{}", dir.join("toasty.sqlite").display());
        let toasty = rt.block_on(async {
            let db =
                toasty::Db::builder().models(toasty::models!(toasty_side::TRec)).connect(&url).await.expect("toasty");
            db.push_schema().await.expect("schema");
            let mut conn = db.clone();
            for chunk in all.chunks(500) {
                let mut many = toasty_side::TRec::create_many();
                for p in chunk {
                    many = many.item(toasty_side::create(p.clone()));
                }
                many.exec(&mut conn).await.expect("create_many");
            }
            db
        });

        let mut sqlite = rusqlite::Connection::open(dir.join("rusqlite.sqlite")).expect("sqlite");
        sqlite
            .execute_batch(
                "CREATE TABLE recs (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL, category TEXT NOT NULL, \
                 name TEXT NOT NULL, price REAL NOT NULL, active INTEGER NOT NULL, created INTEGER NOT NULL, \
                 note TEXT NOT NULL, score INTEGER NOT NULL, tag TEXT NOT NULL);
                 CREATE INDEX recs_qty ON recs (qty);
                 CREATE INDEX recs_category ON recs (category);",
            )
            .expect("schema");
        {
            let tx = sqlite.transaction().expect("tx");
            sqlite_insert(&tx, &all);
            tx.commit().expect("commit");
        }

        let redb = redb::Database::create(dir.join("by_hand.redb")).expect("redb");
        {
            let tx = redb.begin_write().expect("write");
            by_hand::insert(&tx, &all);
            tx.commit().expect("commit");
        }

        eprintln!("built the five sides with {n} records each in {:.1?}", started.elapsed());
        let next = SIDES.iter().map(|&s| (s, n)).collect();
        Sides { rt, n, nonrel, native, toasty, sqlite, redb, next }
    }

    /// The i-th key of a sequence that spreads over the records without locality.
    fn key(&self, i: u64) -> i64 {
        (i.wrapping_mul(7919) % self.n as u64) as i64
    }

    /// The category and `qty` range the i-th operation reads.
    fn category(&self, i: u64) -> String {
        category((i % 100) as i64)
    }

    fn qty_from(&self, i: u64, width: i64) -> i64 {
        (i.wrapping_mul(37) % (self.n - width) as u64) as i64
    }

    fn fresh(&mut self, side: Side, count: i64) -> Vec<Plain> {
        let next = self.next.get_mut(&side).expect("every side has a counter");
        let out = (*next..*next + count).map(fresh).collect();
        *next += count;
        out
    }

    /// Runs operation `op` (its i-th time) on one side; returns how many records it
    /// returned, counted or changed.
    fn run(&mut self, side: Side, op: Op, i: u64) -> u64 {
        match side {
            Side::Nonrel => self.nonrel(op, i),
            Side::NativeDb => self.native(op, i),
            Side::Toasty => self.toasty(op, i),
            Side::Sqlite => self.sqlite(op, i),
            Side::Redb => self.by_hand(op, i),
        }
    }

    fn nonrel(&mut self, op: Op, i: u64) -> u64 {
        use ours::Rec;
        let (key, c) = (self.key(i), self.category(i));
        let fresh = match op {
            Op::Insert => self.fresh(Side::Nonrel, 1),
            Op::BulkInsert => self.fresh(Side::Nonrel, BULK),
            _ => Vec::new(),
        };
        let (a, w) = match op {
            Op::Count => (self.qty_from(i, COUNTED), COUNTED),
            _ => (self.qty_from(i, RANGE), RANGE),
        };
        let db = &self.nonrel;
        self.rt.block_on(async {
            match op {
                Op::Get => db.get::<Rec>(key).await.expect("get").map_or(0, |_| 1),
                Op::EqLimit10 => {
                    db.query::<Rec>().filter(Rec::category().eq(c)).limit(10).all().await.expect("q").len() as u64
                }
                Op::EqAll => db.query::<Rec>().filter(Rec::category().eq(c)).all().await.expect("q").len() as u64,
                Op::Range => {
                    let q = db.query::<Rec>().filter(Rec::qty().gte(a)).filter(Rec::qty().lt(a + w));
                    q.all().await.expect("q").len() as u64
                }
                Op::Count => {
                    let q = db.query::<Rec>().filter(Rec::qty().gte(a)).filter(Rec::qty().lt(a + w));
                    q.count().await.expect("count")
                }
                Op::UpdateOne => {
                    let q = db.query::<Rec>().filter(Rec::id().eq(key));
                    q.update().set(Rec::score(), i as i64).await.expect("update").matched
                }
                Op::UpdateMany => {
                    let q = db.query::<Rec>().filter(Rec::category().eq(c));
                    q.update().set(Rec::score(), i as i64).await.expect("update").matched
                }
                Op::Insert => {
                    let mut rec: Rec = fresh.into_iter().next().expect("one").into();
                    db.insert(&mut rec).await.expect("insert");
                    1
                }
                Op::BulkInsert => {
                    let mut recs: Vec<Rec> = fresh.into_iter().map(Into::into).collect();
                    db.save_many(&mut recs).await.expect("save_many").len() as u64
                }
            }
        })
    }

    fn native(&mut self, op: Op, i: u64) -> u64 {
        use native::{NRec, NRecKey};
        let (key, c) = (self.key(i), self.category(i));
        let fresh = match op {
            Op::Insert => self.fresh(Side::NativeDb, 1),
            Op::BulkInsert => self.fresh(Side::NativeDb, BULK),
            _ => Vec::new(),
        };
        let (a, w) = match op {
            Op::Count => (self.qty_from(i, COUNTED), COUNTED),
            _ => (self.qty_from(i, RANGE), RANGE),
        };
        let db = &self.native;
        match op {
            Op::Get => {
                let r = db.r_transaction().expect("r");
                r.get().primary::<NRec>(key).expect("get").map_or(0, |_| 1)
            }
            Op::EqLimit10 | Op::EqAll => {
                let r = db.r_transaction().expect("r");
                let scan = r.scan().secondary::<NRec>(NRecKey::category).expect("scan");
                let limit = if op == Op::EqLimit10 { 10 } else { usize::MAX };
                let found: Vec<NRec> =
                    scan.range(c.clone()..=c).expect("range").take(limit).collect::<Result<_, _>>().expect("items");
                found.len() as u64
            }
            Op::Range | Op::Count => {
                let r = db.r_transaction().expect("r");
                let scan = r.scan().secondary::<NRec>(NRecKey::qty).expect("scan");
                let found = scan.range(a..a + w).expect("range");
                if op == Op::Count {
                    found.count() as u64
                } else {
                    found.collect::<Result<Vec<NRec>, _>>().expect("items").len() as u64
                }
            }
            Op::UpdateOne | Op::UpdateMany => {
                let rw = db.rw_transaction().expect("rw");
                let olds: Vec<NRec> = if op == Op::UpdateOne {
                    rw.get().primary::<NRec>(key).expect("get").into_iter().collect()
                } else {
                    let scan = rw.scan().secondary::<NRec>(NRecKey::category).expect("scan");
                    scan.range(c.clone()..=c).expect("range").collect::<Result<_, _>>().expect("items")
                };
                let n = olds.len() as u64;
                for old in olds {
                    let new = NRec { score: i as i64, ..old.clone() };
                    rw.update(old, new).expect("update");
                }
                rw.commit().expect("commit");
                n
            }
            Op::Insert | Op::BulkInsert => {
                let rw = db.rw_transaction().expect("rw");
                let n = fresh.len() as u64;
                for p in fresh {
                    rw.insert(NRec::from(p)).expect("insert");
                }
                rw.commit().expect("commit");
                n
            }
        }
    }

    fn toasty(&mut self, op: Op, i: u64) -> u64 {
        use toasty_side::TRec;
        let (key, c) = (self.key(i), self.category(i));
        let fresh = match op {
            Op::Insert => self.fresh(Side::Toasty, 1),
            Op::BulkInsert => self.fresh(Side::Toasty, BULK),
            _ => Vec::new(),
        };
        let (a, w) = match op {
            Op::Count => (self.qty_from(i, COUNTED), COUNTED),
            _ => (self.qty_from(i, RANGE), RANGE),
        };
        let mut db = self.toasty.clone();
        let n = self.n;
        self.rt.block_on(async move {
            let f = TRec::fields;
            match op {
                Op::Get => TRec::get_by_id(&mut db, &key).await.map_or(0, |_| 1),
                Op::EqLimit10 => {
                    TRec::filter(f().category().eq(c)).limit(10).exec(&mut db).await.expect("q").len() as u64
                }
                Op::EqAll => TRec::filter(f().category().eq(c)).exec(&mut db).await.expect("q").len() as u64,
                Op::Range => {
                    let q = TRec::filter(f().qty().ge(a)).filter(f().qty().lt(a + w));
                    q.exec(&mut db).await.expect("q").len() as u64
                }
                Op::Count => {
                    let q = TRec::filter(f().qty().ge(a)).filter(f().qty().lt(a + w));
                    q.count().exec(&mut db).await.expect("count")
                }
                Op::UpdateOne => {
                    TRec::filter_by_id(key).update().score(i as i64).exec(&mut db).await.expect("update");
                    1
                }
                Op::UpdateMany => {
                    // Toasty's update by query does not say how many records it changed.
                    TRec::filter(f().category().eq(c)).update().score(i as i64).exec(&mut db).await.expect("update");
                    (n / 100) as u64
                }
                Op::Insert => {
                    let p = fresh.into_iter().next().expect("one");
                    toasty_side::create(p).exec(&mut db).await.expect("insert");
                    1
                }
                Op::BulkInsert => {
                    let n = fresh.len() as u64;
                    let mut many = TRec::create_many();
                    for p in fresh {
                        many = many.item(toasty_side::create(p));
                    }
                    many.exec(&mut db).await.expect("create_many");
                    n
                }
            }
        })
    }

    fn sqlite(&mut self, op: Op, i: u64) -> u64 {
        let (key, c) = (self.key(i), self.category(i));
        let fresh = match op {
            Op::Insert => self.fresh(Side::Sqlite, 1),
            Op::BulkInsert => self.fresh(Side::Sqlite, BULK),
            _ => Vec::new(),
        };
        let (a, w) = match op {
            Op::Count => (self.qty_from(i, COUNTED), COUNTED),
            _ => (self.qty_from(i, RANGE), RANGE),
        };
        let db = &mut self.sqlite;
        let rows = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> u64 {
            let mut stmt = db.prepare_cached(sql).expect("prepare");
            let found: Vec<Plain> =
                stmt.query_map(params, sqlite_row).expect("query").collect::<Result<_, _>>().expect("rows");
            found.len() as u64
        };
        match op {
            Op::Get => rows(&format!("SELECT {SQLITE_COLUMNS} FROM recs WHERE id = ?1"), &[&key]),
            Op::EqLimit10 => rows(&format!("SELECT {SQLITE_COLUMNS} FROM recs WHERE category = ?1 LIMIT 10"), &[&c]),
            Op::EqAll => rows(&format!("SELECT {SQLITE_COLUMNS} FROM recs WHERE category = ?1"), &[&c]),
            Op::Range => {
                rows(&format!("SELECT {SQLITE_COLUMNS} FROM recs WHERE qty >= ?1 AND qty < ?2"), &[&a, &(a + w)])
            }
            Op::Count => {
                let mut stmt =
                    db.prepare_cached("SELECT count(*) FROM recs WHERE qty >= ?1 AND qty < ?2").expect("prepare");
                stmt.query_row([a, a + w], |r| r.get::<_, i64>(0)).expect("count") as u64
            }
            Op::UpdateOne => {
                let mut stmt = db.prepare_cached("UPDATE recs SET score = ?1 WHERE id = ?2").expect("prepare");
                stmt.execute([i as i64, key]).expect("update") as u64
            }
            Op::UpdateMany => {
                let mut stmt = db.prepare_cached("UPDATE recs SET score = ?1 WHERE category = ?2").expect("prepare");
                stmt.execute(rusqlite::params![i as i64, c]).expect("update") as u64
            }
            Op::Insert | Op::BulkInsert => {
                let tx = db.transaction().expect("tx");
                sqlite_insert(&tx, &fresh);
                tx.commit().expect("commit");
                fresh.len() as u64
            }
        }
    }

    fn by_hand(&mut self, op: Op, i: u64) -> u64 {
        let (key, c) = (self.key(i), self.category(i));
        let fresh = match op {
            Op::Insert => self.fresh(Side::Redb, 1),
            Op::BulkInsert => self.fresh(Side::Redb, BULK),
            _ => Vec::new(),
        };
        let (a, w) = match op {
            Op::Count => (self.qty_from(i, COUNTED), COUNTED),
            _ => (self.qty_from(i, RANGE), RANGE),
        };
        let db = &self.redb;
        match op {
            Op::Get => by_hand::get(db, key).map_or(0, |_| 1),
            Op::EqLimit10 => by_hand::by_category(db, &c, 10).len() as u64,
            Op::EqAll => by_hand::by_category(db, &c, usize::MAX).len() as u64,
            Op::Range => by_hand::by_qty(db, a, a + w).len() as u64,
            Op::Count => by_hand::count_qty(db, a, a + w),
            Op::UpdateOne => by_hand::set_score(db, |_| vec![key], i as i64),
            Op::UpdateMany => by_hand::set_score(db, |tx| by_hand::ids_of_category(tx, &c), i as i64),
            Op::Insert | Op::BulkInsert => {
                let tx = db.begin_write().expect("write");
                by_hand::insert(&tx, &fresh);
                tx.commit().expect("commit");
                fresh.len() as u64
            }
        }
    }
}

/// What each operation returns, changes or counts on every side, with `n` records.
fn expected(op: Op, n: i64) -> u64 {
    match op {
        Op::Get | Op::UpdateOne | Op::Insert => 1,
        Op::EqLimit10 => 10,
        Op::EqAll | Op::UpdateMany => (n / 100) as u64,
        Op::Count => COUNTED as u64,
        Op::Range => RANGE as u64,
        Op::BulkInsert => BULK as u64,
    }
}

/// Each (operation, side)'s time per iteration in every sample, in ns.
type Samples = HashMap<(&'static str, &'static str), Vec<f64>>;

fn min(samples: &Samples, op: &'static str, side: &'static str) -> Option<f64> {
    samples.get(&(op, side))?.iter().copied().reduce(f64::min)
}

fn env_size(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn main() {
    let n = env_size("PEERS_RECORDS", 100_000);
    let big = env_size("PEERS_BIG", 1_000_000);
    let out = std::env::var_os("CRITERION_HOME").map(std::path::PathBuf::from).unwrap_or_else(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        tmp.parent().unwrap_or(tmp).join("criterion")
    });
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args();

    let dir = tempfile::tempdir().expect("temp dir");
    let mut sides = Sides::build(dir.path(), n);
    // Every side gives the same answer before any is timed.
    for op in OPS {
        for side in SIDES {
            let got = sides.run(side, op, 7);
            assert_eq!(got, expected(op, n), "{} on {}", op.name(), side.name());
        }
    }
    let mut samples: Samples = HashMap::new();
    let mut counter = 1_000u64;
    {
        let mut g = c.benchmark_group("peers");
        g.sampling_mode(SamplingMode::Flat);
        for op in OPS {
            g.bench_function(op.name(), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for side in SIDES {
                        let started = Instant::now();
                        for k in 0..iters {
                            std::hint::black_box(sides.run(side, op, counter + k));
                        }
                        let spent = started.elapsed();
                        samples
                            .entry((op.name(), side.name()))
                            .or_default()
                            .push(spent.as_nanos() as f64 / iters as f64);
                        total += spent;
                    }
                    counter += iters;
                    total
                })
            });
        }
        g.finish();
    }
    drop(sides);

    // eq_limit10 on nonrel at 10,000 records and at the big size, interleaved the same way.
    let small = scaling_db(dir.path(), "small", 10_000);
    let large = scaling_db(dir.path(), "big", big);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("tokio runtime");
    {
        let mut g = c.benchmark_group("peers_scaling");
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("eq_limit10", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for (name, db) in [("nonrel_10k", &small), ("nonrel_big", &large)] {
                    let started = Instant::now();
                    for k in 0..iters {
                        let c = category((counter + k) as i64);
                        let q = db.query::<ours::Rec>().filter(ours::Rec::category().eq(c)).limit(10);
                        std::hint::black_box(rt.block_on(q.all()).expect("query"));
                    }
                    let spent = started.elapsed();
                    samples
                        .entry(("eq_limit10_scaling", name))
                        .or_default()
                        .push(spent.as_nanos() as f64 / iters as f64);
                    total += spent;
                }
                counter += iters;
                total
            })
        });
        g.finish();
    }
    c.final_summary();

    for op in OPS {
        for side in SIDES {
            if let Some(t) = min(&samples, op.name(), side.name()) {
                println!("time peers/{}/{} min {t:.1}ns", op.name(), side.name());
            }
        }
    }
    for op in OPS {
        let name = op.name();
        let Some(ours) = min(&samples, name, Side::Nonrel.name()) else { continue };
        let best = [Side::NativeDb, Side::Toasty, Side::Sqlite]
            .iter()
            .filter_map(|s| min(&samples, name, s.name()))
            .reduce(f64::min);
        if let Some(best) = best {
            println!("ratio peer_{name}_vs_best {:.3} 1.0", ours / best);
        }
        if let Some(redb) = min(&samples, name, Side::Redb.name()) {
            println!("ratio peer_{name}_vs_redb {:.3} 1.3", ours / redb);
        }
    }
    if let (Some(a), Some(b)) =
        (min(&samples, "eq_limit10_scaling", "nonrel_big"), min(&samples, "eq_limit10_scaling", "nonrel_10k"))
    {
        println!("time peers/eq_limit10_scaling/nonrel_big min {a:.1}ns ({big} records)");
        println!("time peers/eq_limit10_scaling/nonrel_10k min {b:.1}ns");
        println!("ratio peer_eq_limit10_scaling {:.3} 1.2", a / b);
    }
}

/// A nonrel database of `n` records of the workload's shape.
fn scaling_db(dir: &Path, name: &str, n: i64) -> nonrel_runtime::Database<nonrel_runtime::Redb> {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("tokio runtime");
    let db = nonrel_runtime::Database::open(dir.join(format!("scaling-{name}.redb"))).expect("nonrel");
    for start in (0..n).step_by(5_000) {
        let mut recs: Vec<ours::Rec> = (start..(start + 5_000).min(n)).map(|i| plain(i, n).into()).collect();
        rt.block_on(db.save_many(&mut recs)).expect("save_many");
    }
    eprintln!("built nonrel with {n} records in {:.1?}", started.elapsed());
    db
}
