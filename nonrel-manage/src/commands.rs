//! The subcommands, each on any backend the program was built with.

use crate::cli::{Cli, Command, Exit};
use crate::progress::{self, ByteCounter, LineCounter};
use crate::query;
use crate::target::{open, Failure, Open, Target};
use nonrel_runtime::backend::{PutItem, WriteMode};
use nonrel_runtime::query::Plan;
use nonrel_runtime::{Backend, Database, LoadOptions, ModelDesc, Shape};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

/// Runs `$body` with `$db` bound to the target's typed database.
macro_rules! on_target {
    ($target:expr, |$db:ident| $body:expr) => {
        match $target {
            Target::Embedded($db) => $body,
            #[cfg(feature = "mongodb")]
            Target::Mongo($db) => $body,
        }
    };
}

pub(crate) async fn run(cli: Cli) -> Exit {
    match command(&cli).await {
        Ok(exit) => exit,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            failure.exit
        }
    }
}

async fn command(cli: &Cli) -> Result<Exit, Failure> {
    let draw = progress::drawn(cli.quiet);
    let db = |how| async move {
        let url = cli
            .db
            .as_deref()
            .ok_or_else(|| Failure::new(Exit::Usage, "no database: pass --db <URL> or set NONREL_DB"))?;
        open(url, how).await
    };
    match &cli.command {
        Command::Models => models(),
        Command::Check => on_target!(db(Open::Existing).await?, |d| check(&d, draw).await),
        Command::SyncIndexes => on_target!(db(Open::OrCreate).await?, |d| sync_indexes(&d, draw).await),
        Command::Rebuild => on_target!(db(Open::Existing).await?, |d| rebuild(&d, draw).await),
        Command::Dump { out } => on_target!(db(Open::Existing).await?, |d| dump(&d, out.as_deref(), draw).await),
        Command::Load { file, skip_bad_lines } => {
            on_target!(db(Open::OrCreate).await?, |d| load(&d, file, *skip_bad_lines, draw).await)
        }
        Command::Copy { to } => {
            let from = db(Open::Existing).await?;
            let to_db = open(to, Open::OrCreate).await?;
            on_target!(from, |f| on_target!(to_db, |t| copy(&f, &t, to, draw).await))
        }
        Command::Count { model, lookups } => {
            let m = query::model(model)?;
            let plan = query::plan(m, lookups, None, None)?;
            on_target!(db(Open::Existing).await?, |d| count(&d, m, plan).await)
        }
        Command::Explain { model, lookups, order, limit } => {
            let m = query::model(model)?;
            let plan = query::plan(m, lookups, order.as_deref(), *limit)?;
            explain(db(Open::Existing).await?, m, &plan).await
        }
    }
}

/// Every registered model, sorted by collection then name.
fn registry() -> Vec<&'static ModelDesc> {
    let mut models: Vec<&'static ModelDesc> = nonrel_runtime::registered_models().collect();
    models.sort_by_key(|m| (m.collection, m.name));
    models
}

/// One collection per entry: a collection several models share is handled once, through
/// the first of them (as a dump does).
fn collections() -> Vec<&'static ModelDesc> {
    let mut models = registry();
    models.dedup_by_key(|m| m.collection);
    models
}

fn models() -> Result<Exit, Failure> {
    let mut out = io::stdout().lock();
    let w = |e: io::Error| Failure::new(Exit::Store, format!("writing to standard output: {e}"));
    for m in registry() {
        writeln!(out, "{} (collection {:?}, key {}: {:?})", m.name, m.collection, m.key.field, m.key.kind)
            .map_err(w)?;
        for f in m.fields {
            let embedded = if matches!(f.shape, Shape::Plain) { "" } else { ", embedded" };
            let stored = if f.name == f.rust_name { String::new() } else { format!(" (stored as {:?})", f.name) };
            writeln!(out, "  field {}: {}{stored}{embedded}", f.rust_name, tidy(f.ty)).map_err(w)?;
        }
        for i in m.indexes {
            let unique = if i.unique { " unique" } else { "" };
            let covering = if i.covering { " covering" } else { "" };
            writeln!(out, "  index {}{unique}{covering}", i.path).map_err(w)?;
        }
    }
    Ok(Exit::Ok)
}

/// A type as written in its tokens (`Vec < String >`) as a person writes it (`Vec<String>`).
fn tidy(ty: &str) -> String {
    let mut out = ty.to_owned();
    for (from, to) in [(" :: ", "::"), (":: ", "::"), (" <", "<"), ("< ", "<"), (" >", ">"), (" ,", ","), ("& ", "&")] {
        out = out.replace(from, to);
    }
    out
}

async fn check<B: Backend>(db: &Database<B>, draw: bool) -> Result<Exit, Failure> {
    let spinner = progress::spinner(draw, "checking indexes and copies");
    let report = db.integrity_check().await;
    spinner.finish_and_clear();
    let report = report?;
    for p in &report.problems {
        let key = p.key.as_ref().map_or_else(String::new, |k| format!(" key {k}:"));
        println!("problem: {}.{}:{key} {}", p.model, p.index, p.message);
    }
    println!(
        "checked {} records and {} index entries: {} problem(s)",
        report.records,
        report.entries,
        report.problems.len()
    );
    Ok(if report.is_ok() { Exit::Ok } else { Exit::Problems })
}

