//! Related selections on the embedded backend (a file store), wall time per operation,
//! both sides measured in the same run and reported as `ratio <name> <value> <max allowed>`:
//!
//! - `select_related_vs_hand_embedded`: a query of 100 posts with their 100 distinct authors
//!   (`select_related`: the query, then one batched key read) over the same result written
//!   by hand against redb: one read transaction, a range over the index on `n`, a get of
//!   each post, then one get per author in the same transaction, every record decoded with
//!   the models' own decoders. That is the least any implementation reads and decodes.
//!
//! The database is built once with nonrel, closed and copied byte for byte; nonrel reads the
//! original and the hand-written side the copy (redb allows one handle per file), so both
//! see the same pages (as `benches/foundation/store.rs` does).
//!
//! Alone: `cargo bench -p nonrel-runtime --bench joins_embedded`.

#[path = "../joins/related.rs"]
mod related;

use criterion::Criterion;
use nonrel_runtime::{Database, KeyValue, Model};
use redb::{ReadableDatabase, TableDefinition};
use related::{load, measure, select_related, Post, User};
use std::time::Duration;

type Bytes<'a> = TableDefinition<'a, nonrel_runtime::StoredKey, &'static [u8]>;

/// `KeyValue::Int(n)` as the embedded store keys its records: tag 0x10, then n with its sign
/// bit flipped, big-endian.
fn int_key(n: i64) -> [u8; 9] {
    let mut k = [0x10; 9];
    k[1..].copy_from_slice(&((n as u64) ^ (1 << 63)).to_be_bytes());
    k
}

/// The integer of a record key made by [`int_key`].
fn key_int(k: &[u8]) -> i64 {
    (u64::from_be_bytes(k[1..9].try_into().expect("an integer key")) ^ (1 << 63)) as i64
}

/// The first index entry of the integer value `v` (embedded/keys.rs): class tag 0x10
/// (numbers), the double's order key, then the integer's distance from the double (0 here:
/// |v| < 2^53), sign-flipped; the record key follows.
fn number_entry(v: i64) -> [u8; 17] {
    let bits = (v as f64).to_bits();
    let order = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    let mut lo = [0u8; 17];
    lo[0] = 0x10;
    lo[1..9].copy_from_slice(&order.to_be_bytes());
    lo[9..].copy_from_slice(&(1u64 << 63).to_be_bytes());
    lo
}

/// Hand-written `select_related` of the posts with `n < parents`: in one read transaction,
/// the index range of every number below `parents` (numbers are the entries from tag 0x10 on),
/// each post by its key, then each author by its key; all decoded.
fn by_hand(raw: &redb::Database, parents: i64) -> Vec<(Post, User)> {
    let tx = raw.begin_read().expect("begin_read");
    let index = tx.open_table(Bytes::new("index:posts:n")).expect("index on n");
    let posts = tx.open_table(Bytes::new("records:posts")).expect("posts");
    let users = tx.open_table(Bytes::new("records:users")).expect("users");
    let (lo, hi) = ([0x10u8], number_entry(parents));
    let mut found = Vec::with_capacity(parents as usize);
    for entry in index.range::<&[u8]>(lo.as_slice()..hi.as_slice()).expect("range") {
        // The entry's key is the number's 17 bytes, then the record key.
        let (entry, _) = entry.expect("entry");
        let pk = &entry.value()[17..];
        let doc = posts.get(pk).expect("get").expect("indexed post exists");
        found.push(Post::decode(Some(&KeyValue::Int(key_int(pk))), doc.value()).expect("post decodes"));
    }
    found
        .into_iter()
        .map(|post| {
            let key = post.author.key().value().clone();
            let KeyValue::Int(n) = key else { panic!("automatic keys are integers") };
            let doc = users.get(int_key(n).as_slice()).expect("get").expect("author exists");
            let author = User::decode(Some(&key), doc.value()).expect("author decodes");
            (post, author)
        })
        .collect()
}

/// Checks that the hand-written side finds what `select_related` does.
fn check(rt: &tokio::runtime::Runtime, db: &Database<nonrel_runtime::Redb>, raw: &redb::Database) {
    let rows = rt
        .block_on(db.query::<Post>().filter(Post::n().lt(100)).select_related(Post::author()).rows())
        .expect("select_related");
    let ours: Vec<(i64, String)> = rows
        .iter()
        .map(|r| {
            let author = r.related(Post::author()).expect("decodes").expect("an author");
            (r.record.n, author.name)
        })
        .collect();
    let theirs: Vec<(i64, String)> = by_hand(raw, 100).into_iter().map(|(p, u)| (p.n, u.name)).collect();
    assert_eq!(ours.len(), 100);
    assert_eq!(ours, theirs, "the hand-written select_related finds other records");
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, raw_path) = (dir.path().join("joins.redb"), dir.path().join("joins-raw.redb"));
    {
        let db = Database::open(&path).expect("open");
        rt.block_on(load(&db));
    }
    std::fs::copy(&path, &raw_path).expect("copy database");
    let db = Database::open(&path).expect("reopen");
    let raw = redb::Database::open(&raw_path).expect("open the copy with redb");
    check(&rt, &db, &raw);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    let ours = measure(&mut c, &rt, "embedded/select_related/100", || select_related(&db, 100));
    let theirs = measure(&mut c, &rt, "embedded/select_related_by_hand/100", || async { by_hand(&raw, 100).len() });
    c.final_summary();
    println!(
        "time embedded/select_related/100 {:.1}us embedded/select_related_by_hand/100 {:.1}us (fastest)",
        ours / 1e3,
        theirs / 1e3
    );
    println!("ratio select_related_vs_hand_embedded {:.3} 1.1", ours / theirs);
}
