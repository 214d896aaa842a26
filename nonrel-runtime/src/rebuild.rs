//! `rebuild_indexes_of::<M>()`: every record of one model recomputed and rewritten, so index
//! fields declared after the records were saved cover them (F21, F14).

use crate::backend::{Backend, PutItem, WriteMode};
use crate::database::Database;
use crate::error::Result;
use crate::model::Model;

/// Records rewritten per write.
const BATCH: usize = 1000;

impl<B: Backend> Database<B> {
    /// Recomputes every stored record of `M` and rewrites it with its index entries: the
    /// fields the model computes on save (the index fields of emulated lookups, F14) are
    /// written for records saved before they were declared, its denormalized copies (F15) are
    /// brought up to date, then every declared index of `M` is rebuilt (embedded) or created
    /// (MongoDB). Returns the copies written plus the index entries written (embedded) or the
    /// indexes processed (MongoDB).
    ///
    /// Each record is decoded as `M` and encoded again; fields the model does not know
    /// survive as on every save (F22). A record that does not decode as `M` stops the
    /// rebuild with an error naming its key; records before it are rewritten.
    ///
    /// ```
    /// use nonrel_runtime::{Database, Key, Model};
    /// #[derive(Model)]
    /// #[model(collection = "notes")]
    /// struct Note { #[field(key)] id: Option<Key<Note>>, text: String }
    /// #[derive(Model)]
    /// #[model(collection = "notes")]
    /// struct IndexedNote { #[field(key)] id: Option<Key<IndexedNote>>, #[field(index(icontains))] text: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// db.save(&mut Note { id: None, text: "Saved before the declaration".into() }).await?;
    /// db.rebuild_indexes_of::<IndexedNote>().await?;
    /// let found = db.query::<IndexedNote>().filter(IndexedNote::text().icontains("DECLARATION")).all().await?;
    /// assert_eq!(found.len(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn rebuild_indexes_of<M: Model>(&self) -> Result<u64> {
        // Every record of `M` and no other: a subclass (F11) reads only its own class.
        let plan = crate::query::Query::<M>::new().plan()?.clone();
        let rows = self.backend().query(M::DESC, plan).await?;
        let mut items = Vec::with_capacity(BATCH.min(rows.len()));
        for row in rows {
            items.push(recomputed::<M>(row.key, &row.doc)?);
            if items.len() == BATCH {
                self.backend().put(M::DESC, std::mem::take(&mut items), WriteMode::Upsert).await?;
            }
        }
        if !items.is_empty() {
            self.backend().put(M::DESC, items, WriteMode::Upsert).await?;
        }
        let copies = crate::related::refresh_copies(self.backend(), &[M::DESC]).await?;
        Ok(copies + self.backend().rebuild_indexes(vec![M::DESC]).await?)
    }
}

/// A stored record as `M` writes it today.
fn recomputed<M: Model>(key: Option<crate::KeyValue>, doc: &[u8]) -> Result<PutItem> {
    let at = |e: crate::Error| {
        let e = e.with_model(M::DESC.name);
        match &key {
            Some(k) => e.with_key(k),
            None => e,
        }
    };
    let record = M::decode(key.as_ref(), doc).map_err(at)?;
    let mut out = Vec::with_capacity(doc.len() + 64);
    record.encode(&mut out).map_err(at)?;
    Ok(PutItem { key, doc: out })
}
