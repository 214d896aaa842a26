//! Fuzzed decoders: every parser of outside bytes fed generated and mutated inputs (bit
//! flips, truncations, length-field edits, splices, deep nesting), asserting no panic and a
//! bounded time per input.
//!
//! Each parser runs `NONREL_FUZZ_CASES` inputs (10,000 by default, a few seconds in a debug
//! build); `NONREL_FUZZ_CASES=1000000` runs a million. `NONREL_FUZZ_SEED` picks the seed
//! (a fixed one by default). A failure prints the parser, the seed, the case and the input
//! in hex.

use nonrel_runtime::{
    json, Blob, Database, DateTime, Decimal, Extra, Key, KeyValue, LoadOptions, Model, ObjectId, Ref, Utc, Value,
};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

#[derive(nonrel_runtime::Embedded, Debug, Clone, PartialEq)]
struct Node {
    label: String,
    children: Vec<Node>,
    next: Option<Box<Node>>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "fuzz_tags")]
struct Tag {
    #[field(key)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "fuzz_records")]
struct Record {
    #[field(key)]
    id: i64,
    flag: bool,
    small: i8,
    n32: i32,
    n64: i64,
    big: u64,
    wide: i128,
    ratio: f64,
    text: String,
    price: Decimal,
    when: DateTime<Utc>,
    blob: Blob,
    oid: ObjectId,
    maybe: Option<String>,
    list: Vec<i32>,
    map: BTreeMap<String, Value>,
    any: Value,
    node: Node,
    author: Ref<Tag>,
    #[field(extra)]
    extra: Extra,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "fuzz_autos")]
struct Auto {
    #[field(key)]
    id: Option<Key<Auto>>,
}

/// xorshift64*: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn cases() -> usize {
    std::env::var("NONREL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

fn seed() -> u64 {
    std::env::var("NONREL_FUZZ_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(0x6e6f_6e72_656c_f022)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The longest any one input may take, even in a debug build on a loaded machine.
const PER_INPUT: Duration = Duration::from_secs(2);

/// Feeds `cases()` inputs from `generate` to `parse`; a panic or a slow input fails the test
/// with the seed, the case and the input.
fn fuzz(parser: &str, mut generate: impl FnMut(&mut Rng) -> Vec<u8>, mut parse: impl FnMut(&[u8])) {
    let seed = seed();
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let n = cases();
    for case in 0..n {
        let input = generate(&mut rng);
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| parse(&input)));
        let took = t.elapsed();
        if outcome.is_err() || took > PER_INPUT {
            let what = if outcome.is_err() { "panicked" } else { "was too slow" };
            panic!(
                "{parser} {what} ({took:?}) on case {case} of seed {seed} (NONREL_FUZZ_SEED={seed}); input ({} bytes):\n{}",
                input.len(),
                hex(&input)
            );
        }
    }
    eprintln!("{parser}: {n} inputs in {:?}", started.elapsed());
}

/// A mutation of one of `corpus`: bit flips, interesting bytes, truncation, a length field
/// set to an edge value, a splice of another entry, a duplicated range; sometimes several.
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut b = rng.pick(corpus).clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(8) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] = *rng.pick(&[0, 1, 0x7F, 0x80, 0xFF, b'"', b'\\', b'{', b'[', 0x0C, 0x03, 0x04]);
            }
            2 => b.truncate(at),
            3 if b.len() >= 4 => {
                let i = at.min(b.len() - 4);
                let len = b.len() as i32;
                let v =
                    *rng.pick(&[0, 1, 4, 5, 12, 13, 16, -1, i32::MIN, i32::MAX, len, len - 1, len + 1, len - i as i32]);
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            4 => {
                let other = rng.pick(corpus);
                let from = rng.below(other.len() + 1);
                let to = from + rng.below(other.len() - from + 1);
                b.splice(at..at, other[from..to].iter().copied());
            }
            5 if !b.is_empty() => {
                let from = rng.below(b.len());
                let to = from + rng.below((b.len() - from).min(64) + 1);
                let chunk = b[from..to].to_vec();
                b.splice(at..at, chunk);
            }
            6 => {
                let to = at + rng.below(b.len() - at + 1);
                b.drain(at..to);
            }
            _ => b.insert(at, rng.next() as u8),
        }
    }
    b
}

