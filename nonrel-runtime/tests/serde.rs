//! Models deriving serde's traits beside `Model` (feature `serde`): the value types'
//! documented JSON forms, and round trips through `serde_json` over many random values.

use nonrel_runtime::{Blob, Database, DateTime, Decimal, Embedded, Extra, Key, Model, ObjectId, Ref, Utc, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Model, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[model(collection = "serde_users")]
struct User {
    #[field(key)]
    name: String,
}

#[derive(Embedded, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Note {
    text: String,
    at: DateTime<Utc>,
}

#[derive(Model, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[model(collection = "serde_items")]
struct Item {
    #[field(key)]
    id: Option<Key<Item>>,
    #[field(index)]
    title: String,
    count: i32,
    big: i64,
    ratio: f64,
    done: bool,
    price: Decimal,
    at: DateTime<Utc>,
    data: Blob,
    owner: Ref<User>,
    oid: ObjectId,
    tags: Vec<String>,
    attrs: BTreeMap<String, i64>,
    anything: Value,
    note: Option<Note>,
    notes: Vec<Note>,
    #[field(extra)]
    extra: Extra,
}

/// A small deterministic generator (xorshift64*), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn text(&mut self) -> String {
        const PIECES: &[&str] =
            &["a", "Z", "0", " ", "/", "%", "é", "\"", "\\", "\n", "€", "😀", "$oid", "-", "~", "?"];
        (0..self.below(8)).map(|_| PIECES[self.below(PIECES.len() as u64) as usize]).collect()
    }

    fn double(&mut self) -> f64 {
        match self.below(6) {
            0 => f64::from_bits(self.next()),
            1 => f64::NAN,
            2 => [f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0][self.below(4) as usize],
            _ => (self.next() as i64 as f64) / 1e6,
        }
    }

    fn date(&mut self) -> DateTime<Utc> {
        // Milliseconds (the stored precision) from before 1970 to after 9999.
        let ms = (self.next() % 600_000_000_000_000) as i64 - 100_000_000_000_000;
        DateTime::from_timestamp_millis(ms).expect("in chrono's range")
    }

    fn decimal(&mut self) -> Decimal {
        Decimal::from_i128_with_scale((self.next() as i64) as i128, self.below(29) as u32)
    }

    fn bytes(&mut self) -> Vec<u8> {
        (0..self.below(10)).map(|_| self.next() as u8).collect()
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth == 0 { 11 } else { 13 }) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => Value::Int32(self.next() as i32),
            3 => Value::Int64(self.next() as i64),
            4 => Value::Double(self.double()),
            5 => Value::Decimal(self.decimal()),
            6 => Value::String(self.text()),
            7 => Value::DateTime(self.date()),
            8 => Value::Binary(self.bytes()),
            9 => Value::ObjectId(ObjectId::new()),
            10 => Value::Raw(0x0B, b"ab\0i\0".to_vec()),
            11 => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
            _ => Value::Document(
                (0..self.below(4))
                    .map(|i| {
                        let name = if self.below(3) == 0 { "$date".to_owned() } else { format!("f{i}{}", self.text()) };
                        (name, self.value(depth - 1))
                    })
                    .collect(),
            ),
        }
    }

    fn item(&mut self) -> Item {
        let mut extra = Extra::default();
        extra.insert("legacy", self.value(2)).expect("a plain field name");
        Item {
            id: Some(match self.below(2) {
                0 => Key::from(self.next() as i64),
                _ => Key::from(ObjectId::new()),
            }),
            title: self.text(),
            count: self.next() as i32,
            big: self.next() as i64,
            ratio: (self.next() as i64 as f64) / 3.0,
            done: self.below(2) == 1,
            price: self.decimal(),
            at: self.date(),
            data: Blob(self.bytes()),
            owner: Ref::new(Key::from(format!("u{}", self.text()))),
            oid: ObjectId::new(),
            tags: (0..self.below(3)).map(|_| self.text()).collect(),
            attrs: (0..self.below(3)).map(|i| (format!("k{i}"), self.next() as i64)).collect(),
            anything: self.value(3),
            note: (self.below(2) == 0).then(|| Note { text: self.text(), at: self.date() }),
            notes: (0..self.below(3)).map(|_| Note { text: self.text(), at: self.date() }).collect(),
            extra,
        }
    }
}

