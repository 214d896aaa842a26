//! Optimistic transactions: an attempt reads from the server and remembers what it saw,
//! keeps its writes, and commits in one script that checks every read and then writes
//! everything (`WATCH`/`MULTI`/`EXEC` done server-side: the checks and the writes are one
//! atomic step, on the shared connection).

use crate::{bytes, index, page, Check, Item, Redis, Written};
use nonrel_runtime::backend::{PutItem, Row, WriteMode};
use nonrel_runtime::capability::Transactions;
use nonrel_runtime::query::{eval, Plan};
use nonrel_runtime::{Error, ErrorKind, KeyValue, ModelDesc, Result};
use std::collections::BTreeMap;

/// A write an attempt keeps: model, base index, key bytes, document (`None`: delete), mode.
type TxWrite = (&'static ModelDesc, usize, Vec<u8>, Option<Vec<u8>>, WriteMode);

/// One attempt of a transaction.
#[derive(Default)]
pub struct Session {
    /// Collection bases the attempt touched, in first-use order (the script's `KEYS`).
    bases: Vec<String>,
    /// Each record read: base index, key bytes, what was seen.
    reads: Vec<(usize, Vec<u8>, Option<Vec<u8>>)>,
    /// Each collection queried: base index and its write count then.
    versions: Vec<(usize, Vec<u8>)>,
    /// The writes in order, the latest per record: model, base index, key bytes, document
    /// (`None`: delete), mode.
    writes: Vec<TxWrite>,
    /// The model of the latest operation, to name in a conflict.
    last: Option<&'static ModelDesc>,
}

impl Session {
    fn base(&mut self, m: &'static ModelDesc, base: String) -> usize {
        self.last = Some(m);
        match self.bases.iter().position(|b| *b == base) {
            Some(i) => i,
            None => {
                self.bases.push(base);
                self.bases.len() - 1
            }
        }
    }

    /// Remembers a collection's write count a query saw, for the commit to check.
    fn remember(&mut self, b: usize, version: Vec<u8>) {
        if !self.versions.iter().any(|(vb, v)| *vb == b && *v == version) {
            self.versions.push((b, version));
        }
    }

    fn own(&self, b: usize, kb: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.writes.iter().find(|w| w.1 == b && w.2 == kb).map(|w| &w.3)
    }

    fn write(&mut self, m: &'static ModelDesc, b: usize, kb: Vec<u8>, doc: Option<Vec<u8>>, mode: WriteMode) {
        self.writes.retain(|w| !(w.1 == b && w.2 == kb));
        self.writes.push((m, b, kb, doc, mode));
    }
}

impl Redis {
    /// A record as the attempt sees it: its own write, else the stored one (a read).
    async fn tx_read(&self, s: &mut Session, m: &'static ModelDesc, kb: &[u8]) -> Result<Option<Vec<u8>>> {
        let b = s.base(m, self.base(m));
        if let Some(doc) = s.own(b, kb) {
            return Ok(doc.clone());
        }
        let key = KeyValue::from_storage(kb)?;
        let seen = nonrel_runtime::Backend::get(self, m, key).await?;
        s.reads.push((b, kb.to_vec(), seen.clone()));
        Ok(seen)
    }
}

fn conflict(m: &ModelDesc) -> Error {
    Error::new(ErrorKind::Conflict, "changed by a concurrent write since the transaction read it").with_model(m.name)
}

impl Transactions for Redis {
    type Session = Session;

    async fn begin(&self) -> Result<Session> {
        Ok(Session::default())
    }

    async fn tx_get(&self, s: &mut Session, m: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        self.tx_read(s, m, &key.to_storage()).await
    }

    async fn tx_put(&self, s: &mut Session, m: &'static ModelDesc, item: PutItem, mode: WriteMode) -> Result<KeyValue> {
        let b = s.base(m, self.base(m));
        let Some(key) = item.key else {
            // An automatic key is taken now, so no other attempt gets it; written with
            // `Insert`, so a save outside the transaction that took it meanwhile conflicts.
            let script = &self.inner.scripts.auto;
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(&script.sha).arg(1).arg(&s.bases[b]);
            let kb = bytes(&self.eval(script, &cmd).await?);
            let key = KeyValue::from_storage(&kb)?;
            s.write(m, b, kb, Some(item.doc), WriteMode::Insert);
            return Ok(key);
        };
        let kb = key.to_storage();
        if mode == WriteMode::Insert && self.tx_read(s, m, &kb).await?.is_some() {
            let e = Error::new(ErrorKind::DuplicateKey, "a record with this key already exists");
            return Err(e.with_model(m.name).with_key(&key));
        }
        let mode = if mode == WriteMode::Insert { WriteMode::Replace } else { mode };
        s.write(m, b, kb, Some(item.doc), mode);
        Ok(key)
    }

    async fn tx_delete(&self, s: &mut Session, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        let mut existed = 0;
        for key in keys {
            let kb = key.to_storage();
            if self.tx_read(s, m, &kb).await?.is_some() {
                existed += 1;
                let b = s.base(m, self.base(m));
                s.write(m, b, kb, None, WriteMode::Replace);
            }
        }
        Ok(existed)
    }

    /// Reads the candidates and the collection's write count in one script (one atomic
    /// view), lays the attempt's own writes over them, and remembers the write count: any
    /// write to the collection before the commit is a conflict.
    async fn tx_query(&self, s: &mut Session, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        let base = self.base(m);
        let b = s.base(m, base.clone());
        if !s.writes.iter().any(|w| w.1 == b) {
            // Nothing of the attempt's own to lay over the collection: the reads of a plain
            // query, which stop once they have the answer (an ordered index read with a
            // limit, key order with a limit).
            let (rows, version) = self.query_read(m, &plan, true).await?;
            if let Some(version) = version {
                s.remember(b, version);
            }
            return Ok(rows);
        }
        let source = index::choose(m, &plan);
        let mut view: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let version = self
            .read(&base, &source, 0, |kb, doc| {
                if let Some(doc) = doc {
                    view.insert(kb, doc);
                }
                Ok(true)
            })
            .await?;
        s.remember(b, version);
        for (_, _, kb, doc, _) in s.writes.iter().filter(|w| w.1 == b) {
            match doc {
                Some(doc) => view.insert(kb.clone(), doc.clone()),
                None => view.remove(kb),
            };
        }
        let mut found = Vec::new();
        for (kb, doc) in view {
            if eval::matches_all(&plan.filters, &doc)? {
                found.push((kb, doc));
            }
        }
        page(found, &plan)
    }

    /// One script: checks every record read and every queried collection's write count,
    /// then writes every record with its index entries (all or nothing).
    async fn commit(&self, s: Session) -> Result<()> {
        let Some(m) = s.last else { return Ok(()) };
        let mut checks = Vec::new();
        for (base, kb, seen) in &s.reads {
            checks.push(Check::Record { base: *base, kb: kb.clone(), seen: seen.clone() });
        }
        for (base, seen) in &s.versions {
            checks.push(Check::Version { base: *base, seen: seen.clone() });
        }
        let mut items = Vec::with_capacity(s.writes.len());
        for (m, b, kb, doc, mode) in &s.writes {
            let item = match doc {
                Some(doc) => {
                    let key = KeyValue::from_storage(kb)?;
                    Item::put(m, *b, Some(&key), doc.clone(), *mode, &self.kept(m))?
                }
                None => Item::delete(m, *b, kb.clone()),
            };
            items.push(item);
        }
        match self.write_items(m, &s.bases, &checks, &mut items, false).await {
            Ok(Written::Conflict(_)) => Err(conflict(m)),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::DuplicateKey => Err(conflict(m)),
            Err(e) if e.to_string().contains("CrossSlot") => {
                let msg = "this transaction spans collections in different hash slots of a Redis cluster: \
                           open the database with `Redis::in_one_slot` to run such transactions";
                Err(Error::new(ErrorKind::Unsupported, msg).with_model(m.name).with_source(e))
            }
            Err(e) => Err(e),
        }
    }

    /// Nothing was written yet: dropping the attempt is enough.
    async fn abort(&self, _s: Session) {}
}
