//! Cases for inheritance and serializers, with the models they store.
#![allow(missing_docs)]

use super::cases::everything;
use super::models::{Everything, Post, User};
use crate::{json, Backend, Database, DateTime, ErrorKind, Fields, Key, KeyValue, LoadOptions, Model, Utc, Value};

/// Timestamps any model can hold, stored as top-level fields.
#[derive(Fields, Debug, Clone, PartialEq)]
pub struct Stamps {
    #[field(index)]
    pub created_at: DateTime<Utc>,
    #[field(rename = "rev")]
    pub revision: u32,
}

/// A model flattening a group.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_notes")]
pub struct Note {
    #[field(key)]
    pub id: i64,
    pub text: String,
    #[field(flatten)]
    pub stamps: Stamps,
}

/// The fields every animal stores.
#[derive(Fields, Debug, Clone, PartialEq)]
pub struct AnimalFields {
    #[field(index)]
    pub name: String,
    pub legs: u8,
}

/// The polymorphic base.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(polymorphic, collection = "conf_animals")]
pub struct Animal {
    #[field(key)]
    pub id: Option<Key<Animal>>,
    #[field(flatten)]
    pub common: AnimalFields,
}

/// A subclass with an index of its own.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(extends = Animal)]
pub struct Dog {
    #[field(key)]
    pub id: Option<Key<Dog>>,
    #[field(flatten)]
    pub common: AnimalFields,
    #[field(index)]
    pub breed: String,
}

/// A subclass redeclaring the base's fields instead of sharing the group.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(extends = Animal)]
pub struct Cat {
    #[field(key)]
    pub id: Option<Key<Cat>>,
    pub name: String,
    pub legs: u8,
    pub indoor: bool,
}

fn ms(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(n).expect("in range")
}

fn dog(name: &str, breed: &str) -> Dog {
    Dog { id: None, common: AnimalFields { name: name.into(), legs: 4 }, breed: breed.into() }
}

fn cat(name: &str) -> Cat {
    Cat { id: None, name: name.into(), legs: 4, indoor: true }
}

/// The stored field names of a record, in stored order.
async fn stored_names<B: Backend>(db: &Database<B>, m: &'static crate::ModelDesc, key: KeyValue) -> Vec<String> {
    let doc = db.backend().get(m, key).await.expect("get").expect("found");
    let mut names: Vec<String> = Value::fields_of(&doc).expect("document").into_iter().map(|(n, _)| n).collect();
    names.sort(); // MongoDB's $set stores new fields in name order
    names
}

