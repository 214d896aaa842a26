//! Nesting depth on the way in: a record whose documents and arrays nest more than
//! [`MAX_DEPTH`](crate::core::codec::MAX_DEPTH) levels deep could never be read back, so every
//! write refuses it (an `Encode` error naming model and field) and writes nothing.
#![allow(missing_docs)]

use crate::backend::capability::Transactions;
use crate::core::codec::MAX_DEPTH;
use crate::{Backend, Database, Error, ErrorKind, Value};

/// A recursive embedded model: a chain of `n` nodes nests `n` levels.
#[derive(crate::Embedded, Debug, Clone, PartialEq)]
pub struct NestingNode {
    pub label: String,
    pub next: Option<Box<NestingNode>>,
}

/// A record holding a chain of nodes and free-form values.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_deep")]
pub struct Nesting {
    #[field(key)]
    pub id: i64,
    /// The key again: queries cannot filter on the key, so updates of one record filter on this.
    pub one: i64,
    pub node: Option<NestingNode>,
    pub any: Value,
    pub list: Vec<Value>,
}

/// A chain of `levels` nodes.
fn chain(levels: usize) -> Option<NestingNode> {
    (0..levels).fold(None, |next, i| Some(NestingNode { label: format!("n{i}"), next: next.map(Box::new) }))
}

/// A value nesting `levels` levels, documents and arrays in turn (a scalar at 0).
fn nested_value(levels: usize) -> Value {
    (0..levels).fold(Value::Int32(7), |inner, i| {
        if i % 2 == 0 {
            Value::Document(vec![("a".into(), inner)])
        } else {
            Value::Array(vec![Value::Null, inner])
        }
    })
}

fn deep(id: i64, node_levels: usize, any_levels: usize) -> Nesting {
    Nesting { id, one: id, node: chain(node_levels), any: nested_value(any_levels), list: Vec::new() }
}

/// The levels tried: around the limit, and far past it.
fn levels() -> [usize; 5] {
    [1, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 3 * MAX_DEPTH]
}

#[track_caller]
fn assert_too_deep(err: &Error, field: &str) {
    assert_eq!(err.kind(), ErrorKind::Encode, "{err}");
    assert_eq!(err.model(), Some("Nesting"), "{err}");
    assert_eq!(err.field(), Some(field), "{err}");
    assert!(err.to_string().contains(&format!("more than {MAX_DEPTH} levels")), "{err}");
}

/// `save`, `insert` and `save_many` store a record nested up to the limit (and read it back
/// as saved) and refuse one nested deeper, writing nothing: the stored version stays.
pub async fn records_nested_too_deep_are_refused_on_save<B: Backend>(db: &Database<B>) {
    for (i, levels) in levels().into_iter().enumerate() {
        let id = i as i64;
        let fits = levels <= MAX_DEPTH;
        for (record, field) in [(deep(id, levels, 0), "node"), (deep(id, 1, levels), "any")] {
            let before = db.get::<Nesting>(id).await.unwrap();
            match db.save(&mut record.clone()).await {
                Ok(_) => assert!(fits, "{levels} levels in {field} were saved"),
                Err(e) if !fits => assert_too_deep(&e, field),
                Err(e) => panic!("{levels} levels in {field} were refused: {e}"),
            }
            let after = db.get::<Nesting>(id).await.unwrap();
            assert_eq!(after, if fits { Some(record.clone()) } else { before }, "{levels} levels in {field}");
        }
        let fresh = 100 + id;
        let err = db.insert(&mut deep(fresh, levels, 0)).await.err();
        assert_eq!(err.is_none(), fits, "insert of {levels} levels: {err:?}");
        assert_eq!(db.get::<Nesting>(fresh).await.unwrap().is_some(), fits);
        let mut batch = [deep(200 + id, 1, 1), deep(300 + id, 1, levels)];
        match db.save_many(&mut batch).await {
            Ok(_) => assert!(fits),
            Err(e) => {
                assert!(!fits, "{e}");
                assert_too_deep(&e, "any");
                assert_eq!(e.item(), Some(1), "{e}");
            }
        }
        let written = db.get_many::<Nesting, i64>([200 + id, 300 + id]).await.unwrap();
        assert_eq!(written.iter().filter(|d| d.is_some()).count(), if fits { 2 } else { 0 });
    }
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// An update's `set` of a value and `push` of an element refuse a value that would nest
/// past the limit where it lands (the record is left as it was), and store one that fits.
pub async fn updates_nested_too_deep_are_refused<B: Backend>(db: &Database<B>) {
    db.save(&mut deep(1, 1, 0)).await.unwrap();
    for levels in levels() {
        let stored = db.get::<Nesting>(1i64).await.unwrap().unwrap();
        let value = nested_value(levels);
        let set = db.query::<Nesting>().filter(Nesting::one().eq(1)).update().set(Nesting::any(), value.clone()).await;
        let now = db.get::<Nesting>(1i64).await.unwrap().unwrap();
        if levels <= MAX_DEPTH {
            assert_eq!(set.unwrap().modified, 1, "set of {levels} levels");
            assert_eq!(now.any, value);
        } else {
            assert_too_deep(&set.unwrap_err(), "any");
            assert_eq!(now, stored, "a refused set writes nothing");
        }
        // Pushed into a list, the value is one level deeper.
        let stored = now;
        let push =
            db.query::<Nesting>().filter(Nesting::one().eq(1)).update().push(Nesting::list(), value.clone()).await;
        let now = db.get::<Nesting>(1i64).await.unwrap().unwrap();
        if levels < MAX_DEPTH {
            assert_eq!(push.unwrap().modified, 1, "push of {levels} levels");
            assert_eq!(now.list.last(), Some(&value));
        } else {
            assert_too_deep(&push.unwrap_err(), "list");
            assert_eq!(now, stored, "a refused push writes nothing");
        }
    }
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// A transaction saving a record nested too deep fails with the `Encode` error and writes
/// nothing, the transaction's other writes included.
pub async fn transactions_refuse_records_nested_too_deep<B: Transactions>(db: &Database<B>) {
    let err = db
        .transaction(|tx| async move {
            tx.save(&mut deep(1, 1, 1)).await?;
            tx.save(&mut deep(2, MAX_DEPTH + 1, 0)).await?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_too_deep(&err, "node");
    assert_eq!(db.query::<Nesting>().count().await.unwrap(), 0, "nothing of the transaction is written");
    db.transaction(|tx| async move { tx.save(&mut deep(3, MAX_DEPTH, MAX_DEPTH)).await.map(drop) }).await.unwrap();
    assert_eq!(db.get::<Nesting>(3i64).await.unwrap(), Some(deep(3, MAX_DEPTH, MAX_DEPTH)));
}
