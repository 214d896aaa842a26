//! Cursor positions: where a page starts reading, in a plan's order.

use crate::core::key::KeyValue;
use crate::core::value::Value;
use crate::plan::eval::compare_keys;
use crate::plan::Plan;
use std::cmp::Ordering;

/// A position to read a page from: the rows strictly after it in the plan's order (its
/// ordering terms, then the key ascending), or strictly before it when `backward`. Backends
/// receive it in [`Backend::query_seek`](crate::Backend::query_seek).
///
/// ```
/// use nonrel_runtime::page::Seek;
/// use nonrel_runtime::query::{Direction, OrderBy, Plan};
/// use nonrel_runtime::{KeyValue, Value};
/// let plan = Plan { order: vec![OrderBy { path: "views".into(), direction: Direction::Desc }], ..Plan::default() };
/// let seek = Seek { values: vec![Value::Int64(10)], key: KeyValue::Int(7), backward: false };
/// assert!(seek.wants(&plan, &[Value::Int64(9)], Some(&KeyValue::Int(1))));   // fewer views: after
/// assert!(seek.wants(&plan, &[Value::Int64(10)], Some(&KeyValue::Int(8))));  // a tie, greater key
/// assert!(!seek.wants(&plan, &[Value::Int64(10)], Some(&KeyValue::Int(7)))); // the position itself
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Seek {
    /// The position's value of each ordering term of the plan.
    pub values: Vec<Value>,
    /// The position's key.
    pub key: KeyValue,
    /// Read the rows before the position (the `limit` closest ones), still returned in the
    /// plan's order.
    pub backward: bool,
}

impl Seek {
    /// Where a row lies relative to the position, in the plan's order.
    pub fn compare(&self, plan: &Plan, values: &[Value], key: Option<&KeyValue>) -> Ordering {
        compare_keys(values, &self.values, &plan.order).then_with(|| key.cmp(&Some(&self.key)))
    }

    /// Whether a row (its ordering values and key) is on the side of the position the seek
    /// reads.
    pub fn wants(&self, plan: &Plan, values: &[Value], key: Option<&KeyValue>) -> bool {
        let wanted = if self.backward { Ordering::Less } else { Ordering::Greater };
        self.compare(plan, values, key) == wanted
    }
}
