//! Both sides on the same server: nonrel's `Database<Mongo>` and a driver client with a serde
//! `Collection<SerdeItem>`, each on its own client (same options) and its own database,
//! loaded with the same records; and the operations measured, written once per side.

use crate::model::{item, twin, Item, SerdeItem};
use bson::doc;
use bson::oid::ObjectId;
use nonrel_runtime::mongo::mongodb::options::ClientOptions;
use nonrel_runtime::mongo::mongodb::{Client, Collection};
use nonrel_runtime::{Database, Key, Mongo};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Records loaded on each side, in `GROUPS` groups of equal size.
pub const RECORDS: i64 = 2_000;
/// Groups of the indexed field `group`: each holds `RECORDS / GROUPS` records (what a find returns).
pub const GROUPS: i64 = 2;
/// The group of records written by the insert benchmark: no find returns them.
const INSERTED_GROUP: i64 = -1;

/// The server's address, from `MONGODB_URI`.
pub fn mongodb_uri() -> String {
    std::env::var("MONGODB_URI").unwrap_or_else(|_| {
        panic!(
            "MONGODB_URI is not set: run scripts/bench (which starts a MongoDB-compatible server), \
             or set MONGODB_URI to a MongoDB server"
        )
    })
}

/// The options both sides' clients use.
///
/// Retryable writes are off: nonrel's writes are never retryable (an insert is a raw
/// `insert` command, an update an `update` with `multi`), so with them on, the driver's
/// `insert_one` and `update_one` would send more (`txnNumber`) than nonrel and ask more of
/// the server (SecantusDB takes 8 to 18 ms instead of under 1 ms for them), which this
/// machine then charges to the client as CPU time (see cpu.rs).
pub async fn options(uri: &str) -> ClientOptions {
    let mut options = ClientOptions::parse(uri).await.expect("MONGODB_URI parses");
    options.retry_writes = Some(false);
    options.server_selection_timeout = Some(Duration::from_secs(10));
    options.connect_timeout = Some(Duration::from_secs(10));
    options
}

/// The two sides, loaded with the same records.
pub struct Sides {
    /// nonrel, on database `<base>_nonrel`.
    pub db: Database<Mongo>,
    /// The driver by hand, on database `<base>_driver`.
    pub coll: Collection<SerdeItem>,
    /// Keys of the loaded records, in load order: nonrel's, then the driver's `_id`s.
    pub keys: Vec<Key<Item>>,
    pub oids: Vec<ObjectId>,
    /// SKUs of the loaded records, in load order (the same on both sides).
    pub skus: Vec<String>,
}

/// Records made so far by [`Sides::fresh`], on any connection (for fresh SKUs).
static WRITTEN: AtomicI64 = AtomicI64::new(0);

impl Sides {
    /// Connects both sides (`ours` and `theirs` options) to `<base>_nonrel` and `<base>_driver`.
    pub async fn connect(ours: ClientOptions, theirs: ClientOptions, base: &str) -> Sides {
        let mongo = Mongo::connect_with(ours, &format!("{base}_nonrel")).await.expect("nonrel connects");
        let client = Client::with_options(theirs).expect("driver client");
        let database = client.database(&format!("{base}_driver"));
        database.run_command(doc! { "ping": 1 }).await.expect("driver connects");
        let coll = database.collection::<SerdeItem>("bench_items");
        let skus = (0..RECORDS).map(sku).collect();
        Sides { db: Database::new(mongo), coll, keys: Vec::new(), oids: Vec::new(), skus }
    }

    /// Creates the indexes (`sku` unique, `group`) and loads `RECORDS` records on each side.
    ///
    /// The driver's side gets the very indexes nonrel created (read back with
    /// `listIndexes`): a unique index partial on the value types, so records without a value
    /// never clash, and a plain index on `sku` beside it that serves lookups. The server then
    /// does the same work for both sides, so the ratios compare the clients alone; with a
    /// plain unique index on one side only, its server answers sooner, and this machine
    /// charges the longer wait to the other side's CPU time.
    pub async fn load(&mut self) {
        self.db.sync_indexes().await.expect("nonrel sync_indexes");
        let ours = self.db.backend().database().collection::<bson::Document>("bench_items");
        let mut listed = ours.list_indexes().await.expect("nonrel's indexes listed");
        let mut indexes = Vec::new();
        while listed.advance().await.expect("listIndexes getMore") {
            let index = listed.deserialize_current().expect("an index description");
            if index.options.as_ref().and_then(|o| o.name.as_deref()) != Some("_id_") {
                indexes.push(index);
            }
        }
        assert!(indexes.len() >= 3, "nonrel created its indexes on sku and group: {indexes:?}");
        self.coll.create_indexes(indexes).await.expect("driver create_indexes");
        let mut items: Vec<Item> = (0..RECORDS).map(|i| item(i, sku(i), i % GROUPS)).collect();
        let twins: Vec<SerdeItem> = items.iter().map(twin).collect();
        self.keys = self.db.save_many(&mut items).await.expect("nonrel save_many");
        self.coll.insert_many(&twins).await.expect("driver insert_many");
        self.oids = twins.iter().map(|t| t.id).collect();
    }

