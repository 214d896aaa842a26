//! The command line, and the exit codes.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// What happened, as the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// 0: done.
    Ok,
    /// 1: done, and something needs attention: `check` found index entries or copies that
    /// disagree with their records, or `load --skip-bad-lines` skipped lines.
    Problems,
    /// 2: a bad command line: an unknown subcommand, option, model, field or lookup, a
    /// malformed value or URL.
    Usage,
    /// 3: input refused: a dump line that does not load (nothing was loaded).
    Refused,
    /// 4: the database could not be opened, read or written (or a file could not be).
    Store,
    /// 5: the backend cannot do it (a lookup it does not run), or the program was built
    /// without the feature a URL needs.
    Unsupported,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Problems => 1,
            Exit::Usage => 2,
            Exit::Refused => 3,
            Exit::Store => 4,
            Exit::Unsupported => 5,
        }
    }

    /// Ends the process with this code.
    pub fn exit(self) -> ! {
        std::process::exit(i32::from(self.code()))
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// Manage the models and the database of this program.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub(crate) struct Cli {
    /// The database: a file path (the embedded store) or mongodb://host[:port]/database.
    #[arg(long, global = true, env = "NONREL_DB", value_name = "URL")]
    pub(crate) db: Option<String>,
    /// No progress bars, even on a terminal.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the registered models with their fields and indexes.
    Models,
    /// Check every declared index and denormalized copy against the records.
    Check,
    /// Create the declared indexes that do not exist yet.
    SyncIndexes,
    /// Recompute lookup fields and copies, and rebuild every declared index.
    Rebuild,
    /// Write every record as JSON lines.
    Dump {
        /// The file to write (standard output when absent or `-`).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Load JSON lines written by `dump`, keys and data exactly.
    Load {
        /// The file to read (`-` for standard input).
        file: PathBuf,
        /// Load the good lines and report the bad ones (exit code 1) instead of refusing all.
        #[arg(long)]
        skip_bad_lines: bool,
    },
    /// Copy every record to another database, keys and data exactly.
    Copy {
        /// The database to copy to.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Count the records of a model that match the lookups.
    Count {
        /// The model (its Rust name or its collection).
        model: String,
        /// Lookups, `field=value` or `field__lookup=value`, all of which must hold.
        lookups: Vec<String>,
    },
    /// Tell how the store would run a query: which index it reads, or a scan.
    Explain {
        /// The model (its Rust name or its collection).
        model: String,
        /// Lookups, `field=value` or `field__lookup=value`, all of which must hold.
        lookups: Vec<String>,
        /// Order by this field (`-field` for descending).
        #[arg(long, allow_hyphen_values = true)]
        order: Option<String>,
        /// Most records to return.
        #[arg(long)]
        limit: Option<usize>,
    },
}