async fn sync_indexes<B: Backend>(db: &Database<B>, draw: bool) -> Result<Exit, Failure> {
    let spinner = progress::spinner(draw, "creating missing indexes");
    let n = db.sync_indexes().await;
    spinner.finish_and_clear();
    println!("{} declared index(es) in place", n?);
    Ok(Exit::Ok)
}

async fn rebuild<B: Backend>(db: &Database<B>, draw: bool) -> Result<Exit, Failure> {
    let spinner = progress::spinner(draw, "rebuilding indexes, lookup fields and copies");
    let n = db.rebuild_indexes().await;
    spinner.finish_and_clear();
    println!("rebuilt: {} index entries and copies written", n?);
    Ok(Exit::Ok)
}

/// How many records the collections hold (a progress bar's length).
async fn total<B: Backend>(db: &Database<B>) -> Result<u64, Failure> {
    let mut n = 0;
    for m in collections() {
        n += db.backend().count(m, Plan::default(), None).await?;
    }
    Ok(n)
}

async fn dump<B: Backend>(db: &Database<B>, out: Option<&Path>, draw: bool) -> Result<Exit, Failure> {
    let bar = progress::records(draw, "dumping", total(db).await?);
    let n = match out.filter(|p| *p != Path::new("-")) {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| Failure::new(Exit::Store, format!("creating {}: {e}", path.display())))?;
            let n = db.dump(LineCounter { inner: io::BufWriter::new(file), bar: bar.clone() }).await;
            bar.finish_and_clear();
            let n = n?;
            println!("dumped {n} records to {}", path.display());
            n
        }
        None => {
            let n = db.dump(LineCounter { inner: io::BufWriter::new(io::stdout()), bar: bar.clone() }).await;
            bar.finish_and_clear();
            let n = n?;
            eprintln!("dumped {n} records");
            n
        }
    };
    let _ = n;
    Ok(Exit::Ok)
}

async fn load<B: Backend>(db: &Database<B>, file: &Path, skip: bool, draw: bool) -> Result<Exit, Failure> {
    let options = if skip { LoadOptions::default().skip_bad_lines() } else { LoadOptions::default() };
    let input: (Box<dyn io::Read + Send>, u64) = if file == Path::new("-") {
        (Box::new(io::stdin()), 0)
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| Failure::new(Exit::Store, format!("opening {}: {e}", file.display())))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(f), len)
    };
    let bar = progress::bytes(draw, "reading", input.1);
    let reader: Box<dyn BufRead + Send> = Box::new(BufReader::new(ByteCounter { inner: input.0, bar: bar.clone() }));
    let report = db.load(reader, options).await;
    bar.finish_and_clear();
    let report = report?;
    for (line, e) in &report.skipped {
        println!("skipped line {line}: {e}");
    }
    println!("loaded {} records, skipped {} line(s)", report.loaded, report.skipped.len());
    Ok(if report.skipped.is_empty() { Exit::Ok } else { Exit::Problems })
}

/// Copies collection by collection in batches of 1,000, each stored exactly as read (as
/// a dump and a load would).
async fn copy<B: Backend, B2: Backend>(
    from: &Database<B>,
    to: &Database<B2>,
    url: &str,
    draw: bool,
) -> Result<Exit, Failure> {
    const BATCH: usize = 1000;
    let bar = progress::records(draw, "copying", total(from).await?);
    let mut n = 0;
    for m in collections() {
        let rows = from.backend().query(m, Plan::default()).await?;
        let mut items = rows.into_iter().map(|row| PutItem { key: row.key, doc: row.doc }).peekable();
        while items.peek().is_some() {
            let batch: Vec<PutItem> = items.by_ref().take(BATCH).collect();
            let len = batch.len() as u64;
            to.backend().put(m, batch, WriteMode::Replace).await.map_err(|e| e.with_model(m.name))?;
            bar.inc(len);
            n += len;
        }
    }
    bar.finish_and_clear();
    println!("copied {n} records to {url}");
    Ok(Exit::Ok)
}

async fn count<B: Backend>(db: &Database<B>, m: &'static ModelDesc, plan: Plan) -> Result<Exit, Failure> {
    let n = db.backend().count(m, plan, None).await.map_err(|e| e.with_model(m.name))?;
    println!("{n}");
    Ok(Exit::Ok)
}

async fn explain(target: Target, m: &'static ModelDesc, plan: &Plan) -> Result<Exit, Failure> {
    let explained = match target {
        Target::Embedded(db) => db.backend().explain_plan(m, plan).map_err(|e| e.with_model(m.name))?,
        #[cfg(feature = "mongodb")]
        Target::Mongo(db) => {
            let how = db.backend().explain_plan(m, plan).await.map_err(|e| e.with_model(m.name))?;
            match how.indexes.as_slice() {
                [] => println!("{}: one find on MongoDB, a scan of the collection", m.name),
                names => println!("{}: one find on MongoDB, the index(es) {}", m.name, names.join(", ")),
            }
            println!("command: {}", how.command);
            return Ok(Exit::Ok);
        }
    };
    let read = explained.entries_read;
    match explained.index {
        None => println!("{}: a scan of every record; {read} record(s) read", m.name),
        Some(index) => {
            let ranges = explained.ranges;
            let ordered = if explained.ordered { ", in the query's order" } else { "" };
            let covering = if explained.covering { ", covering (the records table is not read)" } else { "" };
            println!("{}: the index on {index}, {ranges} range(s){ordered}{covering}; {read} entry(ies) read", m.name);
        }
    }
    Ok(Exit::Ok)
}
