//! `#[field(serde)]` fields on the embedded backend: any serde type stored as the nested
//! document, array or scalar bson's serializer makes of it, read back whole and found by
//! equality; values that do not read back are errors naming model, field and value.

use nonrel_runtime::{Database, ErrorKind, Key, Model, Value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Shape {
    Dot,
    Circle { radius: i32 },
    Polygon(Vec<(i32, i32)>),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
struct Style {
    stroke: String,
    width: u8,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "serde_drawings")]
struct Drawing {
    #[field(key)]
    id: Option<Key<Drawing>>,
    #[field(serde, index)]
    shape: Shape,
    #[field(serde, default)]
    style: Style,
    #[field(serde)]
    label: Option<String>,
}

/// The same collection, `shape` read as a dynamic value (what is actually stored), the
/// other fields left out (a record saved through it has none).
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "serde_drawings")]
struct RawDrawing {
    #[field(key)]
    id: Option<Key<RawDrawing>>,
    shape: Value,
}

fn drawing(shape: Shape, stroke: &str) -> Drawing {
    Drawing { id: None, shape, style: Style { stroke: stroke.into(), width: 2 }, label: None }
}

#[tokio::test]
async fn serde_fields_round_trip_as_nested_values_and_match_by_equality() {
    let db = Database::in_memory().unwrap();
    let shapes = [Shape::Dot, Shape::Circle { radius: 3 }, Shape::Polygon(vec![(0, 0), (1, 0), (0, 1)])];
    let mut keys = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        let mut d = drawing(shape.clone(), if i % 2 == 0 { "red" } else { "blue" });
        d.label = (i == 1).then(|| "ring".to_owned());
        keys.push(db.save(&mut d).await.unwrap());
        assert_eq!(db.get(keys.last().unwrap()).await.unwrap(), Some(d));
    }
    // Stored as bson's serializer makes them: a string, a document, a document of an array.
    let raw = db.get::<RawDrawing>(Key::from_value(keys[1].value().clone())).await.unwrap().unwrap();
    let circle = Value::Document(vec![("Circle".into(), Value::Document(vec![("radius".into(), Value::Int32(3))]))]);
    assert_eq!(raw.shape, circle);
    let raw = db.get::<RawDrawing>(Key::from_value(keys[0].value().clone())).await.unwrap().unwrap();
    assert_eq!(raw.shape, Value::String("Dot".into()));

    // Equality lookups against an oracle: every shape finds exactly the records holding it.
    for (i, shape) in shapes.iter().enumerate() {
        let found = db.query::<Drawing>().filter(Drawing::shape().eq(shape)).all().await.unwrap();
        assert_eq!(found.len(), 1, "{shape:?}");
        assert_eq!(found[0].id.as_ref(), Some(&keys[i]));
        let others = db.query::<Drawing>().filter(Drawing::shape().ne(shape.clone())).count().await.unwrap();
        assert_eq!(others, 2);
    }
    let red = Style { stroke: "red".into(), width: 2 };
    assert_eq!(db.query::<Drawing>().filter(Drawing::style().eq(&red)).count().await.unwrap(), 2);
    let some = db.query::<Drawing>().filter(Drawing::shape().is_in([Shape::Dot, Shape::Circle { radius: 3 }]));
    assert_eq!(some.count().await.unwrap(), 2);
    let labelled = db.query::<Drawing>().filter(Drawing::label().eq(Some("ring".to_owned()))).all().await.unwrap();
    assert_eq!(labelled.len(), 1);
    assert_eq!(db.query::<Drawing>().filter(Drawing::label().isnull(true)).count().await.unwrap(), 2);
}

#[tokio::test]
async fn missing_and_unreadable_serde_values() {
    let db = Database::in_memory().unwrap();
    // A record without `style` and `label`: the default and `None` (serde's reading of null).
    let mut raw = RawDrawing { id: None, shape: Value::String("Dot".into()) };
    let key = db.save(&mut raw).await.unwrap();
    let read = db.get::<Drawing>(Key::from_value(key.value().clone())).await.unwrap().unwrap();
    assert_eq!((read.shape, read.style, read.label), (Shape::Dot, Style::default(), None));

    // A value the type cannot read: the error names the model, the field and the value.
    raw.shape = Value::String("Hexagon".into());
    db.save(&mut raw).await.unwrap();
    let err = db.get::<Drawing>(Key::from_value(key.value().clone())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.model(), Some("Drawing"));
    assert_eq!(err.field(), Some("shape"));
    assert!(err.to_string().contains("Hexagon"), "{err}");
}

#[tokio::test]
async fn values_serde_cannot_store_are_errors_naming_the_field() {
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    struct Big(u64);
    #[derive(Model, Debug)]
    #[model(collection = "serde_big")]
    struct Counter {
        #[field(key)]
        id: i64,
        #[field(serde)]
        n: Big,
    }
    let db = Database::in_memory().unwrap();
    let err = db.save(&mut Counter { id: 1, n: Big(u64::MAX) }).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encode);
    assert_eq!(err.field(), Some("n"));
    assert_eq!(db.get::<Counter>(1).await.unwrap().map(|c| c.n), None);
}
