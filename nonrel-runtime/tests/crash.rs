//! The crash harness (embedded backend, on a file): a writer in a child process (this test
//! binary run again, turned into the writer by `NONREL_CRASH_WRITER`) saves, saves in
//! batches, updates, renames related records with denormalized copies, deletes, runs
//! transactions and rebuilds, reporting each operation on stdout before it starts and once
//! it is acknowledged. The test kills it with SIGKILL at random points, then opens the file
//! and checks: every acknowledged write is there, the interrupted operation is all or
//! nothing, `integrity_check()` reports nothing (pending fan-out to copies is finished on
//! open), and indexed queries agree with a full scan (counts on a counted index too: the
//! changes to its blocks a killed writer held in memory are recounted on open).
//!
//! 25 kills by default; `NONREL_CRASH_KILLS` runs more, `NONREL_CRASH_SEED` replays a seed
//! (a failure prints it).

use nonrel_runtime::backend::{PutItem, WriteMode};
use nonrel_runtime::{Backend, Database, Key, KeyValue, Model, Ref};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "crash_labels")]
struct CLabel {
    #[field(key)]
    id: i64,
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "crash_items", denormalize(label.name))]
struct CItem {
    #[field(key)]
    id: i64,
    /// Counted: a killed writer leaves changes to its blocks held only in memory, so the
    /// file is recounted when it is opened.
    #[field(index(counted))]
    n: i64,
    #[field(index(icontains))]
    text: String,
    #[field(index)]
    label: Ref<CLabel>,
    hits: i64,
}

const ITEMS: u64 = 40;
const LABELS: u64 = 4;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn label_ref(l: i64) -> Ref<CLabel> {
    Ref::new(Key::from_value(KeyValue::Int(l)))
}

fn item(id: i64, round: i64, label: i64) -> CItem {
    CItem { id, n: round % 7, text: format!("Item {id} round {round}"), label: label_ref(label), hits: 0 }
}

/// One operation, as the writer reports it: `S id round label`, `B round label id...`,
/// `U label`, `R label round`, `D id`, `T round id id`, `X`.
type Op = Vec<String>;

fn random_op(rng: &mut Rng, round: i64) -> Op {
    let mut pick = |n: u64| rng.below(n) as i64;
    let words: Vec<String> = match pick(20) {
        0..=5 => vec!["S".into(), pick(ITEMS).to_string(), round.to_string(), pick(LABELS).to_string()],
        6..=8 => {
            let mut w = vec!["B".into(), round.to_string(), pick(LABELS).to_string()];
            let first = pick(ITEMS);
            w.extend((0..1 + pick(6)).map(|i| ((first + i) % ITEMS as i64).to_string()));
            w
        }
        9..=10 => vec!["U".into(), pick(LABELS).to_string()],
        11..=13 => vec!["R".into(), pick(LABELS).to_string(), round.to_string()],
        14..=16 => vec!["D".into(), pick(ITEMS).to_string()],
        17..=18 => {
            let a = pick(ITEMS);
            vec!["T".into(), round.to_string(), a.to_string(), ((a + 1 + pick(5)) % ITEMS as i64).to_string()]
        }
        _ => vec!["X".into()],
    };
    words
}

fn num(op: &Op, i: usize) -> i64 {
    op[i].parse().expect("a number")
}

