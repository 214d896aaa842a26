//! Fields the program does not know survive a load-modify-save at every depth:
//! inside embedded models, `Option`s and `Box`es of them, lists of them (matched by
//! position), lists of lists, and in polymorphic models. Records are written raw (a dump
//! line) with unknown fields, all named `x_…`, at every depth.

use crate::{Backend, Database, Extra, LoadOptions, Value};

#[derive(crate::Embedded, Debug, Clone, PartialEq)]
struct Leaf {
    name: String,
}

#[derive(crate::Embedded, Debug, Clone, PartialEq)]
struct Node {
    name: String,
    leaf: Leaf,
    maybe: Option<Leaf>,
    boxed: Box<Leaf>,
    leaves: Vec<Leaf>,
    grid: Vec<Vec<Leaf>>,
}

/// The program's view: no unknown field kept by the model itself.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_deep")]
struct Deep {
    #[field(key)]
    id: i64,
    title: String,
    node: Node,
    maybe: Option<Node>,
    nodes: Vec<Node>,
}

/// The same view keeping the top level's unknown fields in an `Extra` field.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_deep")]
struct DeepWithExtra {
    #[field(key)]
    id: i64,
    title: String,
    node: Node,
    maybe: Option<Node>,
    nodes: Vec<Node>,
    #[field(extra)]
    extra: Extra,
}

/// The stored document as it is.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_deep")]
struct RawDeep {
    #[field(key)]
    id: i64,
    #[field(extra)]
    stored: Extra,
}

/// A polymorphic base holding an embedded model, and a subclass.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(polymorphic, collection = "conf_deep_shelves")]
struct Shelf {
    #[field(key)]
    id: i64,
    node: Node,
}

#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(extends = Shelf)]
struct BigShelf {
    #[field(key)]
    id: i64,
    node: Node,
    nodes: Vec<Node>,
}

#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_deep_shelves")]
struct RawShelf {
    #[field(key)]
    id: i64,
    #[field(extra)]
    stored: Extra,
}