/// A sample record touching every field type, with nesting.
fn record(id: i64, rng: &mut Rng) -> Record {
    let leaf = |label: &str| Node { label: label.into(), children: vec![], next: None };
    let mut map = BTreeMap::new();
    map.insert("k".to_string(), Value::Array(vec![Value::Int32(1), Value::Document(vec![("x".into(), Value::Null)])]));
    map.insert("d".to_string(), Value::Decimal(Decimal::new(-12_500, 3)));
    Record {
        id,
        flag: rng.chance(2),
        small: rng.next() as i8,
        n32: rng.next() as i32,
        n64: rng.next() as i64,
        big: rng.next() >> 1,
        wide: i128::from(rng.next() as i64),
        ratio: f64::from_bits(rng.next() & !(0x7FF << 52)),
        text: "héllo \u{0} \"json\"".into(),
        price: Decimal::new(rng.next() as i64 >> 8, 4),
        when: DateTime::from_timestamp_millis((rng.next() >> 24) as i64).unwrap(),
        blob: Blob(vec![0, 1, 2, 0xFF]),
        oid: ObjectId::from_bytes([7; 12]),
        maybe: rng.chance(2).then(|| "m".into()),
        list: vec![1, -2, 3],
        map,
        any: Value::Array(vec![Value::String("s".into()), Value::Binary(vec![9]), Value::Bool(true)]),
        node: Node { label: "r".into(), children: vec![leaf("a"), leaf("b")], next: Some(Box::new(leaf("n"))) },
        author: Ref::new(Key::from("ann")),
        extra: Extra::default(),
    }
}

/// Stored documents: sample records, and one element of every other BSON type.
fn bson_corpus() -> Vec<Vec<u8>> {
    let mut rng = Rng(1);
    let mut corpus: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            let mut doc = Vec::new();
            record(i, &mut rng).encode(&mut doc).unwrap();
            doc
        })
        .collect();
    let others = [
        "0b616200636900",                         // regex /ab/ci
        "0c020000006100070707070707070707070707", // dbPointer
        "0d020000006100",                         // javascript
        "0e020000006100",                         // symbol
        "0f0f0000000200000061000500000000",       // javascript with scope
        "110100000002000000",                     // timestamp
        "06",                                     // undefined
        "ff",                                     // minKey
        "7f",                                     // maxKey
        "130000000000000000000000000000007c",     // decimal128 NaN
        "050300000080010203",                     // binary subtype 0x80
    ];
    let fields: Vec<String> = others.iter().enumerate().map(|(i, h)| format!(r#""f{i}":{{"$bson":"{h}"}}"#)).collect();
    corpus.push(json::document_from_json(&format!("{{{}}}", fields.join(","))).unwrap());
    corpus
}

/// `doc` wrapped in `depth` documents or arrays, each `{"0": inner}`, built in one pass.
fn nest(rng: &mut Rng, doc: Vec<u8>, depth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(doc.len() + 8 * depth);
    for level in (1..=depth).rev() {
        let ty = if rng.chance(2) { 0x03 } else { 0x04 };
        out.extend_from_slice(&((doc.len() + 8 * level) as i32).to_le_bytes());
        out.extend_from_slice(&[ty, b'0', 0]);
    }
    out.extend_from_slice(&doc);
    out.resize(out.len() + depth, 0);
    out
}

fn bson_input(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    match rng.below(20) {
        0 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
        1 => {
            let depth = if rng.chance(4) { 10_000 + rng.below(10_000) } else { 90 + rng.below(20) };
            let inner = rng.pick(corpus).clone();
            nest(rng, inner, depth)
        }
        _ => mutate(rng, corpus),
    }
}

/// Runs `f` on a thread with a worker's small stack, so a recursion the input controls shows
/// up as a failure here rather than only on deeper stacks.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    let outcome = std::thread::Builder::new().stack_size(1 << 20).spawn(f).unwrap().join();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn the_bson_decoders_never_panic() {
    on_small_stack(|| {
        let corpus = bson_corpus();
        fuzz(
            "model decode / Value / document_to_json",
            |rng| bson_input(rng, &corpus),
            |doc| {
                let decoded = Record::decode(Some(&KeyValue::Int(1)), doc);
                if let Ok(record) = &decoded {
                    let mut again = Vec::new();
                    let _ = record.encode(&mut again);
                }
                let _ = Value::fields_of(doc);
                // The JSON of a document reads back as a document with the same JSON (its
                // bytes may differ: array element names are positions in JSON), unless the
                // document names a field twice, which JSON refuses.
                if let Ok(text) = json::document_to_json(doc) {
                    match json::document_from_json(&text) {
                        Ok(back) => assert!(json::document_to_json(&back).ok() == Some(text), "reads back the same"),
                        Err(e) => assert!(e.to_string().contains("appears twice"), "{e}"),
                    }
                }
            },
        );
    });
}