/// Runs one operation on the store.
async fn run(db: &Database<nonrel_runtime::Redb>, op: &Op) {
    match op[0].as_str() {
        "S" => {
            db.save(&mut item(num(op, 1), num(op, 2), num(op, 3))).await.expect("save");
        }
        "B" => {
            let mut items: Vec<CItem> = (3..op.len()).map(|i| item(num(op, i), num(op, 1), num(op, 2))).collect();
            db.save_many(&mut items).await.expect("save_many");
        }
        "U" => {
            let q = db.query::<CItem>().filter(CItem::label().eq(label_ref(num(op, 1))));
            q.update().inc(CItem::hits(), 1).await.expect("update");
        }
        "R" => {
            let mut label = CLabel { id: num(op, 1), name: format!("label {} round {}", op[1], op[2]) };
            db.save(&mut label).await.expect("rename");
        }
        "D" => {
            db.delete(Key::<CItem>::from_value(KeyValue::Int(num(op, 1)))).await.expect("delete");
        }
        "T" => {
            let (round, a, b) = (num(op, 1), num(op, 2), num(op, 3));
            db.transaction(move |tx| async move {
                tx.save(&mut item(a, round, round % LABELS as i64)).await?;
                tx.save(&mut item(b, round, (round + 1) % LABELS as i64)).await?;
                Ok(())
            })
            .await
            .expect("transaction");
        }
        _ => {
            db.rebuild_indexes().await.expect("rebuild");
        }
    }
}

