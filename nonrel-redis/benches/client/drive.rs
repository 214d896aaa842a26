//! `REDIS_BENCH_DRIVE=<n>`: each CPU benchmark's operation `n` times per side, each side in
//! a function of its own that an instruction counter can select by name. A warm-up of every
//! operation comes first (scripts loaded, caches filled), outside those functions.

use crate::model::{self, record, Rec};
use crate::{hand::Hand, spread, RECORDS};
use nonrel_redis::Redis;
use nonrel_runtime::{Database, Key};
use std::hint::black_box;
use tokio::runtime::Runtime;

const GROUPS: i64 = RECORDS / model::GROUP_SIZE;

/// Runs the warm-up, then each operation `n` times per side, ours first. The inputs of
/// each side (records, keys, SKUs) are built outside the measured functions, as the
/// benchmarks build them outside the timed part.
pub fn all(rt: &Runtime, db: &Database<Redis>, hand: &Hand, n: u64) {
    let warm = 20;
    let round = |from: i64, count: u64, measured: bool| {
        let count_i = count as i64;
        let mut recs: Vec<Rec> = (from..from + count_i).map(record).collect();
        let twins: Vec<_> = (from..from + count_i).map(|k| (k + 1_000_000, model::twin(&record(k)))).collect();
        let keys: Vec<i64> = (0..count).map(|k| spread(k + from as u64, RECORDS)).collect();
        let groups: Vec<i64> = (0..count).map(|k| spread(k + from as u64, GROUPS)).collect();
        let skus: Vec<(String, i64)> =
            (0..count).map(|k| (model::sku(spread(k + from as u64, RECORDS)), (from as u64 + k) as i64)).collect();
        if measured {
            drive_ours_save(rt, db, &mut recs);
            drive_hand_save(rt, hand, &twins);
            drive_ours_get(rt, db, &keys);
            drive_hand_get(rt, hand, &keys);
            drive_ours_query(rt, db, &groups);
            drive_hand_query(rt, hand, &groups);
            drive_ours_update(rt, db, &skus);
            drive_hand_update(rt, hand, &skus);
        } else {
            rt.block_on(async {
                ours_save(db, &mut recs).await;
                hand_save(hand, &twins).await;
                ours_get(db, &keys).await;
                hand_get(hand, &keys).await;
                ours_query(db, &groups).await;
                hand_query(hand, &groups).await;
                ours_update(db, &skus).await;
                hand_update(hand, &skus).await;
            });
        }
    };
    round(2_000_000, warm, false);
    round(3_000_000, n, true);
    eprintln!("drove {n} of each operation per side");
}

async fn ours_save(db: &Database<Redis>, recs: &mut [Rec]) {
    for r in recs {
        db.save(r).await.expect("nonrel save");
    }
}

async fn hand_save(hand: &Hand, recs: &[(i64, model::SerdeRec)]) {
    for (k, r) in recs {
        hand.save(*k, r).await;
    }
}

async fn ours_get(db: &Database<Redis>, keys: &[i64]) {
    for &k in keys {
        black_box(db.get(&Key::<Rec>::from(k)).await.expect("nonrel get").expect("record"));
    }
}

async fn hand_get(hand: &Hand, keys: &[i64]) {
    for &k in keys {
        black_box(hand.get(k).await);
    }
}

async fn ours_query(db: &Database<Redis>, groups: &[i64]) {
    for &g in groups {
        let q = db.query::<Rec>().filter(Rec::group().eq(g)).limit(10);
        black_box(q.all().await.expect("nonrel query"));
    }
}

async fn hand_query(hand: &Hand, groups: &[i64]) {
    for &g in groups {
        black_box(hand.query_group(g).await);
    }
}

async fn ours_update(db: &Database<Redis>, skus: &[(String, i64)]) {
    for (sku, qty) in skus {
        let done = db.query::<Rec>().filter(Rec::sku().eq(sku.as_str())).update().set(Rec::qty(), *qty).await;
        assert_eq!(done.expect("nonrel update").matched, 1);
    }
}

async fn hand_update(hand: &Hand, skus: &[(String, i64)]) {
    for (sku, qty) in skus {
        hand.set_qty(sku, *qty).await;
    }
}

#[inline(never)]
fn drive_ours_save(rt: &Runtime, db: &Database<Redis>, recs: &mut [Rec]) {
    rt.block_on(ours_save(db, recs));
}

#[inline(never)]
fn drive_hand_save(rt: &Runtime, hand: &Hand, recs: &[(i64, model::SerdeRec)]) {
    rt.block_on(hand_save(hand, recs));
}

#[inline(never)]
fn drive_ours_get(rt: &Runtime, db: &Database<Redis>, keys: &[i64]) {
    rt.block_on(ours_get(db, keys));
}

#[inline(never)]
fn drive_hand_get(rt: &Runtime, hand: &Hand, keys: &[i64]) {
    rt.block_on(hand_get(hand, keys));
}

#[inline(never)]
fn drive_ours_query(rt: &Runtime, db: &Database<Redis>, groups: &[i64]) {
    rt.block_on(ours_query(db, groups));
}

#[inline(never)]
fn drive_hand_query(rt: &Runtime, hand: &Hand, groups: &[i64]) {
    rt.block_on(hand_query(hand, groups));
}

#[inline(never)]
fn drive_ours_update(rt: &Runtime, db: &Database<Redis>, skus: &[(String, i64)]) {
    rt.block_on(ours_update(db, skus));
}

#[inline(never)]
fn drive_hand_update(rt: &Runtime, hand: &Hand, skus: &[(String, i64)]) {
    rt.block_on(hand_update(hand, skus));
}