/// JSON texts: records, documents with every wrapper, dump lines.
fn json_corpus() -> Vec<Vec<u8>> {
    let mut rng = Rng(2);
    let mut corpus = vec![];
    for i in 0..3 {
        let r = record(i, &mut rng);
        corpus.push(json::to_json(&r).unwrap().into_bytes());
    }
    for doc in bson_corpus() {
        let text = json::document_to_json(&doc).unwrap();
        corpus
            .push(format!(r#"{{"collection":"fuzz_records","model":"Record","_id":1,"record":{text}}}"#).into_bytes());
        corpus.push(text.into_bytes());
    }
    corpus.push(
        br#"{"a":"\ud83d\ude00\u00e9\n","b":[1,-0.5e-3,true,false,null],"c":{"$date":{"$numberLong":"-1"}}}"#.to_vec(),
    );
    corpus
}

fn json_input(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    const TOKENS: [&str; 16] = [
        "{",
        "}",
        "[",
        "]",
        "\"",
        "\\",
        "\\u",
        "\\ud800",
        ":",
        ",",
        "1e999",
        "-",
        "\"$bson\":\"0c\"",
        "é",
        "\"a\":1",
        "{\"$numberInt\":\"x\"}",
    ];
    match rng.below(10) {
        0 => {
            let depth = rng.below(300);
            let open: String = (0..depth).map(|_| if rng.chance(2) { "{\"a\":" } else { "[" }).collect();
            format!("{{\"x\":{open}1").into_bytes()
        }
        1 => {
            let mut b = rng.pick(corpus).clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len() + 1);
                b.splice(at..at, (*rng.pick(&TOKENS)).bytes());
            }
            b
        }
        _ => mutate(rng, corpus),
    }
}

#[test]
fn the_json_reader_never_panics() {
    on_small_stack(|| {
        let corpus = json_corpus();
        fuzz(
            "JSON reader",
            |rng| json_input(rng, &corpus),
            |bytes| {
                let text = String::from_utf8_lossy(bytes);
                let _ = json::from_json::<Record>(&text);
                if let Ok(doc) = json::document_from_json(&text) {
                    let _ = Record::decode(None, &doc);
                    let _ = json::document_to_json(&doc);
                }
            },
        );
    });
}

#[test]
fn the_dump_loader_never_panics() {
    let corpus = json_corpus();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let db = Database::in_memory().unwrap();
    fuzz(
        "dump loader",
        |rng| json_input(rng, &corpus),
        |line| {
            let text = String::from_utf8_lossy(line).replace('\n', " ");
            rt.block_on(async {
                let _ = db.load(text.as_bytes(), LoadOptions::default()).await;
                let _ = db.load(text.as_bytes(), LoadOptions::default().skip_bad_lines()).await;
            });
        },
    );
    // Whatever loaded reads back.
    rt.block_on(async {
        for record in db.query::<Record>().await.expect("every loaded record decodes") {
            assert!(json::to_json(&record).is_ok());
        }
    });
}