/// The state an operation leads to, from the state before it (the oracle).
fn apply(state: &mut State, op: &Op) {
    let items = &mut state.items;
    match op[0].as_str() {
        "S" => {
            items.insert(num(op, 1), item(num(op, 1), num(op, 2), num(op, 3)));
        }
        "B" => {
            for i in 3..op.len() {
                items.insert(num(op, i), item(num(op, i), num(op, 1), num(op, 2)));
            }
        }
        "U" => items.values_mut().filter(|i| i.label == label_ref(num(op, 1))).for_each(|i| i.hits += 1),
        "R" => {
            state.labels.insert(num(op, 1), format!("label {} round {}", op[1], op[2]));
        }
        "D" => {
            items.remove(&num(op, 1));
        }
        "T" => {
            let round = num(op, 1);
            items.insert(num(op, 2), item(num(op, 2), round, round % LABELS as i64));
            items.insert(num(op, 3), item(num(op, 3), round, (round + 1) % LABELS as i64));
        }
        _ => {}
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
struct State {
    items: BTreeMap<i64, CItem>,
    labels: BTreeMap<i64, String>,
}

/// The writer: runs seeded operations until it is killed.
async fn writer(path: &str, seed: u64, first_round: i64) {
    let db = Database::open(path).expect("writer opens the file");
    let mut rng = Rng(seed | 1);
    let mut out = std::io::stdout().lock();
    for round in first_round.. {
        let op = random_op(&mut rng, round);
        writeln!(out, "BEGIN {}", op.join(" ")).and_then(|_| out.flush()).expect("stdout");
        run(&db, &op).await;
        writeln!(out, "ACK {}", op.join(" ")).and_then(|_| out.flush()).expect("stdout");
    }
}

async fn observed(db: &Database<nonrel_runtime::Redb>) -> State {
    let items = db.query::<CItem>().all().await.expect("items").into_iter().map(|i| (i.id, i)).collect();
    let labels = db.query::<CLabel>().all().await.expect("labels").into_iter().map(|l| (l.id, l.name)).collect();
    State { items, labels }
}

/// After a kill: the store holds every acknowledged write and the interrupted operation
/// whole or not at all; the indexes and copies agree with the records.
async fn check(path: &std::path::Path, before: &State, interrupted: Option<&Op>, ctx: &str) -> State {
    let db = Database::open(path).unwrap_or_else(|e| panic!("{ctx}: reopening failed: {e}"));
    let now = observed(&db).await;
    let mut after = before.clone();
    if let Some(op) = interrupted {
        apply(&mut after, op);
    }
    assert!(now == *before || now == after, "{ctx}: interrupted {interrupted:?}\nstored {now:?}\nbefore {before:?}");
    let report = db.integrity_check().await.expect("integrity_check");
    assert!(report.is_ok(), "{ctx}: {:?}", report.problems);
    for n in 0..7 {
        let indexed = db.query::<CItem>().filter(CItem::n().eq(n)).all().await.expect("indexed");
        let scanned: Vec<CItem> = now.items.values().filter(|i| i.n == n).cloned().collect();
        assert_eq!(indexed, scanned, "{ctx}: the index on n = {n} against a scan");
        let counted = db.query::<CItem>().filter(CItem::n().gte(n)).count().await.expect("count");
        let scanned = now.items.values().filter(|i| i.n >= n).count() as u64;
        assert_eq!(counted, scanned, "{ctx}: the counted index on n >= {n} against a scan");
    }
    for l in 0..LABELS as i64 {
        let indexed = db.query::<CItem>().filter(CItem::label().eq(label_ref(l))).count().await.expect("count");
        let scanned = now.items.values().filter(|i| i.label == label_ref(l)).count() as u64;
        assert_eq!(indexed, scanned, "{ctx}: the index on label {l} against a scan");
    }
    now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writers_leave_every_acknowledged_write_and_nothing_half_done() {
    if let Ok(path) = std::env::var("NONREL_CRASH_WRITER") {
        let seed = std::env::var("NONREL_CRASH_WRITER_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
        let round = std::env::var("NONREL_CRASH_WRITER_ROUND").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        writer(&path, seed, round).await;
        return;
    }
    let kills: u64 = std::env::var("NONREL_CRASH_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(25);
    let seed: u64 = std::env::var("NONREL_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash.db");
    let mut state = State::default();
    {
        let db = Database::open(&path).expect("open");
        for l in 0..LABELS as i64 {
            db.save(&mut CLabel { id: l, name: format!("label {l}") }).await.expect("label");
            state.labels.insert(l, format!("label {l}"));
        }
    }
    let mut rng = Rng(seed | 1);
    let mut round = 1;
    for kill in 0..kills {
        let ctx = format!("kill {kill} of seed {seed} (NONREL_CRASH_SEED={seed} replays it)");
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "killed_writers_leave_every_acknowledged_write_and_nothing_half_done", "--nocapture"])
            .env("NONREL_CRASH_WRITER", &path)
            .env("NONREL_CRASH_WRITER_SEED", (seed ^ kill.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_string())
            .env("NONREL_CRASH_WRITER_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("writer process");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        // Let the writer run a random number of operations, then kill it wherever it is.
        let acks_before_kill = 1 + rng.below(12);
        let mut acks = 0;
        let mut interrupted: Option<Op> = None;
        let handle = |line: String, state: &mut State, interrupted: &mut Option<Op>| -> bool {
            if let Some(op) = line.strip_prefix("BEGIN ") {
                *interrupted = Some(op.split(' ').map(String::from).collect());
            } else if line.starts_with("ACK ") {
                if let Some(op) = interrupted.take() {
                    apply(state, &op);
                }
                return true;
            }
            false
        };
        while acks < acks_before_kill {
            let Some(Ok(line)) = lines.next() else { break };
            acks += u64::from(handle(line, &mut state, &mut interrupted));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        for line in lines.map_while(|l| l.ok()) {
            handle(line, &mut state, &mut interrupted);
        }
        round += 1000;
        state = check(&path, &state, interrupted.as_ref(), &ctx).await;
    }
}

/// A related record written without its fan-out (as a crash after its write leaves it): the
/// outbox entry written with it makes the next open bring the copies up to date.
#[tokio::test]
async fn fan_out_a_crash_left_pending_is_finished_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("outbox.db");
    {
        let db = Database::open(&path).unwrap();
        db.save(&mut CLabel { id: 1, name: "old".into() }).await.unwrap();
        db.save(&mut item(1, 1, 1)).await.unwrap();
        let mut doc = Vec::new();
        CLabel { id: 1, name: "new".into() }.encode(&mut doc).unwrap();
        // The record's write alone: the fan-out that follows it in a save never runs.
        let item = PutItem { key: Some(KeyValue::Int(1)), doc };
        db.backend().put(CLabel::DESC, vec![item], WriteMode::Upsert).await.unwrap();
        assert!(!db.integrity_check().await.unwrap().is_ok(), "the copy is stale before the fan-out");
    }
    let db = Database::open(&path).unwrap();
    let report = db.integrity_check().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
