//! Bad input to the serializers and parsers: each is a clear error naming the model, field
//! and (a short prefix of) the value, never a panic.

use nonrel_runtime::{json, Database, ErrorKind, Key, Model, Value};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bad_input_items")]
struct Item {
    #[field(key)]
    id: i64,
    count: u64,
    small: i32,
    meta: Value,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bad_input_tags")]
struct Tag {
    #[field(key)]
    name: String,
}

#[derive(nonrel_runtime::Embedded, Debug, Clone, PartialEq)]
struct Node {
    children: Vec<Node>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "bad_input_trees")]
struct Tree {
    #[field(key)]
    id: i64,
    root: Node,
}

/// A dbPointer whose length prefix leaves room for the ObjectId only if it is read at the
/// wrong offset: the namespace takes 13 of the 17 bytes, so the 12-byte id runs past them.
const DB_POINTER: &str = "0c0d000000616161616161616161616161610000";

#[test]
fn a_db_pointer_running_past_its_bytes_is_an_error() {
    let pointer = &DB_POINTER[..DB_POINTER.len() - 4]; // the namespace NUL-terminated, no id
    let text = format!(r#"{{"_id":1,"count":1,"small":{{"$numberInt":"1"}},"meta":{{"$bson":"{pointer}"}}}}"#);
    let err = json::from_json::<Item>(&text).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(json::document_from_json(&format!(r#"{{"p":{{"$bson":"{pointer}"}}}}"#)).is_err());
    // A well-formed dbPointer (namespace "a", then 12 bytes) reads back as written.
    let good = format!(r#"{{"p":{{"$bson":"0c020000006100{}"}}}}"#, "07".repeat(12));
    let doc = json::document_from_json(&good).unwrap();
    assert_eq!(json::document_to_json(&doc).unwrap(), good);
}

#[test]
fn a_damaged_record_is_an_error() {
    // {"meta": dbPointer} with the pointer cut as above, framed as a stored document.
    let mut doc = Vec::new();
    let value = hex(&DB_POINTER[2..DB_POINTER.len() - 4]);
    let len = (4 + 1 + 5 + value.len() + 1) as i32;
    doc.extend_from_slice(&len.to_le_bytes());
    doc.push(0x0C);
    doc.extend_from_slice(b"meta\0");
    doc.extend_from_slice(&value);
    doc.push(0);
    assert!(Item::decode(Some(&nonrel_runtime::KeyValue::Int(1)), &doc).is_err());
    assert!(json::document_to_json(&doc).is_err());
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// `depth` documents nested in one another, each `{"a": ...}`, innermost `{}`.
fn nested_documents(depth: usize) -> Vec<u8> {
    let mut doc = vec![5, 0, 0, 0, 0];
    for _ in 0..depth {
        let mut outer = Vec::with_capacity(doc.len() + 8);
        outer.extend_from_slice(&((doc.len() + 8) as i32).to_le_bytes());
        outer.extend_from_slice(&[0x03, b'a', 0]);
        outer.extend_from_slice(&doc);
        outer.push(0);
        doc = outer;
    }
    doc
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // Run on a small stack, as a worker thread has: a recursion the input controls would
    // overflow it long before 100,000 levels.
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let deep = nested_documents(100_000);
            let err = Value::fields_of(&deep).unwrap_err();
            assert!(err.to_string().contains("nested more than 100"), "{err}");
            assert!(json::document_to_json(&deep).is_err());
            let mut hex_text = String::from("03");
            for b in &deep[..] {
                hex_text.push_str(&format!("{b:02x}"));
            }
            let text = format!(r#"{{"_id":1,"count":1,"small":{{"$numberInt":"1"}},"meta":{{"$bson":"{hex_text}"}}}}"#);
            assert!(json::from_json::<Item>(&text).is_err());
            let err = json::document_from_json(&"[".repeat(100_000)).unwrap_err();
            assert!(err.to_string().contains("nested too deeply"), "{err}");
            // A recursive embedded model 100,000 levels deep.
            let node = format!(r#"{}{{"children":[]}}{}"#, r#"{"children":["#.repeat(100_000), "]}".repeat(100_000));
            let text = format!(r#"{{"_id":1,"root":{node}}}"#);
            assert!(json::from_json::<Tree>(&text).is_err());
            // Within the limit, everything reads.
            assert_eq!(Value::fields_of(&nested_documents(90)).unwrap().len(), 1);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn duplicate_member_names_are_an_error_naming_the_member() {
    let err = json::from_json::<Tag>(r#"{"_id":"a","_id":"b"}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains(r#"member "_id" appears twice"#), "{err}");
    let err = json::document_from_json(r#"{"m":{"x":1,"y":2,"x":3}}"#).unwrap_err();
    assert!(err.to_string().contains(r#"member "x" appears twice"#), "{err}");
    assert_eq!(err.field(), Some("m"));
    assert!(json::document_from_json(r#"{"m":{"x":1},"n":{"x":1}}"#).is_ok(), "one name per object");
}

#[test]
fn an_integer_too_large_names_the_model_and_field() {
    let text = r#"{"_id":1,"count":99999999999999999999,"small":{"$numberInt":"1"},"meta":null}"#;
    let err = json::from_json::<Item>(text).unwrap_err();
    assert_eq!((err.model(), err.field()), (Some("Item"), Some("count")), "{err}");
    assert!(err.to_string().contains("99999999999999999999"), "{err}");
    let text = r#"{"_id":1,"count":1,"small":3000000000,"meta":null}"#;
    let err = json::from_json::<Item>(text).unwrap_err();
    assert_eq!((err.model(), err.field()), (Some("Item"), Some("small")), "{err}");
    let text = r#"{"_id":1,"count":1,"small":{"$numberInt":"1"},"meta":{"a":[1,2,1e999999,99999999999999999999]}}"#;
    let err = json::from_json::<Item>(text).unwrap_err();
    assert_eq!(err.field(), Some("meta.a[3]"), "{err}");
    let item = Item { id: 1, count: u64::MAX, small: 0, meta: Value::Null };
    let err = json::to_json(&item).unwrap_err();
    assert_eq!((err.model(), err.field()), (Some("Item"), Some("count")), "{err}");
}

#[test]
fn echoed_input_is_cut_to_a_short_prefix() {
    let garbage = "\u{1}".repeat(1 << 20);
    let err = garbage.parse::<Key<Tag>>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(err.to_string().len() < 400, "{} bytes", err.to_string().len());
    assert!(err.to_string().contains("1048576 bytes"), "{err}");
    for long in ["9".repeat(1 << 20), "x".repeat(1 << 20), format!("{}%zz", "a".repeat(1 << 20))] {
        for err in [long.parse::<Key<Tag>>().err(), long.parse::<Key<Item>>().err()].into_iter().flatten() {
            assert!(err.to_string().len() < 400, "{} bytes", err.to_string().len());
        }
    }
    let number = format!(r#"{{"_id":1,"count":{}}}"#, "9".repeat(1 << 20));
    let err = json::from_json::<Item>(&number).unwrap_err();
    assert!(err.to_string().len() < 400, "{} bytes", err.to_string().len());
    let name = format!(r#"{{"_id":"a","{}":{{"$numberInt":"x"}}}}"#, "n".repeat(1 << 20));
    let err = json::from_json::<Tag>(&name).unwrap_err();
    assert!(err.to_string().len() < 400, "{} bytes", err.to_string().len());
}

#[tokio::test]
async fn a_dump_line_with_a_long_key_or_name_is_echoed_short() {
    let db = Database::in_memory().unwrap();
    let long = "k".repeat(1 << 20);
    for line in [
        format!(r#"{{"collection":"{long}","_id":1,"record":{{}}}}"#),
        format!(r#"{{"collection":"bad_input_items","_id":"{long}","record":{{}}}}"#),
        format!(r#"{{"{long}":1}}"#),
    ] {
        let err = db.load(line.as_bytes(), Default::default()).await.unwrap_err();
        assert!(err.to_string().len() < 400, "{} bytes", err.to_string().len());
    }
}

#[tokio::test]
async fn an_empty_natural_string_key_is_refused_at_save() {
    let db = Database::in_memory().unwrap();
    let err = db.save(&mut Tag { name: String::new() }).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(err.to_string().contains("Tag") && err.to_string().contains("name"), "{err}");
    assert_eq!(db.query::<Tag>().count().await.unwrap(), 0);
    // Every key that saves has a string form that parses back to it.
    for name in ["a", " ", "%", "é/ü?&=", "\u{0}x"] {
        let key = db.save(&mut Tag { name: name.into() }).await.unwrap();
        assert_eq!(key.to_string().parse::<Key<Tag>>().unwrap(), key, "{name:?}");
    }
}

#[test]
fn a_file_that_is_not_a_database_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let files = [("garbage.db", garbage), ("text.db", b"name,age\nann,3\n".repeat(100)), ("short.db", b"x".to_vec())];
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        for err in [Database::open(&path).err(), Database::open_existing(&path).err()] {
            let err = err.unwrap_or_else(|| panic!("{name} opened as a database"));
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{name}: {err}");
            assert!(err.to_string().contains("is damaged or is not a nonrel database"), "{err}");
        }
    }
}
