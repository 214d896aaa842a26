//! What the harness checks against: the oracle's records, and how a mismatch reads.

use super::model::{DiffItem, DiffNote};
use crate::Key;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Debug};

/// The oracle: what every harness record must be, plus the keys the note slots got.
#[derive(Default)]
pub struct Oracle {
    pub items: BTreeMap<i64, DiffItem>,
    pub notes: BTreeMap<Key<DiffNote>, DiffNote>,
    pub slots: HashMap<usize, Key<DiffNote>>,
}

/// A mismatch between the database and the oracle, or an unexpected error.
pub type Outcome = Result<(), String>;

pub fn differ<T: Debug + PartialEq>(what: &str, expected: &T, actual: &T) -> Outcome {
    if expected == actual {
        return Ok(());
    }
    Err(format!("{what}:\n  expected {expected:?}\n  actual   {actual:?}"))
}

pub fn failed<E: fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what} failed: {e}")
}