/// A group's fields are stored at the top level, described, indexed and queryable.
pub async fn field_groups_are_stored_flat<B: Backend>(db: &Database<B>) {
    use StampsFields as _;
    let mut notes: Vec<Note> = (1..=3)
        .map(|i| Note { id: i, text: format!("n{i}"), stamps: Stamps { created_at: ms(i * 1000), revision: i as u32 } })
        .collect();
    db.save_many(&mut notes).await.unwrap();
    assert_eq!(stored_names(db, Note::DESC, KeyValue::Int(1)).await, ["created_at", "rev", "text"]);
    assert_eq!(db.get::<Note>(2).await.unwrap().as_ref(), Some(&notes[1]));
    let late = db.query::<Note>().filter(Note::created_at().gte(ms(2000))).order_by(Note::revision().desc()).all();
    assert_eq!(late.await.unwrap(), vec![notes[2].clone(), notes[1].clone()]);
    assert!(Note::DESC.index_on("created_at").is_some() && Note::DESC.knows_field(b"rev"));
    let mut changed = notes[0].clone();
    changed.stamps.revision = 9;
    db.save(&mut changed).await.unwrap();
    assert_eq!(stored_names(db, Note::DESC, KeyValue::Int(1)).await, ["created_at", "rev", "text"], "no duplicates");
    assert_eq!(db.get::<Note>(1).await.unwrap().unwrap().stamps.revision, 9);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

async fn zoo<B: Backend>(db: &Database<B>) -> (Vec<Dog>, Cat, Animal) {
    let mut dogs = vec![dog("Rex", "collie"), dog("Fido", "pug")];
    db.save_many(&mut dogs).await.unwrap();
    let mut tom = cat("Tom");
    db.save(&mut tom).await.unwrap();
    let mut generic = Animal { id: None, common: AnimalFields { name: "Snake".into(), legs: 0 } };
    db.save(&mut generic).await.unwrap();
    (dogs, tom, generic)
}

/// Subclasses share the base's collection; each class's queries see only its records.
pub async fn subclass_queries_see_only_their_records<B: Backend>(db: &Database<B>) {
    use AnimalFieldsFields as _;
    let (dogs, tom, generic) = zoo(db).await;
    assert_eq!(Dog::DESC.collection, Animal::DESC.collection);
    assert_eq!(db.query::<Animal>().count().await.unwrap(), 4);
    assert_eq!(db.query::<Dog>().count().await.unwrap(), 2);
    assert_eq!(db.query::<Cat>().all().await.unwrap(), vec![tom.clone()]);
    let four_legged = db.query::<Dog>().filter(Dog::legs().eq(4u8)).order_by(Dog::name().asc()).all().await.unwrap();
    assert_eq!(four_legged, vec![dogs[1].clone(), dogs[0].clone()]);
    assert_eq!(db.query::<Dog>().filter(Dog::breed().eq("pug")).count().await.unwrap(), 1);
    // The base's index on `name` holds the cat too, whose class redeclares the field unindexed.
    let toms = db.query::<Animal>().filter(Animal::name().eq("Tom")).all().await.unwrap();
    assert_eq!(
        toms.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        vec![Some(Key::from_value(tom.id.clone().unwrap().into_value()))]
    );
    let tom_as_dog = db.get(Key::<Dog>::from_value(tom.id.clone().unwrap().into_value())).await.unwrap();
    assert!(tom_as_dog.is_none(), "a cat's key finds no dog");
    let rex_as_cat = Key::<Cat>::from_value(dogs[0].id.clone().unwrap().into_value());
    let got = db.get_many([rex_as_cat, tom.id.clone().unwrap()]);
    assert_eq!(got.await.unwrap(), vec![None, Some(tom.clone())]);
    let done = db.query::<Dog>().update().set(Dog::legs(), 3u8).await.unwrap();
    assert_eq!((done.matched, done.modified), (2, 2), "an update on a subclass touches only its records");
    assert_eq!(db.get::<Cat>(tom.id.clone().unwrap()).await.unwrap().unwrap().legs, 4);

    let all = db.query::<Animal>().order_by(Animal::name().asc()).polymorphic().await.unwrap();
    let classes: Vec<&str> = all.iter().map(|p| p.class()).collect();
    assert_eq!(classes, ["Dog", "Dog", "Animal", "Cat"]);
    assert_eq!(all[3].downcast_ref::<Cat>(), Some(&tom));
    assert!(all[0].is::<Dog>() && !all[0].is::<Cat>() && all.iter().all(|p| p.is_known()));
    assert_eq!(all[2].base(), &generic);
    assert!(all[2].downcast_ref::<Dog>().is_none());
    let fido = all.into_iter().next().unwrap().downcast::<Dog>().unwrap();
    assert_eq!((fido.common.name.as_str(), fido.breed.as_str(), fido.common.legs), ("Fido", "pug", 3));
    assert!(db.integrity_check().await.unwrap().is_ok());

    // Rebuilding one subclass rewrites its own records only, never another class's.
    db.rebuild_indexes_of::<Cat>().await.expect("rebuild the cats");
    db.rebuild_indexes_of::<Dog>().await.expect("rebuild the dogs");
    assert_eq!(db.query::<Cat>().all().await.unwrap(), vec![tom.clone()]);
    assert_eq!(db.query::<Dog>().count().await.unwrap(), 2);
    let classes: Vec<String> = db
        .query::<Animal>()
        .order_by(Animal::name().asc())
        .polymorphic()
        .await
        .unwrap()
        .iter()
        .map(|p| p.class().to_string())
        .collect();
    assert_eq!(classes, ["Dog", "Dog", "Animal", "Cat"]);
    assert!(db.integrity_check().await.unwrap().is_ok());
}

/// A subclass record loaded and saved through the base keeps its class and its own fields;
/// deleting it through the base leaves no index entry behind.
pub async fn saving_through_the_base_keeps_subclass_fields<B: Backend>(db: &Database<B>) {
    let (dogs, _, _) = zoo(db).await;
    let key = dogs[0].id.clone().unwrap().upcast::<Animal>();
    let mut as_animal = db.get(&key).await.unwrap().unwrap();
    as_animal.common.name = "Rex II".into();
    db.save(&mut as_animal).await.unwrap();
    let rex = db.get(Key::<Dog>::from_value(key.value().clone())).await.unwrap().expect("still a dog");
    assert_eq!((rex.common.name.as_str(), rex.breed.as_str()), ("Rex II", "collie"));
    let poly = db.get_polymorphic::<Animal>(&key).await.unwrap().unwrap();
    assert_eq!(poly.class(), "Dog");
    assert!(db.delete(&key).await.unwrap());
    assert_eq!(db.query::<Dog>().filter(Dog::breed().eq("collie")).count().await.unwrap(), 0);
    assert!(db.integrity_check().await.unwrap().is_ok(), "the base's delete kept the subclass's index");
}

/// A record of a class this program does not know loads as the base, its data kept, and
/// survives a save through the base.
pub async fn unknown_class_loads_as_the_base<B: Backend>(db: &Database<B>) {
    let line = r#"{"collection":"conf_animals","_id":77,"record":{"_class":["Animal","Bird"],"name":"Tweety","legs":{"$numberInt":"2"},"wingspan":0.25}}"#;
    db.load(line.as_bytes(), LoadOptions::default()).await.unwrap();
    let found = db.query::<Animal>().polymorphic().await.unwrap();
    assert_eq!(found.len(), 1);
    let bird = &found[0];
    assert_eq!((bird.class(), bird.is_known(), bird.base().common.name.as_str()), ("Bird", false, "Tweety"));
    assert!(bird.fields().unwrap().contains(&("wingspan".into(), Value::Double(0.25))));
    let mut base = found.into_iter().next().unwrap().into_base();
    base.common.legs = 3;
    db.save(&mut base).await.unwrap();
    let again = db.get_polymorphic(Key::<Animal>::from(77)).await.unwrap().unwrap();
    assert_eq!((again.class(), again.base().common.legs), ("Bird", 3));
    assert!(again.fields().unwrap().contains(&("wingspan".into(), Value::Double(0.25))));
    assert_eq!(db.query::<Dog>().count().await.unwrap(), 0);
}

/// Every field type to JSON and back; `Ref` fields as keys.
pub async fn models_to_json_and_back<B: Backend>(db: &Database<B>) {
    let e = everything(5);
    let text = json::to_json(&e).unwrap();
    assert!(text.starts_with(r#"{"_id":5,"#), "{text}");
    assert!(text.contains(r#""author":"ann""#), "a Ref is its key: {text}");
    assert_eq!(json::from_json::<Everything>(&text).unwrap(), e);
    let mut d = dog("Rex", "collie");
    db.save(&mut d).await.unwrap();
    let text = json::to_json(&d).unwrap();
    assert!(text.contains(r#""_class":["Animal","Dog"]"#), "{text}");
    assert_eq!(json::from_json::<Dog>(&text).unwrap(), d);
    let err = json::from_json::<Dog>(&text.replace(r#""collie""#, "5")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("Dog.breed"), "{err}");
    let err = json::from_json::<Everything>(&text.replace("_id", "_x")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey, "a natural key is required: {err}");
}

/// Every stored record of one database: collection, key and document bytes, sorted.
async fn snapshot<B: Backend>(db: &Database<B>) -> Vec<(&'static str, KeyValue, Vec<u8>)> {
    let mut out = Vec::new();
    for m in [Everything::DESC, Post::DESC, User::DESC, Note::DESC, Animal::DESC] {
        for row in db.backend().query(m, crate::plan::Plan::default()).await.unwrap() {
            out.push((m.collection, row.key.unwrap(), row.doc));
        }
    }
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out
}

async fn clear<B: Backend>(db: &Database<B>, rows: &[(&'static str, KeyValue, Vec<u8>)]) {
    for m in [Everything::DESC, Post::DESC, User::DESC, Note::DESC, Animal::DESC] {
        let keys: Vec<KeyValue> = rows.iter().filter(|r| r.0 == m.collection).map(|r| r.1.clone()).collect();
        db.backend().delete(m, keys).await.unwrap();
    }
}

/// A dump of every registered model loads back with the same keys and the same bytes.
pub async fn dump_and_load_round_trip<B: Backend>(db: &Database<B>) {
    db.save(&mut everything(1)).await.unwrap();
    db.save(&mut User { username: "ann".into(), email: "a@x".into(), age: 3 }).await.unwrap();
    zoo(db).await;
    let mut note = Note { id: 1, text: "t".into(), stamps: Stamps { created_at: ms(-5), revision: 1 } };
    db.save(&mut note).await.unwrap();
    let before = snapshot(db).await;
    let mut out = Vec::new();
    assert_eq!(db.dump(&mut out).await.unwrap(), before.len() as u64);
    let text = String::from_utf8(out).unwrap();
    assert!(text.lines().all(|l| l.starts_with(r#"{"collection":"#) && l.contains(r#""_id":"#)), "{text}");
    assert_eq!(text.matches(r#""collection":"conf_animals""#).count(), 4, "a shared collection is dumped once");
    clear(db, &before).await;
    assert!(snapshot(db).await.is_empty());
    let report = db.load(text.as_bytes(), LoadOptions::default()).await.unwrap();
    assert_eq!((report.loaded, report.skipped.len()), (before.len() as u64, 0));
    assert_eq!(snapshot(db).await, before, "same keys, same bytes");
    assert_eq!(db.query::<Dog>().count().await.unwrap(), 2);
    assert!(db.integrity_check().await.unwrap().is_ok(), "indexes are kept by the load");
}

/// A malformed line fails the load before anything is written, naming the line; asked to,
/// the load skips bad lines and reports them.
pub async fn malformed_dump_lines_load_nothing<B: Backend>(db: &Database<B>) {
    let good =
        r#"{"collection":"conf_users","model":"User","_id":"ann","record":{"email":"a@x","age":{"$numberInt":"3"}}}"#;
    let cases = [
        (r#"{"collection":"conf_users","_id":"bob","record":{"email":"b@x",}}"#, "JSON"),
        (r#"{"collection":"nowhere","_id":"bob","record":{}}"#, "nowhere"),
        (r#"{"collection":"conf_users","_id":5,"record":{}}"#, "key 5"),
        (r#"{"collection":"conf_users","_id":"bob"}"#, "record is missing"),
        (r#"["not an object"]"#, "object"),
    ];
    for (bad, says) in cases {
        let text = format!("{good}\n{bad}\n");
        let err = db.load(text.as_bytes(), LoadOptions::default()).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 2") && msg.contains(says), "{bad}: {msg}");
        assert_eq!(db.query::<User>().count().await.unwrap(), 0, "nothing loaded: {bad}");
    }
    let text = format!("{good}\n\n{}\n{good}\n", cases[0].0);
    let report = db.load(text.as_bytes(), LoadOptions::default().skip_bad_lines()).await.unwrap();
    assert_eq!(report.loaded, 2);
    assert_eq!(report.skipped.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [3]);
    assert_eq!(db.get::<User>("ann").await.unwrap().unwrap().age, 3);
}