#[test]
fn the_key_parsers_never_panic_and_string_keys_round_trip() {
    const PIECES: [&str; 12] = ["%", "%2", "%zz", "%C3%A9", "%FF", "-", "9223372036854775808", "0", "a", "é", "/", "~"];
    fuzz(
        "key parser",
        |rng| {
            let mut s = String::new();
            for _ in 0..rng.below(12) {
                if rng.chance(3) {
                    s.push(char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x'));
                } else {
                    let piece: &&str = rng.pick(&PIECES);
                    s.push_str(piece);
                }
            }
            if rng.chance(8) {
                s = ObjectId::from_bytes((rng.next() as u128).to_le_bytes()[..12].try_into().unwrap()).to_hex();
            }
            s.into_bytes()
        },
        |bytes| {
            let text = std::str::from_utf8(bytes).unwrap();
            let _ = text.parse::<Key<Record>>();
            let _ = text.parse::<Key<Auto>>();
            if let Ok(key) = text.parse::<Key<Tag>>() {
                assert_eq!(key.to_string().parse::<Key<Tag>>().unwrap(), key);
            }
            if !text.is_empty() {
                let key = Key::<Tag>::from(text);
                assert_eq!(key.to_string().parse::<Key<Tag>>().unwrap(), key, "the URL-safe form parses back");
            }
            let _ = KeyValue::from_storage(bytes);
        },
    );
}

#[test]
fn the_cursor_decoder_never_panics() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let db = Database::in_memory().unwrap();
    let cursors: Vec<Vec<u8>> = rt.block_on(async {
        let mut rng = Rng(3);
        for i in 0..5 {
            db.save(&mut record(i, &mut rng)).await.unwrap();
        }
        let page = db.query::<Record>().order_by(Record::text().asc()).page(2).await.unwrap();
        let next = page.next.unwrap();
        let page = db.query::<Record>().order_by(Record::text().asc()).page(2).after(next.clone()).await.unwrap();
        vec![next.into_bytes(), page.next.unwrap().into_bytes(), page.prev.unwrap().into_bytes()]
    });
    fuzz(
        "cursor decoder",
        |rng| mutate(rng, &cursors),
        |bytes| {
            let cursor = String::from_utf8_lossy(bytes).into_owned();
            rt.block_on(async {
                let q = || db.query::<Record>().order_by(Record::text().asc()).page(2);
                let _ = q().after(cursor.clone()).await;
                let _ = q().before(cursor).await;
            });
        },
    );
}

/// A model read by the property below: required, optional and defaulted fields, an embedded
/// group and the unknown fields kept.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "fuzz_orders")]
struct Ordered {
    #[field(key)]
    id: i64,
    a: i64,
    ab: String,
    b: Option<i32>,
    #[field(default)]
    list: Vec<i64>,
    node: Node,
    #[field(default)]
    price: f64,
    #[field(default)]
    flag: bool,
    #[field(extra)]
    extra: Extra,
}

