//! # nonrel-manage
//!
//! A management command for a program using [`nonrel_runtime`]. The registry of models
//! lives in the program (every `#[derive(Model)]` linked into it), so the command is a
//! function the program calls from `main`, in one line:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     nonrel_manage::main()
//! }
//! ```
//!
//! or, beside the program's own work, as a subcommand of it:
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() {
//!     // `my-app manage --db app.db check` runs the command; anything else runs the app.
//!     if let Some(exit) = nonrel_manage::subcommand("manage").await {
//!         exit.exit();
//!     }
//!     // ... the program's own work
//! }
//! ```
//!
//! Subcommands: `models`, `check`, `sync-indexes`, `rebuild`, `dump`, `load`, `copy --to
//! <url>`, `count <Model> [lookup=value...]` and `explain <Model> [lookup=value...]`. The
//! database is `--db <url>` (or the `NONREL_DB` environment variable): a file path for the
//! embedded store, or `mongodb://host/database` (feature `mongodb`). Long work shows a
//! progress bar (counts, rate, time left) on standard error when it is a terminal, nothing
//! otherwise. The [`Exit`] codes say what happened.

mod cli;
mod commands;
mod progress;
mod query;
mod target;

pub use cli::Exit;

use clap::Parser as _;
use std::ffi::OsString;
use std::process::ExitCode;

/// Runs the command on the program's own arguments and returns its exit code: the whole of
/// a `main`. Starts its own async runtime, so call it outside one (from an async `main`,
/// use [`execute`] or [`subcommand`]).
pub fn main() -> ExitCode {
    run(std::env::args_os()).into()
}

/// Runs the command on these arguments (the first is the program's name), in a runtime of
/// its own.
pub fn run<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    match runtime {
        Ok(runtime) => runtime.block_on(execute(args)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            Exit::Store
        }
    }
}

/// Runs the command on these arguments (the first is the program's name) in the caller's
/// async runtime.
pub async fn execute<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match cli::Cli::try_parse_from(args) {
        Ok(cli) => commands::run(cli).await,
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok // --help, --version
            }
        }
    }
}

/// Runs the command when the program's first argument is `name` (with the arguments after
/// it), and returns its exit code; returns `None`, doing nothing, otherwise.
pub async fn subcommand(name: &str) -> Option<Exit> {
    let mut args = std::env::args_os();
    let program = args.next()?;
    let first = args.next()?;
    if first != *name {
        return None;
    }
    let program = format!("{} {name}", program.to_string_lossy());
    Some(execute(std::iter::once(OsString::from(program)).chain(args)).await)
}

/// The guide's page on this command (`docs/manage.md`), its examples compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/manage.md")]
struct GuideDoctests;