/// What a value reads back as: an int64 that fits 32 bits is an int32 (relaxed extended
/// JSON has one integer type); everything else, its type and bytes included, is kept.
fn as_read_back(v: &Value) -> Value {
    match v {
        Value::Int64(n) => i32::try_from(*n).map_or(Value::Int64(*n), Value::Int32),
        Value::Array(items) => Value::Array(items.iter().map(as_read_back).collect()),
        Value::Document(fields) => Value::Document(fields.iter().map(|(k, v)| (k.clone(), as_read_back(v))).collect()),
        other => other.clone(),
    }
}

/// Exactly the same value: same types, same bytes (`Value`'s `==` compares numbers by value).
fn same(a: &Value, b: &Value) -> bool {
    format!("{a:?}") == format!("{b:?}") && a == b
}

#[test]
fn values_round_trip_through_json_with_their_types() {
    for seed in 1..=2000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let value = rng.value(3);
        let text = serde_json::to_string(&value).unwrap_or_else(|e| panic!("seed {seed}: {value:?}: {e}"));
        let back: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("seed {seed}: {text}: {e}"));
        assert!(same(&back, &as_read_back(&value)), "seed {seed}: {value:?} -> {text} -> {back:?}");
    }
}

#[test]
fn models_round_trip_through_json() {
    for seed in 1..=500u64 {
        let item = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)).item();
        let text = serde_json::to_string(&item).unwrap();
        let back: Item = serde_json::from_str(&text).unwrap_or_else(|e| panic!("seed {seed}: {text}: {e}"));
        let (mut expected, mut got) = (item.clone(), back.clone());
        assert!(same(&got.anything, &as_read_back(&expected.anything)), "seed {seed}: {text}");
        assert_eq!(got.extra.names(), expected.extra.names(), "seed {seed}");
        let legacy = |e: &Extra| e.get("legacy").unwrap().unwrap();
        assert!(same(&legacy(&got.extra), &as_read_back(&legacy(&expected.extra))), "seed {seed}: {text}");
        (expected.anything, got.anything) = (Value::Null, Value::Null);
        (expected.extra, got.extra) = (Extra::default(), Extra::default());
        assert_eq!(got, expected, "seed {seed}: {text}");
        assert_eq!(serde_json::to_string(&back).unwrap(), text, "seed {seed}: written again the same");
    }
}

#[test]
fn keys_round_trip_as_url_safe_strings() {
    for seed in 1..=2000u64 {
        let mut rng = Rng(seed);
        let name = format!("{}{}", rng.text(), seed);
        let key: Key<User> = Key::from(name.as_str());
        let text = serde_json::to_string(&key).unwrap();
        assert_eq!(text, format!("\"{}\"", key.to_url_safe()));
        assert!(text[1..text.len() - 1].bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)), "{text}");
        let back: Key<User> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, key);
        let r: Ref<User> = serde_json::from_str(&text).unwrap();
        assert_eq!(r.key(), &key);
    }
}

