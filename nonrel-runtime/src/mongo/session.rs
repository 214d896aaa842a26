//! What every transaction on MongoDB shares: the session of one attempt, how a driver error
//! or a reply inside it tells a conflict, and how an attempt ends and is started again. The
//! transactions of `db.transaction` ([`tx`](super::tx)) and the writes that keep counters
//! ([`counted`](super::counted), [`counter`](super::counter)) both build on it.

use super::{driver, Mongo};
use crate::backend::capability::Transactions;
use crate::error::{Error, ErrorKind, Result};
use crate::schema::model::ModelDesc;
use mongodb::error::TRANSIENT_TRANSACTION_ERROR;
use mongodb::ClientSession;
use std::time::Duration;

/// The server's code for a write that conflicts with another transaction.
const WRITE_CONFLICT: i32 = 112;

/// One attempt of a MongoDB transaction: a session with a transaction started.
pub struct MongoSession {
    pub(super) session: ClientSession,
}

pub(super) fn is_conflict(e: &mongodb::error::Error) -> bool {
    let code = match e.kind.as_ref() {
        mongodb::error::ErrorKind::Command(c) => Some(c.code),
        _ => None,
    };
    e.contains_label(TRANSIENT_TRANSACTION_ERROR) || code == Some(WRITE_CONFLICT)
}

/// A driver error inside a transaction: a conflict (retried) or a failure.
pub(super) fn tx_error(e: mongodb::error::Error, m: &ModelDesc, doing: &str) -> Error {
    if is_conflict(&e) {
        let msg = format!("a concurrent transaction wrote the same records while {doing}");
        return Error::new(ErrorKind::Conflict, msg).with_model(m.name).with_source(e);
    }
    driver(e, doing).with_model(m.name)
}

/// A write error of code 112 in a reply is a conflict too.
pub(super) fn reply_conflict(reply: &bson::Document, m: &ModelDesc) -> Option<Error> {
    let errors = reply.get_array("writeErrors").ok()?;
    let conflicted =
        errors.iter().filter_map(|e| e.as_document()).any(|e| e.get_i32("code").ok() == Some(WRITE_CONFLICT));
    conflicted
        .then(|| Error::new(ErrorKind::Conflict, "a concurrent transaction wrote the same record").with_model(m.name))
}

/// How many times a counted write starts again after a conflict before reporting it.
pub(super) const ATTEMPTS: u32 = 40;

/// Commits an attempt that succeeded, or aborts it.
pub(super) async fn finish<T>(mongo: &Mongo, s: MongoSession, outcome: Result<T>) -> Result<T> {
    match outcome {
        Ok(value) => mongo.commit(s).await.map(|()| value),
        Err(e) => {
            mongo.abort(s).await;
            Err(e)
        }
    }
}

/// The longest pause between two attempts of a counted write (see
/// [`backoff`](crate::backend::retry::backoff)).
pub(super) const PAUSE_CEILING: Duration = Duration::from_millis(64);
