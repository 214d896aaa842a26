//! The operations the harness draws, run on a database and mirrored on the oracle.
#![allow(missing_docs)]

use super::model::{DiffItem, DiffNote, Draw, RunsDiffLookups};
pub use super::oracle::{differ, failed, Oracle, Outcome};
use super::query::{Cmp, Cond, ItemQuery, NoteQuery};
use super::unknown::{self, Tweak};
use super::{Areas, TxRun};
use crate::{Database, ErrorKind, Model, Value};
use std::fmt::{self, Debug};

/// How a query's answer is read.
#[derive(Debug, Clone, Copy)]
pub enum Form {
    All,
    Count,
    CountUpto(u64),
    Exists,
    First,
    /// Every page of this size forward, then backward from the last.
    Pages(usize),
}

/// A change an atomic update makes.
#[derive(Debug, Clone)]
pub enum Change {
    SetName(String),
    SetN(i64),
    SetMaybe(i64),
    SetMainQty(i64),
    SetTags(Vec<String>),
    IncN(i64),
    IncSmall(i32),
    IncScore(f64),
    IncMaybe(i64),
    SetDoc(Value),
}

/// A step inside a transaction.
#[derive(Debug, Clone)]
pub enum TxStep {
    Save(Box<DiffItem>),
    Delete(i64),
    /// A query inside the transaction, which must see its earlier steps.
    Check(ItemQuery),
}

/// One operation of a run.
#[derive(Debug, Clone)]
pub enum Op {
    Save(DiffItem),
    Insert(DiffItem),
    Delete(i64),
    SaveMany(Vec<DiffItem>),
    DeleteMany(Vec<i64>),
    GetMany(Vec<i64>),
    Update(Vec<Cond>, Vec<Change>),
    /// Steps, and whether the closure fails on purpose at the end (nothing may be written).
    Tx(Vec<TxStep>, bool),
    /// A note in a slot: saved new (automatic key) when the slot has no key yet, else over
    /// the slot's key.
    NoteSave(usize, DiffNote),
    NoteDelete(usize),
    Check(ItemQuery, Form),
    NoteCheck(NoteQuery, Form),
    /// A wider program writes the record with unknown fields at every depth; a
    /// load-modify-save through [`DiffItem`] follows.
    Unknown(DiffItem, Tweak),
}

/// Draws operations; codes outside single saves are fresh, so only single saves clash on
/// the unique field.
pub struct Gen {
    fresh: u64,
    pub transactions: bool,
}

impl Gen {
    pub fn new(transactions: bool) -> Self {
        Gen { fresh: 0, transactions }
    }

    fn fresh_code(&mut self, d: &mut Draw) -> Option<String> {
        self.fresh += 1;
        (!d.rng.one_in(3)).then(|| format!("u{}", self.fresh))
    }

    fn fresh_item(&mut self, d: &mut Draw, id: i64) -> DiffItem {
        let code = self.fresh_code(d);
        d.item(id, code)
    }