/// One element of a generated document: a name, and its value as the model reads it.
#[derive(Clone)]
enum Part {
    Id(i64),
    A(i64),
    Ab(String),
    B(Option<i32>),
    List(Vec<i64>),
    Node(String),
    /// A name the model does not declare (a prefix or extension of one, or another).
    Unknown(&'static str, i64),
    /// `price` stored as a double, or as an integer (read as its double).
    Price(f64),
    PriceInt(i64),
    /// `flag` stored as a bool byte, valid or not (an error naming the field).
    Flag(u8),
    /// `a` stored as text (an error naming the field, wherever it stands).
    AText(String),
}

/// The decoders read a document's fields in any order, the last element of a name winning,
/// and keep the unknown ones in order: decoded documents of the model's fields written in a
/// random order, some missing, repeated or surrounded by unknown names (`a_`, `abc`, `_i`
/// beside `a`, `ab`, `_id`), against the record those rules give.
#[test]
fn decoders_read_fields_in_any_order_the_last_of_a_name_winning() {
    use nonrel_runtime::codec::{begin_document, end_document, Encode};
    let mut rng = Rng(seed() | 1);
    let unknown = ["a_", "abc", "_i", "_idx", "bb", "lis", "nodes", "x"];
    for case in 0..cases() / 10 {
        let mut parts = Vec::new();
        for _ in 0..rng.below(14) {
            let n = rng.next() as i64 % 1000;
            parts.push(match rng.below(11) {
                0 => Part::Id(n),
                1 => Part::A(n),
                2 => Part::Ab(format!("s{n}")),
                3 => Part::B(rng.chance(3).then_some(n as i32)),
                4 => Part::List((0..rng.below(3) as i64).map(|i| i + n).collect()),
                5 => Part::Node(format!("n{n}")),
                6 => Part::Price(n as f64 / 4.0),
                7 => Part::PriceInt(n),
                8 => Part::Flag(if rng.chance(8) { 2 } else { (n & 1) as u8 }),
                9 if rng.chance(6) => Part::AText(format!("t{n}")),
                _ => Part::Unknown(unknown[rng.below(unknown.len())], n),
            });
        }
        // Most cases in the order the encoder writes, as stored documents are.
        if rng.chance(2) {
            parts.sort_by_key(|p| match p {
                Part::Id(_) => 0,
                Part::A(_) | Part::AText(_) => 1,
                Part::Ab(_) => 2,
                Part::B(_) => 3,
                Part::List(_) => 4,
                Part::Node(_) => 5,
                Part::Price(_) | Part::PriceInt(_) => 6,
                Part::Flag(_) => 7,
                Part::Unknown(..) => 8,
            });
        }
        let mut doc = Vec::new();
        let start = begin_document(&mut doc);
        let node = |label: &str| Node { label: label.into(), children: Vec::new(), next: None };
        let mut expected = Ordered {
            id: 0,
            a: 0,
            ab: String::new(),
            b: None,
            list: Vec::new(),
            node: node(""),
            price: 0.0,
            flag: false,
            extra: Extra::default(),
        };
        // A wrongly typed element is an error naming its field, wherever it stands.
        let mut wrong = None;
        let (mut has_a, mut has_ab, mut has_node, mut kept) = (false, false, false, Vec::new());
        let mut stored_id = None;
        for p in &parts {
            match p {
                Part::Id(n) => {
                    stored_id = Some(*n);
                    n.encode(b"_id\0", &mut doc)
                }
                Part::A(n) => {
                    (expected.a, has_a) = (*n, true);
                    n.encode(b"a\0", &mut doc)
                }
                Part::Ab(s) => {
                    (expected.ab, has_ab) = (s.clone(), true);
                    s.encode(b"ab\0", &mut doc)
                }
                Part::B(v) => {
                    expected.b = *v;
                    v.encode(b"b\0", &mut doc)
                }
                Part::List(v) => {
                    expected.list = v.clone();
                    v.encode(b"list\0", &mut doc)
                }
                Part::Node(label) => {
                    (expected.node, has_node) = (node(label), true);
                    node(label).encode(b"node\0", &mut doc)
                }
                Part::Unknown(name, n) => {
                    kept.push((*name, *n));
                    n.encode(format!("{name}\0").as_bytes(), &mut doc)
                }
                Part::Price(f) => {
                    expected.price = *f;
                    f.encode(b"price\0", &mut doc)
                }
                Part::PriceInt(n) => {
                    expected.price = *n as f64;
                    n.encode(b"price\0", &mut doc)
                }
                Part::Flag(byte) => {
                    match byte {
                        0 | 1 => expected.flag = *byte == 1,
                        _ => wrong = wrong.or(Some("flag")),
                    }
                    // A bool element written by hand: type 0x08, the name, the byte.
                    doc.push(0x08);
                    doc.extend_from_slice(b"flag\0");
                    doc.push(*byte);
                    Ok(())
                }
                Part::AText(t) => {
                    wrong = wrong.or(Some("a"));
                    t.encode(b"a\0", &mut doc)
                }
            }
            .expect("encodes");
        }
        end_document(&mut doc, start).expect("a document");
        let got = Ordered::decode(Some(&KeyValue::Int(7)), &doc);
        let what = || format!("case {case} of seed {} (NONREL_FUZZ_SEED), document {}", seed(), hex(&doc));
        if let Some(field) = wrong {
            let err = got.expect_err(&what());
            assert!(err.to_string().contains(&format!("field `{field}`")), "{err}; {}", what());
            continue;
        }
        if !(has_a && has_ab && has_node) {
            let err = got.expect_err(&what());
            let missing = ["a", "ab", "node"][[has_a, has_ab, has_node].iter().position(|h| !h).expect("one")];
            assert!(err.to_string().contains(&format!("field `{missing}`")), "{err}; {}", what());
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{e}; {}", what()));
        // The key given beside the document, unless the document holds one (MongoDB's).
        expected.id = stored_id.unwrap_or(7);
        assert_eq!(got.extra.names(), kept.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(), "{}", what());
        for (name, n) in &kept {
            // A name kept once reads back as written (one kept twice holds both, verbatim).
            if kept.iter().filter(|(other, _)| other == name).count() == 1 {
                assert_eq!(got.extra.get(name).expect("reads"), Some(Value::Int64(*n)), "{}", what());
            }
        }
        expected.extra = got.extra.clone();
        assert_eq!(got, expected, "{}", what());
    }
}
