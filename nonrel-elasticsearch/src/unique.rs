//! Unique fields. Elasticsearch has no unique constraint, so each value of a unique field
//! is claimed by a document of its own in a claims index (`<index>-unique`), whose id is
//! the field and the value and whose body names the record holding it. A claim is created
//! with `op_type=create` before the record is written, so of two concurrent writers of one
//! value exactly one creates it; the other reads the claim and fails with
//! `UniqueViolation`. A value the record no longer holds is released after the record is
//! written. A claim left behind by a writer that stopped between the two steps names a
//! record that does not hold the value: it is taken over (with `if_seq_no`) once it is older
//! than [`STALE_MILLIS`], and `rebuild_indexes` removes it.

use crate::store::{Cond, Outcome};
use crate::Elastic;
use nonrel_runtime::query::eval;
use nonrel_runtime::{Error, ErrorKind, KeyValue, ModelDesc, Result, Value};
use serde_json::json;
use std::collections::BTreeSet;

/// How old a claim whose record does not hold its value must be before another record
/// takes it over (a younger one may belong to a write in flight).
pub(crate) const STALE_MILLIS: i64 = 30_000;

/// One claimed value: the unique path and the value's canonical text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Claim {
    pub path: &'static str,
    pub value: String,
}

impl Claim {
    /// The claim document's id.
    pub fn id(&self) -> String {
        format!("{}\u{1f}{}", self.path, self.value)
    }
}

