//! What a backend learns about an index before reading it (on the embedded backend: whether
//! it is filled, which type classes of numbers it holds) follows every write: a query asked
//! before and after a write that changes it finds what an unindexed field finds.
#![allow(missing_docs)]

use super::cases_order::keys_of;
use super::cases_sort_values::Amount;
use crate::{Backend, Database, Decimal, KeyValue, Query, Value};
use std::str::FromStr;

fn amount(id: i64, v: Value) -> Amount {
    Amount { id, v: v.clone(), v_plain: v }
}

/// Each lookup on the indexed field against the same lookup on the unindexed one (read by a
/// scan), and the keys expected of the first two.
async fn check_index_against_scan<B: Backend>(db: &Database<B>, what: &str, eq_two: &[i64], below_three: &[i64]) {
    let two = Value::Int64(2);
    let lookups: Vec<(&str, Query<Amount>, Query<Amount>)> = vec![
        ("eq 2", Query::new().filter(Amount::v().eq(&two)), Query::new().filter(Amount::v_plain().eq(&two))),
        (
            "lt 3",
            Query::new().filter(Amount::v().lt(Value::Int64(3))),
            Query::new().filter(Amount::v_plain().lt(Value::Int64(3))),
        ),
        ("gte 2", Query::new().filter(Amount::v().gte(&two)), Query::new().filter(Amount::v_plain().gte(&two))),
        (
            "in [2]",
            Query::new().filter(Amount::v().is_in([two.clone()])),
            Query::new().filter(Amount::v_plain().is_in([two.clone()])),
        ),
        (
            "lt 3 ordered",
            Query::new().filter(Amount::v().lt(Value::Int64(3))).order_by(Amount::v().asc()),
            Query::new().filter(Amount::v_plain().lt(Value::Int64(3))).order_by(Amount::v_plain().asc()),
        ),
    ];
    for (n, (name, indexed, scanned)) in lookups.into_iter().enumerate() {
        let got = keys_of(&db.query::<Amount>().with(indexed).all().await.expect("indexed query"));
        let oracle = keys_of(&db.query::<Amount>().with(scanned).all().await.expect("scan"));
        assert_eq!(got, oracle, "{what}: {name} through the index against a scan");
        let expected: Option<Vec<KeyValue>> = match n {
            0 => Some(eq_two.iter().map(|&id| KeyValue::Int(id)).collect()),
            1 => Some(below_three.iter().map(|&id| KeyValue::Int(id)).collect()),
            _ => None,
        };
        if let Some(expected) = expected {
            assert_eq!(got, expected, "{what}: {name}");
        }
    }
}

/// An index of integers serves equality and ranges; a decimal saved after those queries ran
/// is found by the same queries (equal numbers of both classes match), and once it is
/// replaced by an integer the queries find what they found before.
pub async fn index_facts_follow_writes<B: Backend>(db: &Database<B>) {
    let mut records: Vec<Amount> = (1..=4).map(|i| amount(i, Value::Int64(i))).collect();
    db.save_many(&mut records).await.expect("seed");
    check_index_against_scan(db, "integers only", &[2], &[1, 2]).await;
    let decimal = Value::Decimal(Decimal::from_str("2").expect("decimal"));
    db.save(&mut amount(5, decimal)).await.expect("save a decimal");
    check_index_against_scan(db, "a decimal among integers", &[2, 5], &[1, 2, 5]).await;
    db.save(&mut amount(5, Value::Int64(7))).await.expect("replace the decimal");
    check_index_against_scan(db, "the decimal replaced", &[2], &[1, 2]).await;
}