fn leaf(tag: &str) -> String {
    format!(r#"{{"name":"{tag}","x_{tag}":"{tag}","x_n":{{"$numberInt":"7"}}}}"#)
}

fn node(tag: &str) -> String {
    let l = |i: u32| leaf(&format!("{tag}{i}"));
    format!(
        r#"{{"name":"{tag}","leaf":{},"maybe":{},"boxed":{},"leaves":[{},{}],"grid":[[{}],[{},{}]],"x_meta":{{"a":[1,{{"b":"{tag}"}}]}}}}"#,
        l(0),
        l(1),
        l(2),
        l(3),
        l(4),
        l(5),
        l(6),
        l(7)
    )
}

/// A dump line of record `id` with unknown fields at every depth.
fn deep_line(id: i64) -> String {
    let record = format!(
        r#"{{"title":"t","node":{},"maybe":{},"nodes":[{},{},{}],"x_top":"keep"}}"#,
        node("n"),
        node("m"),
        node("a"),
        node("b"),
        node("c")
    );
    format!(r#"{{"collection":"conf_deep","_id":{id},"record":{record}}}"#)
}

/// Every unknown (`x_…`) field under `v`, by dotted path (list positions as numbers).
fn unknown_fields(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    let join = |k: &str| if path.is_empty() { k.to_owned() } else { format!("{path}.{k}") };
    match v {
        Value::Document(fields) => {
            for (k, v) in fields {
                if k.starts_with("x_") {
                    out.push((join(k), v.clone()));
                } else {
                    unknown_fields(v, &join(k), out);
                }
            }
        }
        Value::Array(items) => {
            items.iter().enumerate().for_each(|(i, v)| unknown_fields(v, &join(&i.to_string()), out))
        }
        _ => {}
    }
}

/// The value at a dotted path.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').filter(|s| !s.is_empty()).try_fold(v, |v, seg| match v {
        Value::Document(fields) => fields.iter().find(|(k, _)| k == seg).map(|(_, v)| v),
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn as_value(stored: &Extra) -> Value {
    Value::Document(stored.names().into_iter().map(|n| (n.clone(), stored.get(&n).unwrap().unwrap())).collect())
}

async fn raw<B: Backend>(db: &Database<B>, id: i64) -> Value {
    as_value(&db.get::<RawDeep>(id).await.unwrap().expect("record").stored)
}

/// Checks that `after` holds exactly the unknown fields of `before` whose place still exists
/// (a list cut short drops its last elements' fields), at least `min` of them.
fn assert_unknown_kept(before: &Value, after: &Value, min: usize) {
    let mut was = Vec::new();
    unknown_fields(before, "", &mut was);
    let parent = |p: &str| p.rsplit_once('.').map_or("", |(a, _)| a).to_owned();
    let expected: Vec<_> = was.into_iter().filter(|(p, _)| at(after, &parent(p)).is_some()).collect();
    let mut now = Vec::new();
    unknown_fields(after, "", &mut now);
    assert_eq!(now, expected, "unknown fields after the save");
    assert!(expected.len() >= min, "{} unknown fields checked", expected.len());
}

fn modify(node: &mut Node, maybe: &mut Option<Node>, nodes: &mut Vec<Node>) {
    node.name.push('!');
    node.leaf.name = "L".into();
    node.maybe.as_mut().expect("stored").name = "M".into();
    node.leaves[1].name = "z".into();
    node.leaves.push(Leaf { name: "new".into() });
    node.grid[1][0].name = "g".into();
    node.boxed.name = "B".into();
    maybe.as_mut().expect("stored").leaves.truncate(1);
    nodes.pop();
    nodes[1].grid[1].pop();
}

/// Unknown fields inside embedded models, options, boxes, lists and lists of lists survive
/// a load-modify-save, with and without an `Extra` field at the top; list elements are
/// matched by position.
pub async fn unknown_fields_survive_at_every_depth<B: Backend>(db: &Database<B>) {
    let lines = format!("{}\n{}\n", deep_line(1), deep_line(2));
    db.load(lines.as_bytes(), LoadOptions::default()).await.unwrap();
    let before = raw(db, 1).await;
    let mut d: Deep = db.get(1).await.unwrap().unwrap();
    d.title = "T".into();
    modify(&mut d.node, &mut d.maybe, &mut d.nodes);
    db.save(&mut d).await.unwrap();
    assert_eq!(db.get::<Deep>(1).await.unwrap().unwrap(), d, "the known fields are as saved");
    assert_unknown_kept(&before, &raw(db, 1).await, 60);
    assert_eq!(at(&raw(db, 1).await, "x_top"), Some(&Value::String("keep".into())));

    let mut e: DeepWithExtra = db.get(2).await.unwrap().unwrap();
    assert_eq!(e.extra.names(), ["x_top"]);
    modify(&mut e.node, &mut e.maybe, &mut e.nodes);
    db.save(&mut e).await.unwrap();
    assert_unknown_kept(&before, &raw(db, 2).await, 60);
    e.extra = Extra::default();
    db.save(&mut e).await.unwrap();
    let after = raw(db, 2).await;
    assert_eq!(at(&after, "x_top"), None, "the top level's unknown fields are the Extra field's");
    assert!(at(&after, "node.leaf.x_n0").is_some(), "the embedded models' are kept");
}

/// The same inside a polymorphic model, saved through the base and through the subclass.
pub async fn unknown_fields_survive_in_polymorphic_models<B: Backend>(db: &Database<B>) {
    let record = format!(
        r#"{{"_class":["Shelf","BigShelf"],"node":{},"nodes":[{},{}],"x_top":1}}"#,
        node("n"),
        node("a"),
        node("b")
    );
    let line = format!(r#"{{"collection":"conf_deep_shelves","_id":1,"record":{record}}}"#);
    db.load(line.as_bytes(), LoadOptions::default()).await.unwrap();
    let stored = || async { as_value(&db.get::<RawShelf>(1).await.unwrap().expect("record").stored) };
    let before = stored().await;
    let mut base: Shelf = db.get(1).await.unwrap().expect("a shelf");
    base.node.leaves[0].name = "base".into();
    base.node.grid[0].clear();
    db.save(&mut base).await.unwrap();
    assert_unknown_kept(&before, &stored().await, 40);
    let mut big: BigShelf = db.get(1).await.unwrap().expect("still a big shelf");
    assert_eq!(big.nodes.len(), 2, "the subclass's fields are kept");
    big.nodes[1].leaf.name = "sub".into();
    big.nodes[0].leaves.pop();
    db.save(&mut big).await.unwrap();
    assert_eq!(db.get::<BigShelf>(1).await.unwrap().unwrap(), big);
    assert_unknown_kept(&before, &stored().await, 40);
}

/// An embedded model keeping its unknown fields itself.
#[derive(crate::Embedded, Debug, Clone, PartialEq)]
struct Tagged {
    name: String,
    leaf: Leaf,
    #[field(extra)]
    extra: Extra,
}

#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_deep_tagged")]
struct Holder {
    #[field(key)]
    id: i64,
    tagged: Tagged,
}

#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_deep_tagged")]
struct RawHolder {
    #[field(key)]
    id: i64,
    #[field(extra)]
    stored: Extra,
}

/// An embedded model with an `Extra` field holds its level's unknown fields: what the
/// program removes from it is gone after the save; the levels below are still merged.
pub async fn embedded_extra_fields_hold_their_level<B: Backend>(db: &Database<B>) {
    let record = format!(r#"{{"tagged":{{"name":"t","leaf":{},"x_a":1,"x_b":2}}}}"#, leaf("l"));
    let line = format!(r#"{{"collection":"conf_deep_tagged","_id":1,"record":{record}}}"#);
    db.load(line.as_bytes(), LoadOptions::default()).await.unwrap();
    let mut h: Holder = db.get(1).await.unwrap().unwrap();
    assert_eq!(h.tagged.extra.names(), ["x_a", "x_b"]);
    h.tagged.extra = Extra::default();
    h.tagged.extra.insert("x_a", Value::Int64(10)).unwrap();
    h.tagged.leaf.name = "L".into();
    db.save(&mut h).await.unwrap();
    let stored = as_value(&db.get::<RawHolder>(1).await.unwrap().unwrap().stored);
    assert_eq!(at(&stored, "tagged.x_a"), Some(&Value::Int64(10)));
    assert_eq!(at(&stored, "tagged.x_b"), None, "removed from the Extra field, so removed");
    assert_eq!(at(&stored, "tagged.leaf.x_l"), Some(&Value::String("l".into())), "the level below is merged");
    assert_eq!(db.get::<Holder>(1).await.unwrap().unwrap(), h);
}
