//! Databases named by URL.

use crate::cli::Exit;
use nonrel_runtime::{Database, ErrorKind, Redb};

/// A failure: a message for standard error and the exit code it means.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure { exit, message: message.into() }
    }
}

impl From<nonrel_runtime::Error> for Failure {
    fn from(e: nonrel_runtime::Error) -> Self {
        let exit = match e.kind() {
            ErrorKind::InvalidKey | ErrorKind::Decode | ErrorKind::Encode | ErrorKind::TooLarge => Exit::Refused,
            ErrorKind::Unsupported => Exit::Unsupported,
            _ => Exit::Store,
        };
        Failure::new(exit, e.to_string())
    }
}

/// An open database of one of the backends this program was built with.
pub(crate) enum Target {
    Embedded(Database<Redb>),
    #[cfg(feature = "mongodb")]
    Mongo(Database<nonrel_runtime::Mongo>),
}

/// Whether the command may create a database that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Open {
    Existing,
    OrCreate,
}

/// Opens `url`: `mongodb://` and `mongodb+srv://` URLs name a MongoDB database (its name is
/// the URL's path); anything else is the path of an embedded store's file (`file:` optional).
pub(crate) async fn open(url: &str, how: Open) -> Result<Target, Failure> {
    if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") {
        return open_mongo(url).await;
    }
    let path = url.strip_prefix("file:").unwrap_or(url);
    if path.is_empty() {
        return Err(Failure::new(Exit::Usage, "the database URL is empty"));
    }
    let db = match how {
        Open::Existing => Database::open_existing(path),
        Open::OrCreate => Database::open(path),
    };
    Ok(Target::Embedded(db?))
}

#[cfg(feature = "mongodb")]
async fn open_mongo(url: &str) -> Result<Target, Failure> {
    let (uri, name) = split_database(url)?;
    Ok(Target::Mongo(Database::connect(&uri, &name).await?))
}

#[cfg(not(feature = "mongodb"))]
async fn open_mongo(url: &str) -> Result<Target, Failure> {
    let _ = url;
    Err(Failure::new(Exit::Unsupported, "this program was built without the `mongodb` feature of nonrel-manage"))
}

/// The connection string without the database name, and the name (the URL's path).
#[cfg_attr(not(feature = "mongodb"), allow(dead_code))]
fn split_database(url: &str) -> Result<(String, String), Failure> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (hosts, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let (name, query) = tail.split_once('?').unwrap_or((tail, ""));
    if name.is_empty() {
        return Err(Failure::new(
            Exit::Usage,
            format!("{url:?} names no database: add it as the path, mongodb://host/name"),
        ));
    }
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    Ok((format!("{scheme}://{hosts}/{query}"), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mongodb_urls_name_their_database() {
        let (uri, name) = split_database("mongodb://127.0.0.1:27017/blog?retryWrites=false").unwrap();
        assert_eq!((uri.as_str(), name.as_str()), ("mongodb://127.0.0.1:27017/?retryWrites=false", "blog"));
        assert_eq!(split_database("mongodb://h/").unwrap_err().exit, Exit::Usage);
    }
}
