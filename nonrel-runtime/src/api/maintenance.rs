//! The typed API of maintenance: rebuilding a model's lookup indexes, and dumping and
//! loading every registered model.

use crate::api::database::Database;
use crate::backend::{Backend, PutItem, WriteMode};
use crate::engine::dump::*;
use crate::engine::rebuild::LookupRegistration;
use crate::error::Result;
use crate::schema::model::Model;
use std::io::{BufRead, Write};
use std::path::Path;

impl<B: Backend> Database<B> {
    /// Recomputes every stored record of `M` and rewrites it with its index entries: the
    /// fields the model computes on save (the index fields of emulated lookups) are
    /// written for records saved before they were declared, its denormalized copies are
    /// brought up to date, then every declared index of `M` is rebuilt (embedded) or created
    /// (MongoDB). Returns the copies written plus the index entries written (embedded) or the
    /// indexes processed (MongoDB).
    ///
    /// Each record is decoded as `M` and encoded again; fields the model does not know
    /// survive as on every save. A record that does not decode as `M` stops the
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
        let rebuild = self.rebuild_model::<M>();
        let command = || crate::engine::trace::Command::on(B::NAME, "rebuild_indexes", M::DESC);
        crate::engine::trace::command(command, rebuild).await
    }

    async fn rebuild_model<M: Model>(&self) -> Result<u64> {
        crate::engine::rebuild::recompute(self.backend(), &LookupRegistration::of::<M>()).await?;
        let copies = crate::engine::related::refresh_copies(self.backend(), &[M::DESC]).await?;
        Ok(copies + self.backend().rebuild_indexes(vec![M::DESC]).await?)
    }
}

impl<B: Backend> Database<B> {
    /// Writes every record of every registered model as one JSON line (see the
    /// [module docs](crate::dump)); returns how many records were written.
    ///
    /// ```
    /// use nonrel_runtime::{Database, LoadOptions, Model};
    /// #[derive(Model, Debug, PartialEq)]
    /// #[model(collection = "dump_doc_tags")]
    /// struct Tag { #[field(key)] name: String, uses: i64 }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> nonrel_runtime::Result<()> {
    /// let db = Database::in_memory()?;
    /// db.save(&mut Tag { name: "rust".into(), uses: 3 }).await?;
    /// let mut out = Vec::new();
    /// db.dump(&mut out).await?;
    /// let text = String::from_utf8(out).unwrap();
    /// assert!(text.contains(r#"{"collection":"dump_doc_tags","model":"Tag","_id":"rust","record":{"uses":3}}"#));
    ///
    /// let copy = Database::in_memory()?;
    /// copy.load(text.as_bytes(), LoadOptions::default()).await?;
    /// assert_eq!(copy.get::<Tag>("rust").await?.unwrap().uses, 3);
    /// # Ok(()) }
    /// ```
    pub async fn dump<W: Write + Send>(&self, mut out: W) -> Result<u64> {
        let mut n = 0;
        let mut line = String::new();
        for m in collections()? {
            let rows = self.backend().query(m, crate::plan::Plan::default()).await?;
            for row in rows {
                line.clear();
                dump_line(m, &row, &mut line).map_err(|e| e.with_model(m.name))?;
                out.write_all(line.as_bytes()).map_err(io("writing the dump"))?;
                n += 1;
            }
        }
        out.flush().map_err(io("writing the dump"))?;
        Ok(n)
    }

    /// [`dump`](Self::dump) to a file (created or truncated).
    pub async fn dump_to_file(&self, path: impl AsRef<Path>) -> Result<u64> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(io(&format!("creating {}", path.display())))?;
        self.dump(std::io::BufWriter::new(file)).await
    }

    /// Loads JSON lines written by [`dump`](Self::dump), keys and data exactly, into this
    /// database: each record is stored as the line has it, replacing a stored record with
    /// the same key (fields and their order as in the dump).
    ///
    /// Every line is read and checked before anything is written: a malformed line, an
    /// unknown collection, a key the model cannot have (an empty string key included) or a
    /// record its model cannot decode (a required field missing, a value of the wrong type
    /// or out of range) is an error naming the line, and nothing is loaded — unless
    /// [`LoadOptions::skip_bad_lines`] asks to load the others. A record with fields its
    /// model does not know loads with them. Blank lines are ignored.
    pub async fn load<R: BufRead + Send>(&self, input: R, options: LoadOptions) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        let mut items = Vec::new();
        for (i, line) in input.lines().enumerate() {
            let line = line.map_err(io("reading the dump"))?;
            if line.trim().is_empty() {
                continue;
            }
            match load_line(&line).map_err(|e| at_line(i + 1, e)) {
                Ok(item) => items.push(item),
                Err(e) if options.skip_bad_lines => report.skipped.push((i + 1, e)),
                Err(e) => return Err(e),
            }
        }
        let mut rest = items.as_slice();
        while let Some(first) = rest.first() {
            let run = rest.iter().take_while(|it| std::ptr::eq(it.model, first.model)).count();
            let puts = rest[..run].iter().map(|it| PutItem { key: Some(it.key.clone()), doc: it.doc.clone() });
            report.loaded += self.put_batches(first.model, puts, WriteMode::Replace).await?;
            rest = &rest[run..];
        }
        Ok(report)
    }

    /// [`load`](Self::load) from a file.
    pub async fn load_from_file(&self, path: impl AsRef<Path>, options: LoadOptions) -> Result<LoadReport> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(io(&format!("opening {}", path.display())))?;
        self.load(std::io::BufReader::new(file), options).await
    }
}
