//! Bad input on every backend: empty natural keys, dump records their model cannot decode,
//! damaged BSON inside a dump line.
#![allow(missing_docs)]

use super::models::{Post, User};
use crate::{Backend, Database, ErrorKind, LoadOptions};

/// A natural string key is never empty: a save is refused, and so is a dump line.
pub async fn empty_string_keys_are_refused<B: Backend>(db: &Database<B>) {
    let mut user = User { username: String::new(), email: "e@x".into(), age: 1 };
    let err = db.save(&mut user).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey, "{err}");
    assert!(err.to_string().contains("User") && err.to_string().contains("username"), "{err}");
    let line = r#"{"collection":"conf_users","_id":"","record":{"email":"e@x","age":{"$numberInt":"1"}}}"#;
    let err = db.load(line.as_bytes(), LoadOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey, "{err}");
    assert_eq!(db.query::<User>().count().await.unwrap(), 0);
}

/// A dump record is decoded as its model before anything is written: a missing required
/// field, a value of the wrong type or out of range is an error naming the line and field.
pub async fn dump_records_that_do_not_decode_load_nothing<B: Backend>(db: &Database<B>) {
    let good = r#"{"collection":"conf_users","_id":"ann","record":{"email":"a@x","age":{"$numberInt":"3"}}}"#;
    let cases = [
        (r#"{"collection":"conf_users","_id":"bob","record":{"email":"b@x"}}"#, "User.age"),
        (r#"{"collection":"conf_users","_id":"bob","record":{"email":7,"age":1}}"#, "User.email"),
        (r#"{"collection":"conf_users","_id":"bob","record":{"email":"b@x","age":300}}"#, "User.age"),
    ];
    for (bad, says) in cases {
        let text = format!("{good}\n{bad}\n");
        let err = db.load(text.as_bytes(), LoadOptions::default()).await.unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.kind(), ErrorKind::Decode, "{msg}");
        assert!(msg.contains("line 2") && msg.contains(says), "{bad}: {msg}");
        assert_eq!(db.query::<User>().count().await.unwrap(), 0, "nothing loaded: {bad}");
        let report = db.load(text.as_bytes(), LoadOptions::default().skip_bad_lines()).await.unwrap();
        assert_eq!((report.loaded, report.skipped.len()), (1, 1), "{bad}");
        assert!(db.delete::<User>("ann").await.unwrap());
    }
}

/// Damaged BSON in a dump line (a dbPointer whose ObjectId runs past its bytes, documents
/// nested past the limit) is a bad line, never a panic or a stack overflow.
pub async fn damaged_bson_in_dump_lines_is_a_bad_line<B: Backend>(db: &Database<B>) {
    let pointer = format!("0c0d000000{}00", "61".repeat(12));
    let deep = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
    let reply = r#"[{"author":"a","text":"t","votes":{"$numberInt":"1"},"replies":"#;
    let replies = format!("{}[]{}", reply.repeat(5_000), "}]".repeat(5_000));
    let lines = [
        format!(
            r#"{{"collection":"conf_users","_id":"bob","record":{{"email":"b@x","age":1,"p":{{"$bson":"{pointer}"}}}}}}"#
        ),
        format!(r#"{{"collection":"conf_users","_id":"bob","record":{{"email":"b@x","age":1,"deep":{deep}}}}}"#),
        format!(r#"{{"collection":"conf_posts","_id":1,"record":{{"comments":{replies}}}}}"#),
    ];
    for (line, says) in lines.iter().zip(["$bson", "nested more than 100", "nested too deeply"]) {
        let err = db.load(line.as_bytes(), LoadOptions::default()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
        assert!(err.to_string().contains(says), "{err}");
        let report = db.load(line.as_bytes(), LoadOptions::default().skip_bad_lines()).await.unwrap();
        assert_eq!((report.loaded, report.skipped.len()), (0, 1));
    }
    assert_eq!(db.query::<User>().count().await.unwrap(), 0);
    assert_eq!(db.query::<Post>().count().await.unwrap(), 0);
}
