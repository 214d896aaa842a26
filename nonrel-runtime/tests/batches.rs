//! `save_many` on the embedded backend writes new records past the greatest key in key order
//! (through redb's insertion cursors) and the rest one by one. Property: any batch (automatic,
//! ascending, existing, repeated and scattered keys; values in runs, spread out or equal;
//! unique values that collide) leaves the same records, index answers, counts and automatic
//! keys as the same saves made one by one, or fails at the item where they fail and writes
//! nothing. `NONREL_BATCH_CASES` sets the number of cases (120 by default), `NONREL_FUZZ_SEED`
//! the seed.

use nonrel_runtime::conformance::Rng;
use nonrel_runtime::{Database, Key, KeyValue, Model, Redb};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "batch_items", count_by(cat))]
struct Item {
    #[field(key)]
    id: Option<Key<Item>>,
    #[field(index)]
    cat: String,
    #[field(index)]
    n: i64,
    #[field(index)]
    tags: Vec<String>,
    #[field(unique)]
    code: Option<String>,
    #[field(index(covering))]
    rank: i64,
    note: String,
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// How a case's values run: all equal, ascending (a timestamp), descending, or spread out.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Equal,
    Ascending,
    Descending,
    Spread,
}

fn shape(rng: &mut Rng) -> Shape {
    [Shape::Equal, Shape::Ascending, Shape::Descending, Shape::Spread][rng.below_u64(4) as usize]
}

fn value(shape: Shape, i: i64, rng: &mut Rng) -> i64 {
    match shape {
        Shape::Equal => 7,
        Shape::Ascending => 1_000 + i,
        Shape::Descending => -i,
        Shape::Spread => rng.below_u64(1_000) as i64 - 500,
    }
}

fn key(k: i64) -> Option<Key<Item>> {
    Some(Key::from_value(KeyValue::Int(k)))
}

/// A record `i` of a case; its key is chosen by the caller.
fn item(rng: &mut Rng, i: i64, n: Shape, rank: Shape, codes: u64) -> Item {
    let tags = (0..rng.below_u64(4)).map(|_| format!("t{}", rng.below_u64(4))).collect();
    Item {
        id: None,
        cat: format!("c{}", rng.below_u64(3)),
        n: value(n, i, rng),
        tags,
        // Codes from a small pool collide now and then: a unique violation.
        code: rng.one_in(4).then(|| format!("k{}", rng.below_u64(codes))),
        rank: value(rank, i, rng),
        note: format!("note {i}"),
    }
}