/// The value as text that is equal for values the runtime calls equal (`1`, `1.0` and the
/// int32 `1` are one value, as on MongoDB).
fn canonical(v: &Value) -> String {
    match v {
        Value::Int32(n) => format!("n{n}"),
        Value::Int64(n) => format!("n{n}"),
        Value::Double(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => format!("n{}", *f as i64),
        Value::Double(f) => format!("f{f:?}"),
        Value::Decimal(d) => {
            let d = d.normalize();
            if d.scale() == 0 {
                format!("n{d}")
            } else {
                match d.to_string().parse::<f64>() {
                    Ok(f) if nonrel_runtime::Decimal::try_from(f).ok() == Some(d) => format!("f{f:?}"),
                    _ => format!("d{d}"),
                }
            }
        }
        Value::String(s) => format!("s{s}"),
        Value::Bool(b) => format!("b{b}"),
        Value::DateTime(d) => format!("t{}", d.timestamp_millis()),
        Value::ObjectId(o) => format!("o{}", o.to_hex()),
        other => format!("v{other:?}"),
    }
}

/// The claims a document makes: each value of each unique path (list elements one by one;
/// null and empty lists make none).
pub(crate) fn claims(m: &ModelDesc, doc: &[u8]) -> Result<BTreeSet<Claim>> {
    let mut out = BTreeSet::new();
    for index in m.indexes.iter().filter(|i| i.unique) {
        for v in eval::values_at(doc, index.path)? {
            let items = match v {
                Value::Array(items) => items,
                other => vec![other],
            };
            for v in items {
                if !matches!(v, Value::Null | Value::Array(_)) {
                    out.insert(Claim { path: index.path, value: canonical(&v) });
                }
            }
        }
    }
    Ok(out)
}

/// The value a claim stands for, for messages.
fn shown(doc: &[u8], claim: &Claim) -> String {
    let values = eval::values_at(doc, claim.path).unwrap_or_default();
    let mut flat = Vec::new();
    for v in values {
        match v {
            Value::Array(items) => flat.extend(items),
            other => flat.push(other),
        }
    }
    flat.into_iter()
        .find(|v| canonical(v) == claim.value)
        .map_or_else(|| claim.value[1..].to_string(), |v| v.to_string())
}

/// The error for a value another record holds.
pub(crate) fn violation(m: &'static ModelDesc, doc: &[u8], claim: &Claim, owner: &str) -> Error {
    let msg = format!("value {} of unique field `{}` already belongs to record {owner}", shown(doc, claim), claim.path);
    Error::new(ErrorKind::UniqueViolation, msg).with_model(m.name).with_field(claim.path)
}

fn now_millis() -> i64 {
    nonrel_runtime::Utc::now().timestamp_millis()
}

impl Elastic {
    /// Claims `wanted[i]` for record `keys[i]`. On a value another record holds, releases
    /// what this call claimed and returns the violation (naming the item).
    pub(crate) async fn claim(&self, m: &'static ModelDesc, items: &[(KeyValue, &[u8], Vec<Claim>)]) -> Result<()> {
        let index = self.claims_index(m);
        // Two items of one batch claiming one value: the later one fails.
        let mut seen = std::collections::BTreeMap::new();
        for (i, (key, doc, wanted)) in items.iter().enumerate() {
            for c in wanted {
                if let Some(owner) = seen.insert(c.clone(), key) {
                    if owner != key {
                        return Err(violation(m, doc, c, &owner.to_string()).with_key(key).with_item(i));
                    }
                }
            }
        }
        let mut ops = Vec::new();
        let mut who = Vec::new();
        for (i, (key, _, wanted)) in items.iter().enumerate() {
            for c in wanted {
                let body = json!({ "id": c.id(), "owner": key.to_url_safe(), "at": now_millis() });
                ops.push((c.id(), Some(body), Cond::Create));
                who.push((i, c.clone()));
            }
        }
        let outcomes = self.bulk_raw(&index, &ops).await?;
        let mut created = Vec::new();
        let mut taken = Vec::new();
        for (n, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Outcome::Done { .. } => created.push(ops[n].0.clone()),
                Outcome::Conflict => taken.push(n),
                Outcome::Failed(e) => {
                    self.release_ids(&index, created).await?;
                    return Err(e.with_model(m.name).with_item(who[n].0));
                }
            }
        }
        if taken.is_empty() {
            return Ok(());
        }
        // Who holds the values already claimed.
        let ids: Vec<String> = taken.iter().map(|&n| ops[n].0.clone()).collect();
        let current = self.mget_raw(&index, &ids).await?;
        let mut takeovers = Vec::new();
        let mut check = Vec::new();
        for (&n, now) in taken.iter().zip(current) {
            let (i, claim) = &who[n];
            let (key, _, _) = &items[*i];
            let Some((body, seq, term)) = now else {
                // Released meanwhile: try again to create it.
                takeovers.push((n, Cond::Create));
                continue;
            };
            let owner = body.get("owner").and_then(|o| o.as_str()).unwrap_or_default().to_string();
            if owner == key.to_url_safe() {
                continue;
            }
            let at = body.get("at").and_then(|a| a.as_i64()).unwrap_or(0);
            check.push((n, owner, at, seq, term, claim.clone()));
        }
        // The owners' records: a claim whose record does not hold the value is stale.
        let owner_keys: Vec<KeyValue> =
            check.iter().map(|(_, owner, ..)| crate::store::parse_id(m, owner)).collect::<Result<_>>()?;
        let owners = self.mget(&self.index(m), &owner_keys).await?;
        for ((n, owner, at, seq, term, claim), record) in check.into_iter().zip(owners) {
            let holds = match &record {
                Some(s) => claims(m, &s.doc)?.contains(&claim),
                None => false,
            };
            if holds || now_millis() - at < STALE_MILLIS {
                let (i, _) = &who[n];
                let (key, doc, _) = &items[*i];
                self.release_ids(&index, created).await?;
                return Err(violation(m, doc, &claim, &owner).with_key(key).with_item(*i));
            }
            takeovers.push((n, Cond::Version(seq, term)));
        }
        let retry: Vec<_> = takeovers
            .iter()
            .map(|(n, cond)| {
                let (i, _) = &who[*n];
                let body = json!({ "id": ops[*n].0, "owner": items[*i].0.to_url_safe(), "at": now_millis() });
                (ops[*n].0.clone(), Some(body), *cond)
            })
            .collect();
        for (outcome, (n, _)) in self.bulk_raw(&index, &retry).await?.into_iter().zip(&takeovers) {
            match outcome {
                Outcome::Done { .. } => created.push(ops[*n].0.clone()),
                other => {
                    self.release_ids(&index, created).await?;
                    let (i, claim) = &who[*n];
                    let (key, doc, _) = &items[*i];
                    return Err(match other {
                        Outcome::Failed(e) => e.with_model(m.name),
                        _ => violation(m, doc, claim, "written concurrently"),
                    }
                    .with_key(key)
                    .with_item(*i));
                }
            }
        }
        Ok(())
    }

    /// Deletes claims by id.
    pub(crate) async fn release_ids(&self, index: &str, ids: Vec<String>) -> Result<()> {
        let ops: Vec<_> = ids.into_iter().map(|id| (id, None, Cond::Any)).collect();
        for outcome in self.bulk_raw(index, &ops).await? {
            if let Outcome::Failed(e) = outcome {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Releases claims records no longer make.
    pub(crate) async fn release(&self, m: &'static ModelDesc, claims: Vec<Claim>) -> Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        self.release_ids(&self.claims_index(m), claims.iter().map(Claim::id).collect()).await
    }
}