    /// Uses the records another connection of the same databases loaded.
    pub fn share_records(&mut self, loaded: &Sides) {
        self.keys = loaded.keys.clone();
        self.oids = loaded.oids.clone();
    }

    /// `n` records never written, with fresh SKUs, outside every group a find reads.
    pub fn fresh(&self, n: u64) -> Vec<Item> {
        let first = WRITTEN.fetch_add(n as i64, Ordering::Relaxed);
        (first..first + n as i64).map(|i| item(i, format!("new-{i}"), INSERTED_GROUP)).collect()
    }

    /// Checks that both sides read the same records before anything is measured.
    pub async fn check(&self) {
        let ours = ours_get(&self.db, &self.keys[7]).await;
        let theirs = theirs_get(&self.coll, self.oids[7]).await;
        assert_eq!(twin_of(&ours, theirs.id), theirs, "the sides hold different records");
        for g in 0..GROUPS {
            let (ours, theirs) = (ours_find(&self.db, g).await, theirs_find(&self.coll, g).await);
            assert_eq!((ours.len() as i64, theirs.len() as i64), (RECORDS / GROUPS, RECORDS / GROUPS));
        }
    }

    /// Drops both databases.
    pub async fn drop_databases(&self) {
        self.db.backend().database().drop().await.expect("drop nonrel's database");
        self.coll.client().database(self.coll.namespace().db.as_str()).drop().await.expect("drop driver's database");
    }
}

fn sku(i: i64) -> String {
    format!("sku-{i:06}")
}

fn twin_of(m: &Item, id: ObjectId) -> SerdeItem {
    SerdeItem { id, ..twin(m) }
}

// The measured operations, written once per side.

pub async fn ours_insert(db: &Database<Mongo>, m: &mut Item) {
    db.insert(m).await.expect("nonrel insert");
}

pub async fn theirs_insert(coll: &Collection<SerdeItem>, t: &mut SerdeItem) {
    t.id = ObjectId::new();
    coll.insert_one(&*t).await.expect("driver insert_one");
}

pub async fn ours_get(db: &Database<Mongo>, key: &Key<Item>) -> Item {
    db.get(key).await.expect("nonrel get").expect("record exists")
}

pub async fn theirs_get(coll: &Collection<SerdeItem>, id: ObjectId) -> SerdeItem {
    coll.find_one(doc! { "_id": id }).await.expect("driver find_one").expect("record exists")
}

pub async fn ours_update(db: &Database<Mongo>, sku: &str, qty: i64) {
    let done = db.query::<Item>().filter(Item::sku().eq(sku)).update().set(Item::qty(), qty).await;
    assert_eq!(done.expect("nonrel update").matched, 1);
}

pub async fn theirs_update(coll: &Collection<SerdeItem>, sku: &str, qty: i64) {
    let done = coll.update_one(doc! { "sku": sku }, doc! { "$set": { "qty": qty } }).await;
    assert_eq!(done.expect("driver update_one").matched_count, 1);
}

pub async fn ours_find(db: &Database<Mongo>, group: i64) -> Vec<Item> {
    db.query::<Item>().filter(Item::group().eq(group)).all().await.expect("nonrel query")
}

pub async fn theirs_find(coll: &Collection<SerdeItem>, group: i64) -> Vec<SerdeItem> {
    let mut cursor = coll.find(doc! { "group": group }).await.expect("driver find");
    let mut out = Vec::new();
    while cursor.advance().await.expect("driver getMore") {
        out.push(cursor.deserialize_current().expect("serde decode"));
    }
    out
}
