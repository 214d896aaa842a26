//! Unknown fields in the harness: a wider program writes a record with fields
//! [`DiffItem`] does not know, at the top level, inside its embedded model and inside each
//! element of its list of embedded models; a load-modify-save through [`DiffItem`] must keep
//! them all.
#![allow(missing_docs)]

use super::model::{refused_key, DiffItem, DiffPart, Draw, RunsDiffLookups};
use super::oracle::{differ, failed, Oracle, Outcome};
use super::Areas;
use crate::{Blob, Database, DateTime, Decimal, Utc, Value};
use std::collections::BTreeMap;
use std::fmt;

/// [`DiffPart`] as a wider program knows it.
#[derive(crate::Embedded, Debug, Clone, PartialEq)]
pub struct DiffPartWide {
    pub label: String,
    pub qty: i64,
    pub legacy: Option<String>,
}

/// [`DiffItem`] as a wider program knows it: the same declarations (so both keep the same
/// indexes and lookup fields), and a field more at each depth.
#[derive(crate::Model, Debug, Clone, PartialEq)]
#[model(collection = "conf_diff_items", index = "parts.label")]
pub struct DiffItemWide {
    #[field(key)]
    pub id: i64,
    #[field(index)]
    pub n: i64,
    pub n_plain: i64,
    pub small: i32,
    #[field(index)]
    pub score: f64,
    pub flag: bool,
    #[field(index(exact, iexact, istartswith, endswith, icontains))]
    pub name: String,
    pub name_plain: String,
    #[field(unique)]
    pub code: Option<String>,
    pub maybe: Option<i64>,
    #[field(index)]
    pub tags: Vec<String>,
    pub nums: Vec<i64>,
    pub attrs: BTreeMap<String, i64>,
    pub data: Blob,
    #[field(index(exact, year, month, day, week_day))]
    pub when: DateTime<Utc>,
    pub price: Decimal,
    pub main: DiffPartWide,
    pub parts: Vec<DiffPartWide>,
    pub doc: Value,
    pub legacy: Option<String>,
}

/// The unknown fields of one record, by depth.
#[derive(Debug, Clone, PartialEq)]
struct Legacy {
    top: Option<String>,
    main: Option<String>,
    parts: Vec<Option<String>>,
}

impl Legacy {
    fn of(r: &DiffItem) -> Self {
        let parts = (0..r.parts.len()).map(|i| Some(format!("part {i} of {}", r.id))).collect();
        Legacy { top: Some(format!("top of {}", r.id)), main: Some(format!("main of {}", r.id)), parts }
    }

    fn read(w: &DiffItemWide) -> Self {
        Legacy {
            top: w.legacy.clone(),
            main: w.main.legacy.clone(),
            parts: w.parts.iter().map(|p| p.legacy.clone()).collect(),
        }
    }
}

fn widen_part(p: &DiffPart, legacy: Option<String>) -> DiffPartWide {
    DiffPartWide { label: p.label.clone(), qty: p.qty, legacy }
}

fn narrow_part(p: &DiffPartWide) -> DiffPart {
    DiffPart { label: p.label.clone(), qty: p.qty }
}

fn widen(r: &DiffItem, l: &Legacy) -> DiffItemWide {
    let r = r.clone();
    DiffItemWide {
        id: r.id,
        n: r.n,
        n_plain: r.n_plain,
        small: r.small,
        score: r.score,
        flag: r.flag,
        name: r.name,
        name_plain: r.name_plain,
        code: r.code,
        maybe: r.maybe,
        tags: r.tags,
        nums: r.nums,
        attrs: r.attrs,
        data: r.data,
        when: r.when,
        price: r.price,
        main: widen_part(&r.main, l.main.clone()),
        parts: r.parts.iter().zip(&l.parts).map(|(p, l)| widen_part(p, l.clone())).collect(),
        doc: r.doc,
        legacy: l.top.clone(),
    }
}

fn narrow(w: &DiffItemWide) -> DiffItem {
    let w = w.clone();
    DiffItem {
        id: w.id,
        n: w.n,
        n_plain: w.n_plain,
        small: w.small,
        score: w.score,
        flag: w.flag,
        name: w.name,
        name_plain: w.name_plain,
        code: w.code,
        maybe: w.maybe,
        tags: w.tags,
        nums: w.nums,
        attrs: w.attrs,
        data: w.data,
        when: w.when,
        price: w.price,
        main: narrow_part(&w.main),
        parts: w.parts.iter().map(narrow_part).collect(),
        doc: w.doc,
    }
}

/// What the load-modify-save changes.
#[derive(Debug, Clone)]
pub enum Tweak {
    Name(String),
    MainQty(i64),
    /// The first part's quantity (nothing without parts).
    PartQty(i64),
    Nothing,
}

impl Tweak {
    pub fn draw(d: &mut Draw) -> Self {
        match d.rng.below(4) {
            0 => Tweak::Name(d.text()),
            1 => Tweak::MainQty(d.int()),
            2 => Tweak::PartQty(d.int()),
            _ => Tweak::Nothing,
        }
    }

    fn apply(&self, r: &mut DiffItem) {
        match self {
            Tweak::Name(s) => r.name = s.clone(),
            Tweak::MainQty(q) => r.main.qty = *q,
            Tweak::PartQty(q) => r.parts.iter_mut().take(1).for_each(|p| p.qty = *q),
            Tweak::Nothing => {}
        }
    }
}

impl fmt::Display for Tweak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tweak::Name(s) => write!(f, "r.name = {s:?}"),
            Tweak::MainQty(q) => write!(f, "r.main.qty = {q}"),
            Tweak::PartQty(q) => write!(f, "r.parts[0].qty = {q}"),
            Tweak::Nothing => write!(f, "(no change)"),
        }
    }
}

/// A record the wider program may write: no map key a save refuses.
pub fn writable(mut r: DiffItem) -> DiffItem {
    r.attrs.retain(|k, _| !refused_key(k));
    r
}

/// Writes `r` with unknown fields at every depth, loads it through [`DiffItem`], applies
/// the tweak and saves it; the wider program then reads every unknown field back (below the
/// top level only with the `unknown_depth` area).
pub async fn run<B: RunsDiffLookups>(
    db: &Database<B>,
    o: &mut Oracle,
    r: &DiffItem,
    t: &Tweak,
    areas: &Areas,
) -> Outcome {
    let legacy = Legacy::of(r);
    db.save(&mut widen(r, &legacy)).await.map_err(failed("save of the wider record"))?;
    o.items.insert(r.id, r.clone());
    let loaded = db.get::<DiffItem>(r.id).await.map_err(failed("get"))?;
    differ("the wider record loaded", &Some(r.clone()), &loaded)?;
    let mut changed = loaded.unwrap_or_else(|| r.clone());
    t.apply(&mut changed);
    db.save(&mut changed.clone()).await.map_err(failed("save after load"))?;
    o.items.insert(r.id, changed.clone());
    let wide = db.get::<DiffItemWide>(r.id).await.map_err(failed("get of the wider record"))?;
    let Some(wide) = wide else { return Err("the record is gone after its load-modify-save".into()) };
    differ("the known fields after load-modify-save", &changed, &narrow(&wide))?;
    let kept = Legacy::read(&wide);
    differ("the unknown top-level field", &legacy.top, &kept.top)?;
    if areas.unknown_depth {
        differ("the unknown fields below the top level", &legacy, &kept)?;
    }
    Ok(())
}