    fn distinct_ids(d: &mut Draw, n: usize) -> Vec<i64> {
        let mut ids: Vec<i64> = (0..n).map(|_| d.id()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    pub fn op(&mut self, d: &mut Draw) -> Op {
        match d.rng.below(20) {
            0..=2 => {
                let id = d.id();
                let code = d.clashing_code();
                Op::Save(d.item(id, code))
            }
            3 => {
                let id = d.id();
                Op::Insert(self.fresh_item(d, id))
            }
            4 => Op::Delete(d.id()),
            5 => {
                let n = 1 + d.rng.below(5);
                Op::SaveMany(Self::distinct_ids(d, n).into_iter().map(|id| self.fresh_item(d, id)).collect())
            }
            6 => Op::DeleteMany((0..d.rng.below(4)).map(|_| d.id()).collect()),
            7 => Op::GetMany((0..d.rng.below(5)).map(|_| d.id()).collect()),
            8 => self.update(d),
            9 if self.transactions => self.tx(d),
            10 => Op::NoteSave(d.rng.below(8), d.note()),
            11 => Op::NoteDelete(d.rng.below(8)),
            13 if d.rng.one_in(2) => {
                let id = d.id();
                let r = unknown::writable(self.fresh_item(d, id));
                Op::Unknown(r, Tweak::draw(d))
            }
            12 => {
                let q = NoteQuery::draw(d);
                let form = self.form(d, q.order.is_some());
                Op::NoteCheck(q, form)
            }
            _ => {
                let windowed = d.rng.one_in(2);
                let q = ItemQuery::draw(d, windowed);
                let form = if windowed { Form::All } else { self.form(d, !q.order.is_empty()) };
                let form = match form {
                    Form::First if q.order.is_empty() && !d.areas.key_order => Form::All,
                    f => f,
                };
                Op::Check(q, form)
            }
        }
    }

    fn form(&mut self, d: &mut Draw, ordered: bool) -> Form {
        match d.rng.below(10) {
            0 => Form::Count,
            1 => Form::CountUpto(d.rng.below(4) as u64),
            2 => Form::Exists,
            3 => Form::First,
            4 | 5 if ordered || d.areas.key_order => Form::Pages(1 + d.rng.below(6)),
            _ => Form::All,
        }
    }

    fn update(&mut self, d: &mut Draw) -> Op {
        let mut conds = ItemQuery::draw(d, false).conds;
        let mut changes = Vec::new();
        let mut taken = [false; 6];
        for _ in 0..1 + d.rng.below(3) {
            let (slot, change) = match d.rng.below(10) {
                0 => (0, Change::SetName(d.text())),
                1 => (1, Change::SetN(d.int())),
                2 => (2, Change::SetMaybe(d.int())),
                3 => (3, Change::SetMainQty(d.int())),
                4 => (4, Change::SetTags(d.texts(2))),
                5 => (1, Change::IncN(d.rng.pick(&[1, -1, 5]))),
                6 => (0, Change::IncSmall(d.rng.pick(&[1, -2]))),
                7 => (3, Change::IncScore(d.rng.pick(&[0.5, -1.0]))),
                8 => (5, Change::SetDoc(d.value())),
                _ => (2, Change::IncMaybe(d.rng.pick(&[1, -3]))),
            };
            // `small` and `score` share slots with other fields: at most one change a field.
            if !taken[slot] {
                taken[slot] = true;
                if matches!(change, Change::IncMaybe(_)) && !d.areas.inc_null {
                    conds.push(Cond::Maybe(Cmp::IsNull(false)));
                }
                changes.push(change);
            }
        }
        Op::Update(conds, changes)
    }

    fn tx(&mut self, d: &mut Draw) -> Op {
        let steps = (0..1 + d.rng.below(4))
            .map(|_| match d.rng.below(4) {
                0 | 1 => {
                    let id = d.id();
                    TxStep::Save(Box::new(self.fresh_item(d, id)))
                }
                2 => TxStep::Delete(d.id()),
                _ => {
                    let mut q = ItemQuery::draw(d, false);
                    if !d.areas.key_order && q.order.is_empty() {
                        q.order.push((super::query::Sort::N, false));
                    }
                    TxStep::Check(q)
                }
            })
            .collect();
        Op::Tx(steps, d.rng.one_in(3))
    }
}

impl Oracle {
    fn clashes(&self, r: &DiffItem) -> bool {
        r.code.is_some() && self.items.values().any(|o| o.id != r.id && o.code == r.code)
    }

    fn apply(&mut self, r: &DiffItem, c: &Change) -> DiffItem {
        let mut r = r.clone();
        match c.clone() {
            Change::SetName(v) => r.name = v,
            Change::SetN(v) => r.n = v,
            Change::SetMaybe(v) => r.maybe = Some(v),
            Change::SetMainQty(v) => r.main.qty = v,
            Change::SetTags(v) => r.tags = v,
            Change::IncN(by) => r.n += by,
            Change::IncSmall(by) => r.small += by,
            Change::IncScore(by) => r.score += by,
            // A stored null counts as 0, as a missing field does.
            Change::IncMaybe(by) => r.maybe = Some(r.maybe.unwrap_or(0) + by),
            Change::SetDoc(v) => r.doc = v,
        }
        r
    }
}

/// Compares whole records in order: the keys first (short), then the first record that
/// differs.
fn same_records<M: Model + Debug + PartialEq>(what: &str, expected: &[M], actual: &[M]) -> Outcome {
    let keys = |rs: &[M]| rs.iter().map(|r| r.key().map(|k| k.to_string()).unwrap_or_default()).collect::<Vec<_>>();
    differ(&format!("{what}: keys"), &keys(expected), &keys(actual))?;
    for (e, a) in expected.iter().zip(actual) {
        differ(&format!("{what}: record"), e, a)?;
    }
    Ok(())
}

/// With key order left out of the run, unordered answers are compared as sets.
fn by_key<M: Model>(mut rs: Vec<M>, unordered: bool, areas: &Areas) -> Vec<M> {
    if unordered && !areas.key_order {
        rs.sort_by_key(Model::key);
    }
    rs
}

/// Runs one operation on the database and the oracle, and compares what each says.
pub async fn run_op<B: RunsDiffLookups>(
    db: &Database<B>,
    tx: Option<TxRun<B>>,
    o: &mut Oracle,
    op: &Op,
    areas: &Areas,
) -> Outcome {
    match op {
        Op::Save(r) => {
            let got = db.save(&mut r.clone()).await;
            if r.refused() {
                return refused(db, o, "save", got, &[r.id]).await;
            }
            if o.clashes(r) {
                let kind = got.map(|_| ()).map_err(|e| e.kind());
                return differ("save of a clashing code", &Err(ErrorKind::UniqueViolation), &kind);
            }
            got.map_err(failed("save"))?;
            o.items.insert(r.id, r.clone());
        }
        Op::Insert(r) => {
            if r.refused() {
                return refused(db, o, "insert", db.insert(&mut r.clone()).await, &[r.id]).await;
            }
            let got = db.insert(&mut r.clone()).await.map(|_| ()).map_err(|e| e.kind());
            let expected = if o.items.contains_key(&r.id) { Err(ErrorKind::DuplicateKey) } else { Ok(()) };
            differ("insert", &expected, &got)?;
            o.items.entry(r.id).or_insert_with(|| r.clone());
        }
        Op::Delete(id) => {
            let got = db.delete::<DiffItem>(*id).await.map_err(failed("delete"))?;
            differ("delete's answer", &o.items.remove(id).is_some(), &got)?;
        }
        Op::SaveMany(rs) => {
            if rs.iter().any(DiffItem::refused) {
                let ids: Vec<i64> = rs.iter().map(|r| r.id).collect();
                return refused(db, o, "save_many", db.save_many(&mut rs.clone()).await, &ids).await;
            }
            db.save_many(&mut rs.clone()).await.map_err(failed("save_many"))?;
            o.items.extend(rs.iter().map(|r| (r.id, r.clone())));
        }
        Op::DeleteMany(ids) => {
            let got = db.delete_many::<DiffItem, _>(ids.clone()).await.map_err(failed("delete_many"))?;
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            let expected = unique.iter().filter(|id| o.items.remove(id).is_some()).count() as u64;
            differ("delete_many's count", &expected, &got)?;
        }
        Op::GetMany(ids) => {
            let got = db.get_many::<DiffItem, _>(ids.clone()).await.map_err(failed("get_many"))?;
            let expected: Vec<Option<DiffItem>> = ids.iter().map(|id| o.items.get(id).cloned()).collect();
            differ("get_many", &expected, &got)?;
        }
        Op::Update(conds, changes) => run_update(db, o, conds, changes).await?,
        Op::Tx(steps, fail) => match tx {
            Some(run) => run_tx(db, run, o, steps, *fail, areas).await?,
            None => return Ok(()),
        },
        Op::NoteSave(slot, note) => {
            let mut note = note.clone();
            note.id = o.slots.get(slot).cloned();
            let key = db.save(&mut note).await.map_err(failed("save of a note"))?;
            differ("the note's key", &Some(key.clone()), &note.id)?;
            o.slots.insert(*slot, key.clone());
            o.notes.insert(key, note);
        }
        Op::NoteDelete(slot) => {
            if let Some(key) = o.slots.get(slot) {
                let got = db.delete(key).await.map_err(failed("delete of a note"))?;
                differ("delete's answer", &o.notes.remove(key).is_some(), &got)?;
            }
        }
        Op::Check(q, form) => check_items(db, o, q, *form, areas).await?,
        Op::Unknown(r, t) => unknown::run(db, o, r, t, areas).await?,
        Op::NoteCheck(q, form) => {
            let expected = q.answer(&o.notes);
            let unordered = q.order.is_none();
            check_form(db, q.query(), expected, *form, unordered, areas).await?
        }
    }
    Ok(())
}

/// A write refused for a map key no map may hold: an `Encode` error, and none of the
/// records changed.
async fn refused<B: RunsDiffLookups, T: Debug>(
    db: &Database<B>,
    o: &Oracle,
    what: &str,
    got: crate::Result<T>,
    ids: &[i64],
) -> Outcome {
    let kind = got.map(|_| ()).map_err(|e| e.kind());
    differ(&format!("{what} of a map key no map may hold"), &Err(ErrorKind::Encode), &kind)?;
    let stored = db.get_many::<DiffItem, _>(ids.to_vec()).await.map_err(failed("get_many"))?;
    let expected: Vec<Option<DiffItem>> = ids.iter().map(|id| o.items.get(id).cloned()).collect();
    differ(&format!("records after a refused {what}"), &expected, &stored)
}

/// The kind of error a query refused when it runs gives (a lookup by a map key no map may
/// hold).
fn refused_query<T: Debug>(got: crate::Result<T>) -> Outcome {
    let kind = got.map(|_| ()).map_err(|e| e.kind());
    differ("a query by a map key no map may hold", &Err(ErrorKind::Encode), &kind)
}

async fn run_update<B: RunsDiffLookups>(
    db: &Database<B>,
    o: &mut Oracle,
    conds: &[Cond],
    changes: &[Change],
) -> Outcome {
    let mut q = crate::Query::<DiffItem>::new();
    for c in conds {
        q = q.filter(c.condition());
    }
    let mut update = db.query::<DiffItem>().with(q).update();
    for c in changes.iter().cloned() {
        update = match c {
            Change::SetName(v) => update.set(DiffItem::name(), v),
            Change::SetN(v) => update.set(DiffItem::n(), v),
            Change::SetMaybe(v) => update.set(DiffItem::maybe(), v),
            Change::SetMainQty(v) => update.set(DiffItem::main().qty(), v),
            Change::SetTags(v) => update.set(DiffItem::tags(), v),
            Change::IncN(by) => update.inc(DiffItem::n(), by),
            Change::IncSmall(by) => update.inc(DiffItem::small(), by),
            Change::IncScore(by) => update.inc(DiffItem::score(), by),
            Change::IncMaybe(by) => update.inc(DiffItem::maybe(), by),
            Change::SetDoc(v) => update.set(DiffItem::doc(), v),
        };
    }
    if conds.iter().any(Cond::refused) {
        return refused_query(update.await);
    }
    let got = update.await.map_err(failed("update"))?;
    let (mut matched, mut modified) = (0, 0);
    for r in o.items.values_mut() {
        if conds.iter().all(|c| c.holds(r)) {
            matched += 1;
            let new = changes.iter().fold(r.clone(), |acc, c| Oracle::default().apply(&acc, c));
            modified += u64::from(new != *r);
            *r = new;
        }
    }
    differ("update's (matched, modified)", &(matched, modified), &(got.matched, got.modified))
}

async fn run_tx<B: RunsDiffLookups>(
    db: &Database<B>,
    run: TxRun<B>,
    o: &mut Oracle,
    steps: &[TxStep],
    fail: bool,
    areas: &Areas,
) -> Outcome {
    let (result, seen) = run(db, steps.to_vec(), fail).await;
    let mut inside = o.items.clone();
    let mut answers = Vec::new();
    let mut refused = false;
    for step in steps {
        match step {
            TxStep::Save(r) if r.refused() => refused = true,
            TxStep::Check(q) if q.refused() => refused = true,
            TxStep::Save(r) => {
                inside.insert(r.id, (**r).clone());
            }
            TxStep::Delete(id) => {
                inside.remove(id);
            }
            TxStep::Check(q) => answers.push((q, q.answer(&inside))),
        }
        if refused {
            break;
        }
    }
    differ("queries the transaction ran", &answers.len(), &seen.len())?;
    for ((q, expected), actual) in answers.into_iter().zip(seen) {
        let unordered = q.order.is_empty();
        same_records(&format!("inside the transaction, {q}"), &expected, &by_key(actual, unordered, areas))?;
    }
    if refused {
        return refused_query(result).map_err(|m| format!("a transaction with a refused step: {m}"));
    }
    match (fail, result) {
        (true, Err(e)) if e.to_string().contains(super::DELIBERATE) => {}
        (true, other) => return Err(format!("a transaction failing on purpose gave {other:?}")),
        (false, Err(e)) => return Err(format!("transaction failed: {e}")),
        (false, Ok(())) => o.items = inside,
    }
    Ok(())
}

async fn check_items<B: RunsDiffLookups>(
    db: &Database<B>,
    o: &Oracle,
    q: &ItemQuery,
    form: Form,
    areas: &Areas,
) -> Outcome {
    if q.refused() {
        return refused_query(read(db, q.query(), form).await);
    }
    let expected = q.answer(&o.items);
    check_form(db, q.query(), expected, form, q.order.is_empty(), areas).await
}

/// Reads a query in one form, for the answer's error alone (pages: the first).
async fn read<B: RunsDiffLookups>(db: &Database<B>, query: crate::Query<DiffItem>, form: Form) -> crate::Result<()> {
    let q = db.query::<DiffItem>().with(query);
    match form {
        Form::All => q.all().await.map(|_| ()),
        Form::Count => q.count().await.map(|_| ()),
        Form::CountUpto(k) => q.count_upto(k).await.map(|_| ()),
        Form::Exists => q.exists().await.map(|_| ()),
        Form::First => q.first().await.map(|_| ()),
        Form::Pages(size) => q.page(size).await.map(|_| ()),
    }
}

async fn check_form<B: RunsDiffLookups, M: Model + Debug + PartialEq + Clone>(
    db: &Database<B>,
    query: crate::Query<M>,
    expected: Vec<M>,
    form: Form,
    unordered: bool,
    areas: &Areas,
) -> Outcome {
    let q = || db.query::<M>().with(query.clone());
    let n = expected.len() as u64;
    match form {
        Form::All => {
            let got = q().all().await.map_err(failed("all"))?;
            same_records("all", &expected, &by_key(got, unordered, areas))
        }
        Form::Count => differ("count", &n, &q().count().await.map_err(failed("count"))?),
        Form::CountUpto(k) => {
            differ(&format!("count_upto({k})"), &n.min(k), &q().count_upto(k).await.map_err(failed("count_upto"))?)
        }
        Form::Exists => differ("exists", &(n > 0), &q().exists().await.map_err(failed("exists"))?),
        Form::First => {
            let got = q().first().await.map_err(failed("first"))?;
            differ("first", &expected.first().cloned(), &got)
        }
        Form::Pages(size) => walk_pages(db, &query, &expected, size).await,
    }
}

/// Every page forward, then backward from the last: forward pages hold the answer once, in
/// order; backward pages are the forward pages.
async fn walk_pages<B: RunsDiffLookups, M: Model + Debug + PartialEq + Clone>(
    db: &Database<B>,
    query: &crate::Query<M>,
    expected: &[M],
    size: usize,
) -> Outcome {
    let page = |cursor: Option<String>, back: bool| async move {
        let builder = db.query::<M>().with(query.clone()).page(size);
        match (cursor, back) {
            (None, _) => builder.await,
            (Some(c), false) => builder.after(c).await,
            (Some(c), true) => builder.before(c).await,
        }
    };
    let mut forward: Vec<Vec<M>> = Vec::new();
    let mut cursor = None;
    let last = loop {
        let p = page(cursor.take(), false).await.map_err(failed("page"))?;
        forward.push(p.items.clone());
        if forward.len() > expected.len() + 1 {
            return Err(format!("pages of {size} do not end: {} pages for {} records", forward.len(), expected.len()));
        }
        match p.next {
            Some(c) => cursor = Some(c),
            None => break p,
        }
    };
    same_records(&format!("pages of {size}, forward"), expected, &forward.concat())?;
    let mut backward = vec![last.items];
    let mut cursor = last.prev;
    while let Some(c) = cursor {
        let p = page(Some(c), true).await.map_err(failed("page before"))?;
        backward.push(p.items);
        if backward.len() > forward.len() {
            return Err(format!("pages of {size} backward do not end"));
        }
        cursor = p.prev;
    }
    backward.reverse();
    forward.retain(|p| !p.is_empty());
    backward.retain(|p| !p.is_empty());
    same_records(&format!("pages of {size}, backward"), &forward.concat(), &backward.concat())?;
    let sizes = |ps: &[Vec<M>]| ps.iter().map(Vec::len).collect::<Vec<_>>();
    differ(&format!("pages of {size}: backward page sizes"), &sizes(&forward), &sizes(&backward))
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Save(r) => write!(f, "db.save(&mut {r:?})"),
            Op::Insert(r) => write!(f, "db.insert(&mut {r:?})"),
            Op::Delete(id) => write!(f, "db.delete::<DiffItem>({id})"),
            Op::SaveMany(rs) => write!(f, "db.save_many(&mut vec!{rs:?})"),
            Op::DeleteMany(ids) => write!(f, "db.delete_many::<DiffItem, _>(vec!{ids:?})"),
            Op::GetMany(ids) => write!(f, "db.get_many::<DiffItem, _>(vec!{ids:?})"),
            Op::Update(conds, changes) => {
                write!(f, "db.query::<DiffItem>()")?;
                for c in conds {
                    write!(f, ".filter({c})")?;
                }
                write!(f, ".update()")?;
                for c in changes {
                    match c {
                        Change::SetName(v) => write!(f, ".set(DiffItem::name(), {v:?})"),
                        Change::SetN(v) => write!(f, ".set(DiffItem::n(), {v})"),
                        Change::SetMaybe(v) => write!(f, ".set(DiffItem::maybe(), {v})"),
                        Change::SetMainQty(v) => write!(f, ".set(DiffItem::main().qty(), {v})"),
                        Change::SetTags(v) => write!(f, ".set(DiffItem::tags(), vec!{v:?})"),
                        Change::IncN(v) => write!(f, ".inc(DiffItem::n(), {v})"),
                        Change::IncSmall(v) => write!(f, ".inc(DiffItem::small(), {v})"),
                        Change::IncScore(v) => write!(f, ".inc(DiffItem::score(), {v:?})"),
                        Change::IncMaybe(v) => write!(f, ".inc(DiffItem::maybe(), {v})"),
                        Change::SetDoc(v) => write!(f, ".set(DiffItem::doc(), {v:?})"),
                    }?;
                }
                Ok(())
            }
            Op::Tx(steps, fail) => {
                write!(f, "db.transaction(|tx| async move {{ ")?;
                for s in steps {
                    match s {
                        TxStep::Save(r) => write!(f, "tx.save(&mut {r:?}).await?; "),
                        TxStep::Delete(id) => write!(f, "tx.delete::<DiffItem>({id}).await?; "),
                        TxStep::Check(q) => write!(f, "tx.query({q}).await?; "),
                    }?;
                }
                let end = if *fail { "Err(deliberate)" } else { "Ok(())" };
                write!(f, "{end} }})")
            }
            Op::NoteSave(slot, n) => write!(f, "db.save(&mut DiffNote {{ id: slot[{slot}], ..{n:?} }})"),
            Op::NoteDelete(slot) => write!(f, "db.delete(slot[{slot}])"),
            Op::Check(q, form) => write!(f, "db.query::<DiffItem>().with({q}).{}", form_text(*form)),
            Op::NoteCheck(q, form) => write!(f, "db.query::<DiffNote>().with({q}).{}", form_text(*form)),
            Op::Unknown(r, t) => write!(
                f,
                "db.save(&mut DiffItemWide {{ legacy at the top, in main and in each part, ..{r:?} }}); \
                 let mut r = db.get::<DiffItem>({}).unwrap(); {t}; db.save(&mut r); \
                 db.get::<DiffItemWide>({}) keeps every legacy field",
                r.id, r.id
            ),
        }
    }
}

fn form_text(form: Form) -> String {
    match form {
        Form::All => "all()".into(),
        Form::Count => "count()".into(),
        Form::CountUpto(n) => format!("count_upto({n})"),
        Form::Exists => "exists()".into(),
        Form::First => "first()".into(),
        Form::Pages(n) => format!("page({n}) walked forward, then backward"),
    }
}