#[test]
fn documented_forms() {
    let oid = ObjectId::parse("65f0c1d2e3f4a5b6c7d8e9f0").unwrap();
    let json = |v: &Value| serde_json::to_string(v).unwrap();
    assert_eq!(serde_json::to_string(&Key::<Item>::from(42)).unwrap(), r#""42""#);
    assert_eq!(serde_json::from_str::<Key<Item>>("42").unwrap(), Key::from(42), "an integer is read too");
    assert_eq!(serde_json::from_str::<Decimal>("1.5").unwrap(), "1.5".parse::<Decimal>().unwrap());
    assert_eq!(serde_json::to_string(&Ref::<User>::new(Key::from("ann lee"))).unwrap(), r#""ann%20lee""#);
    assert_eq!(serde_json::to_string(&Key::<Item>::from(oid)).unwrap(), r#""65f0c1d2e3f4a5b6c7d8e9f0""#);
    assert_eq!(serde_json::to_string(&oid).unwrap(), r#""65f0c1d2e3f4a5b6c7d8e9f0""#);
    assert_eq!(serde_json::to_string(&Blob(vec![0xde, 0xad])).unwrap(), r#""3q0=""#);
    assert_eq!(serde_json::to_string(&"-12.500".parse::<Decimal>().unwrap()).unwrap(), r#""-12.500""#);
    let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
    assert_eq!(serde_json::to_string(&at).unwrap(), r#""2023-11-14T22:13:20.123Z""#);
    assert_eq!(json(&Value::Int32(3)), "3");
    assert_eq!(json(&Value::Double(2.0)), "2.0");
    assert_eq!(json(&Value::Double(f64::NAN)), r#"{"$numberDouble":"NaN"}"#);
    assert_eq!(json(&Value::DateTime(at)), r#"{"$date":"2023-11-14T22:13:20.123Z"}"#);
    assert_eq!(
        json(&Value::DateTime(DateTime::from_timestamp_millis(-1).unwrap())),
        r#"{"$date":{"$numberLong":"-1"}}"#
    );
    assert_eq!(json(&Value::ObjectId(oid)), r#"{"$oid":"65f0c1d2e3f4a5b6c7d8e9f0"}"#);
    assert_eq!(json(&Value::Binary(vec![0xde, 0xad])), r#"{"$binary":{"base64":"3q0=","subType":"00"}}"#);
    assert_eq!(json(&Value::Decimal("1.50".parse().unwrap())), r#"{"$numberDecimal":"1.50"}"#);
    let doc = Value::Document(vec![("$oid".into(), Value::String("x".into()))]);
    assert_eq!(json(&doc), r#"{"$document":{"$oid":"x"}}"#);
    let mut extra = Extra::default();
    extra.insert("legacy", 7).unwrap();
    assert_eq!(serde_json::to_string(&extra).unwrap(), r#"{"legacy":7}"#);
}

#[test]
fn bad_input_is_an_error_naming_the_model_and_value() {
    let err = serde_json::from_str::<Key<Item>>(r#""ann""#).unwrap_err().to_string();
    assert!(err.contains("Item") && err.contains("ann"), "{err}");
    let err = serde_json::from_str::<Ref<User>>(r#""%zz""#).unwrap_err().to_string();
    assert!(err.contains("User") && err.contains("%zz"), "{err}");
    let err = serde_json::from_str::<Blob>(r#""not base64!""#).unwrap_err().to_string();
    assert!(err.contains("not base64!"), "{err}");
    let err = serde_json::from_str::<ObjectId>(r#""65f0""#).unwrap_err().to_string();
    assert!(err.contains("65f0"), "{err}");
    for bad in [r#"{"$oid":"xyz"}"#, r#"{"$date":"yesterday"}"#, r#"{"$numberInt":"9999999999"}"#, r#"{"$bson":"0"}"#] {
        let err = serde_json::from_str::<Value>(bad).unwrap_err().to_string();
        assert!(!err.is_empty(), "{bad}");
    }
    // A map with a wrapper's name among other fields is a document.
    let v: Value = serde_json::from_str(r#"{"$oid":"x","b":1}"#).unwrap();
    assert!(matches!(v, Value::Document(ref f) if f.len() == 2), "{v:?}");
}

#[tokio::test]
async fn a_stored_model_serializes_as_it_was_saved() {
    let db = Database::in_memory().unwrap();
    for seed in 1..=50u64 {
        let mut item = Rng(seed * 7919).item();
        item.id = None;
        let key = db.save(&mut item).await.unwrap();
        let loaded: Item = db.get(&key).await.unwrap().unwrap();
        let from_json: Item = serde_json::from_str(&serde_json::to_string(&loaded).unwrap()).unwrap();
        assert_eq!(from_json.id, Some(key.clone()));
        assert_eq!(serde_json::to_string(&from_json).unwrap(), serde_json::to_string(&loaded).unwrap(), "seed {seed}");
    }
}
