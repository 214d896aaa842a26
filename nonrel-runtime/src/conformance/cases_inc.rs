//! `inc` on every kind of stored value: a null counts like a missing field, numbers
//! keep the types MongoDB's `$inc` gives them, anything else is an error naming model,
//! field and value.

use crate::{Backend, Database, ErrorKind, Value};

/// Any stored value under `n`, written as it is.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_counters")]
struct RawCounter {
    #[field(key)]
    id: i64,
    /// The key again: queries cannot filter on the key, so updates of one record filter on this.
    one: i64,
    group: String,
    n: Value,
}

/// The same records without `n`: saving one stores a record where `n` is missing.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_counters")]
struct BareCounter {
    #[field(key)]
    id: i64,
    /// The key again: queries cannot filter on the key, so updates of one record filter on this.
    one: i64,
    group: String,
}

/// Views with an optional counter of each increment type.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_counters")]
struct Counter32 {
    #[field(key)]
    id: i64,
    /// The key again: queries cannot filter on the key, so updates of one record filter on this.
    one: i64,
    group: String,
    n: Option<i32>,
}

#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_counters")]
struct Counter64 {
    #[field(key)]
    id: i64,
    /// The key again: queries cannot filter on the key, so updates of one record filter on this.
    one: i64,
    group: String,
    n: Option<i64>,
}

#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_counters")]
struct CounterF64 {
    #[field(key)]
    id: i64,
    /// The key again: queries cannot filter on the key, so updates of one record filter on this.
    one: i64,
    group: String,
    n: Option<f64>,
}

/// The stored values, `None` for a missing field.
fn stored() -> Vec<Option<Value>> {
    vec![
        None,
        Some(Value::Null),
        Some(Value::Int32(5)),
        Some(Value::Int32(i32::MAX)),
        Some(Value::Int64(5)),
        Some(Value::Double(2.5)),
    ]
}

/// What `$inc` gives for `stored()[i]`, by an int32 3, an int64 3 and a double 0.5.
fn expected(i: usize) -> [Value; 3] {
    let max = i32::MAX as i64;
    match i {
        0 | 1 => [Value::Int32(3), Value::Int64(3), Value::Double(0.5)],
        2 => [Value::Int32(8), Value::Int64(8), Value::Double(5.5)],
        3 => [Value::Int64(max + 3), Value::Int64(max + 3), Value::Double(max as f64 + 0.5)],
        4 => [Value::Int64(8), Value::Int64(8), Value::Double(5.5)],
        _ => [Value::Double(5.5), Value::Double(5.5), Value::Double(3.0)],
    }
}

/// Writes record `id` of `group` with `n` stored as given (or missing).
async fn write<B: Backend>(db: &Database<B>, id: i64, group: &str, n: Option<Value>) {
    let group = group.to_owned();
    match n {
        Some(n) => {
            db.save(&mut RawCounter { id, one: id, group, n }).await.unwrap();
        }
        None => {
            db.save(&mut BareCounter { id, one: id, group }).await.unwrap();
        }
    }
}

async fn n_of<B: Backend>(db: &Database<B>, id: i64) -> Value {
    db.get::<RawCounter>(id).await.unwrap().expect("record").n
}

/// On one record and by a query of several, each stored kind of value plus each increment type gives `$inc`'s
/// result; the typed `Option` views read it back.
pub async fn inc_counts_null_as_missing<B: Backend>(db: &Database<B>) {
    for (by, kind) in [(0usize, "int32"), (1, "int64"), (2, "double")] {
        for by_query in [false, true] {
            let group = format!("{kind} {by_query}");
            let base = (by as i64 * 2 + by_query as i64) * 100;
            for (i, n) in stored().into_iter().enumerate() {
                write(db, base + i as i64, &group, n).await;
            }
            for i in 0..stored().len() as i64 {
                let id = base + i;
                if by_query && i > 0 {
                    break;
                }
                let done = match (by, by_query) {
                    (0, false) => {
                        db.query::<Counter32>().filter(Counter32::one().eq(id)).update().inc(Counter32::n(), 3).await
                    }
                    (0, true) => {
                        db.query::<Counter32>()
                            .filter(Counter32::group().eq(&group))
                            .update()
                            .inc(Counter32::n(), 3)
                            .await
                    }
                    (1, false) => {
                        db.query::<Counter64>().filter(Counter64::one().eq(id)).update().inc(Counter64::n(), 3).await
                    }
                    (1, true) => {
                        db.query::<Counter64>()
                            .filter(Counter64::group().eq(&group))
                            .update()
                            .inc(Counter64::n(), 3)
                            .await
                    }
                    (_, false) => {
                        db.query::<CounterF64>()
                            .filter(CounterF64::one().eq(id))
                            .update()
                            .inc(CounterF64::n(), 0.5)
                            .await
                    }
                    (_, true) => {
                        db.query::<CounterF64>()
                            .filter(CounterF64::group().eq(&group))
                            .update()
                            .inc(CounterF64::n(), 0.5)
                            .await
                    }
                };
                let done = done.unwrap_or_else(|e| panic!("inc by {kind} of record {id}: {e}"));
                let n = if by_query { stored().len() as u64 } else { 1 };
                assert_eq!((done.matched, done.modified), (n, n), "inc by {kind} of record {id}");
            }
            for i in 0..stored().len() {
                let id = base + i as i64;
                assert_eq!(
                    n_of(db, id).await,
                    expected(i)[by],
                    "stored {:?} + {kind} (by query: {by_query})",
                    stored()[i]
                );
            }
        }
    }
    let c: Counter64 = db.get(201).await.unwrap().unwrap();
    assert_eq!(c.n, Some(3), "a None counter becomes the increment");
}

/// `inc` of a stored value that is not a number is an error naming model, field and value,
/// on one record and by a query of several; the refused record is left as it was. (Whether the other records
/// the query matches are updated is the backend's: the embedded backend writes nothing,
/// MongoDB's multi-document update keeps those it wrote before the refusal.)
pub async fn inc_of_a_non_number_is_a_clear_error<B: Backend>(db: &Database<B>) {
    write(db, 1, "g", Some(Value::Int64(1))).await;
    write(db, 2, "g", Some(Value::String("five".into()))).await;
    write(db, 3, "g", Some(Value::Int64(3))).await;
    for by_key in [true, false] {
        let query = db.query::<Counter64>();
        let query =
            if by_key { query.filter(Counter64::one().eq(2)) } else { query.filter(Counter64::group().eq("g")) };
        let err = query.update().inc(Counter64::n(), 10).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
        assert_eq!(err.model(), Some("Counter64"));
        assert_eq!(err.field(), Some("n"));
        let msg = err.to_string();
        assert!(msg.contains("\"five\"") && msg.contains("string") && msg.contains("key 2"), "{msg}");
    }
    assert_eq!(n_of(db, 2).await, Value::String("five".into()), "the string is left as it was");
    write(db, 4, "h", Some(Value::Int64(i64::MAX))).await;
    let err = db.query::<Counter64>().filter(Counter64::one().eq(4)).update().inc(Counter64::n(), 1).await.unwrap_err();
    assert_eq!((err.kind(), err.field()), (ErrorKind::Encode, Some("n")), "int64 overflow: {err}");
    assert!(err.to_string().contains("overflows"), "{err}");
    assert_eq!(n_of(db, 4).await, Value::Int64(i64::MAX));
}