/// Everything a reader can see of the collection.
async fn state(db: &Database<Redb>) -> Vec<String> {
    let mut out = Vec::new();
    let all = db.query::<Item>().order_by(Item::id().asc()).all().await.unwrap();
    out.push(format!("{all:?}"));
    for c in ["c0", "c1", "c2"] {
        let q = db.query::<Item>().filter(Item::cat().eq(c));
        out.push(format!("{c}: {:?} count {}", q.clone().all().await.unwrap(), q.count().await.unwrap()));
    }
    for (a, b) in [(-600, -100), (-100, 100), (0, 1_000), (500, 2_000), (i64::MIN, i64::MAX)] {
        let q = db.query::<Item>().filter(Item::n().gte(a)).filter(Item::n().lt(b));
        out.push(format!("n {a}..{b}: {:?}", q.all().await.unwrap()));
        let q = db.query::<Item>().filter(Item::rank().gte(a)).filter(Item::rank().lt(b));
        out.push(format!("rank {a}..{b}: {:?}", q.all().await.unwrap()));
    }
    for t in ["t0", "t1", "t2", "t3"] {
        out.push(format!("{t}: {:?}", db.query::<Item>().filter(Item::tags().contains(t)).all().await.unwrap()));
    }
    for k in 0..8 {
        let code = format!("k{k}");
        out.push(format!(
            "{code}: {:?}",
            db.query::<Item>().filter(Item::code().eq(code.clone())).all().await.unwrap()
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_writes_what_the_same_saves_one_by_one_write() {
    let seed = env("NONREL_FUZZ_SEED", 0x5eed_ba7c);
    let cases = env("NONREL_BATCH_CASES", 120);
    let mut rng = Rng::new(seed);
    let mut failures = 0;
    for case in 0..cases {
        let what = format!("case {case} of seed {seed} (NONREL_FUZZ_SEED)");
        let db = || Database::in_memory().unwrap();
        let (batched, single, untouched) = (db(), db(), db());
        let (n_shape, rank_shape) = (shape(&mut rng), shape(&mut rng));
        let codes = 20 + rng.below_u64(400);
        // Records already stored, some with automatic keys, the rest with keys up to 100.
        let mut before = Vec::new();
        let stored = if rng.one_in(3) { 0 } else { rng.below_u64(40) as i64 };
        for i in 0..stored {
            let mut it = item(&mut rng, i, n_shape, rank_shape, codes);
            it.id = if rng.one_in(2) { None } else { key(rng.below_u64(100) as i64 + 1) };
            before.push(it);
        }
        for db in [&batched, &single, &untouched] {
            for it in &before {
                // A stored record may take a code another holds: that save fails on both.
                let _ = db.save(&mut it.clone()).await;
            }
        }
        // The batch: mostly new keys in order (automatic or ascending), some existing,
        // repeated or scattered ones.
        let mut batch = Vec::new();
        // Ascending keys start past every stored key, or among them, or among the
        // automatic keys to come.
        let mut next_key = [100 + rng.below_u64(50) as i64, rng.below_u64(100) as i64, 0][rng.below_u64(3) as usize];
        // A third of the batches only add records (automatic or ascending keys).
        let kinds = if rng.one_in(3) { 7 } else { 10 };
        for i in 0..(1 + rng.below_u64(60)) as i64 {
            let mut it = item(&mut rng, 100 + i, n_shape, rank_shape, codes);
            it.id = match rng.below_u64(kinds) {
                0..=3 => None,
                4..=6 => {
                    next_key += 1 + rng.below_u64(3) as i64;
                    key(next_key)
                }
                7 => key(rng.below_u64(100) as i64 + 1),
                8 => batch.last().and_then(|b: &Item| b.id.clone()).or_else(|| key(next_key)),
                _ => key(rng.below_u64(300) as i64 + 1),
            };
            batch.push(it);
        }

        let mut ours = batch.clone();
        let got = batched.save_many(&mut ours).await;
        // The oracle: the same saves one by one, up to the first that fails.
        let mut expected = Ok(Vec::new());
        for (i, it) in batch.iter().enumerate() {
            match single.save(&mut it.clone()).await {
                Ok(k) => {
                    if let Ok(keys) = &mut expected {
                        keys.push(k);
                    }
                }
                Err(e) => {
                    expected = Err((i, e));
                    break;
                }
            }
        }
        // A failed batch writes nothing: it leaves what `untouched` holds.
        let like = match (&got, &expected) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{what}: the keys given");
                &single
            }
            (Err(a), Err((i, b))) => {
                assert_eq!((a.kind(), a.item()), (b.kind(), Some(*i)), "{what}: {a} against {b}");
                failures += 1;
                &untouched
            }
            _ => panic!("{what}: batch {got:?}, one by one {expected:?}"),
        };
        assert_eq!(state(&batched).await, state(like).await, "{what}: batch of {}", batch.len());
        let report = batched.integrity_check().await.unwrap();
        assert!(report.problems.is_empty(), "{what}: {report:?}");
        // The next automatic key is the same on both.
        let next = || Item { id: None, code: None, ..item(&mut Rng::new(1), 0, Shape::Equal, Shape::Equal, 1) };
        assert_eq!(batched.save(&mut next()).await.unwrap(), like.save(&mut next()).await.unwrap(), "{what}: next key");
    }
    // Both outcomes were exercised.
    assert!(failures > 0 && failures < cases, "{failures} of {cases} batches failed");
    eprintln!("{failures} of {cases} batches failed");
}

#[tokio::test]
async fn an_automatic_key_skips_a_key_given_earlier_in_the_batch() {
    let db = Database::in_memory().unwrap();
    let mut items: Vec<Item> =
        (0..10).map(|i| item(&mut Rng::new(9), i, Shape::Ascending, Shape::Ascending, 1)).collect();
    for it in &mut items {
        it.code = None;
    }
    items[1].id = key(2);
    let keys = db.save_many(&mut items).await.unwrap();
    let ints: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    assert_eq!(ints, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    assert_eq!(db.query::<Item>().count().await.unwrap(), 10);
}
