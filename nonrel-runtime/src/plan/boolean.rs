//! OR and NOT over the conditions of one model: `a | b`, `a & b`, `!a`, [`any`], [`all`]
//! and [`not`], nestable. A combined condition is one [`Filter`] holding an [`Op::Or`] or an
//! [`Op::Not`]; MongoDB runs it as `$or`/`$nor`, and on other stores the runtime runs each
//! branch of an OR through its own index and merges the rows (see
//! [`Backend::BOOLEAN`](crate::backend::Backend::BOOLEAN)). A condition across a `Ref`
//! (`Post::author().join(User::name()).eq(..)`) combines like any other: it is held as an
//! [`Op::Join`] and resolved, on every backend, into an `in` lookup on the `Ref` (the keys of
//! the related records that match, one query of the related model) before the plan runs.
//!
//! ```
//! use nonrel_runtime::query::{any, not};
//! use nonrel_runtime::{Key, Model, Query};
//! #[derive(Model)]
//! struct Post { #[field(key)] id: Option<Key<Post>>, title: String, views: u32, draft: bool }
//!
//! // Popular or titled "Rust…", and not a draft.
//! let q = Query::<Post>::new()
//!     .filter(Post::views().gte(100u32) | Post::title().startswith("Rust"))
//!     .filter(!Post::draft().eq(true));
//! assert_eq!(q.plan().unwrap().filters.len(), 2);
//! // The same with functions, for conditions built in a loop.
//! let q2 = Query::<Post>::new()
//!     .filter(any([Post::views().gte(100u32), Post::title().startswith("Rust")]))
//!     .filter(not(Post::draft().eq(true)));
//! assert_eq!(q.plan().unwrap(), q2.plan().unwrap());
//! ```

use super::{Condition, Filter, Op, Plan, BOOLEAN_PATH};
use crate::error::Result;

fn boolean(op: Op) -> Filter {
    Filter { path: BOOLEAN_PATH.into(), op }
}

/// The filters a filter stands for, all of which must hold.
pub(crate) fn conjunction(f: Filter) -> Vec<Filter> {
    match f.op {
        Op::Or(mut branches) if branches.len() == 1 => branches.pop().unwrap_or_default(),
        op => vec![Filter { path: f.path, op }],
    }
}

/// The branches a filter stands for, any of which must hold.
fn branches(f: Filter) -> Vec<Vec<Filter>> {
    match f.op {
        Op::Or(branches) => branches,
        op => vec![vec![Filter { path: f.path, op }]],
    }
}

/// The plans a runtime without ORs runs for the first OR of `plan`: per
/// branch, the plan with the OR replaced by the branch's conditions, at most `offset + limit`
/// rows from the first in the plan's order (the first rows of the merge are among them).
pub(crate) fn branch_plans(plan: &Plan) -> Option<Vec<Plan>> {
    let at = plan.filters.iter().position(|f| matches!(f.op, Op::Or(_)))?;
    let Op::Or(branches) = &plan.filters[at].op else { return None };
    let parts = branches
        .iter()
        .map(|branch| {
            let mut filters = plan.filters.clone();
            filters.splice(at..=at, branch.iter().cloned());
            Plan {
                filters,
                order: plan.order.clone(),
                offset: 0,
                limit: plan.limit.map(|l| l.saturating_add(plan.offset)),
                projection: None,
            }
        })
        .collect();
    Some(parts)
}

/// Whether `test` holds for a filter or any filter nested in an OR or a NOT.
pub(crate) fn any_filter(filters: &[Filter], test: &impl Fn(&Filter) -> bool) -> bool {
    filters.iter().any(|f| match &f.op {
        Op::Or(branches) => branches.iter().any(|b| any_filter(b, test)),
        Op::Not(inner) => any_filter(inner, test),
        _ => test(f),
    })
}

/// The filter of a condition as an operand of `|`, `&` or `!`: a condition across a `Ref`
/// (a two-step join) becomes an [`Op::Join`] on the `Ref`, resolved into an `in` lookup on it
/// before the plan runs.
fn operand<M, R>(c: Condition<M, R>) -> Result<Filter> {
    let filter = c.filter?;
    Ok(match c.via {
        Some(via) => Filter { path: via.reference.clone(), op: Op::Join(Box::new(via.with(filter))) },
        None => filter,
    })
}

/// Calls `visit` on each condition across a `Ref` ([`Op::Join`]) among `filters` and in
/// every OR and NOT among them, at any depth; `visit` may change the filter.
pub(crate) fn visit_joins(filters: &mut [Filter], visit: &mut impl FnMut(&mut Filter) -> Result<()>) -> Result<()> {
    for f in filters {
        match &mut f.op {
            Op::Or(branches) => {
                for b in branches {
                    visit_joins(b, visit)?;
                }
            }
            Op::Not(inner) => visit_joins(inner, visit)?,
            Op::Join(_) => visit(f)?,
            _ => {}
        }
    }
    Ok(())
}

/// Whether a conjunction holds a condition across a `Ref` inside an OR or a NOT.
pub(crate) fn has_join(filters: &[Filter]) -> bool {
    any_filter(filters, &|f| matches!(f.op, Op::Join(_)))
}

fn combine<M, R>(a: Condition<M, R>, b: Condition<M, R>, f: impl FnOnce(Filter, Filter) -> Filter) -> Condition<M, R> {
    let filter = operand(a).and_then(|a| operand(b).map(|b| f(a, b)));
    Condition::from_filter(filter)
}

/// Either condition holds (Django's `Q(a) | Q(b)`, MongoDB's `$or`).
impl<M, R> std::ops::BitOr for Condition<M, R> {
    type Output = Condition<M, R>;
    fn bitor(self, other: Self) -> Self::Output {
        combine(self, other, |a, b| {
            let mut all = branches(a);
            all.extend(branches(b));
            boolean(Op::Or(all))
        })
    }
}

/// Both conditions hold: for use inside an OR or a NOT (`(a & b) | c`); on a query, two
/// [`filter`](crate::Query::filter) calls say the same.
impl<M, R> std::ops::BitAnd for Condition<M, R> {
    type Output = Condition<M, R>;
    fn bitand(self, other: Self) -> Self::Output {
        combine(self, other, |a, b| {
            let mut both = conjunction(a);
            both.extend(conjunction(b));
            boolean(Op::Or(vec![both]))
        })
    }
}

/// The condition does not hold (Django's `~Q(a)`), with MongoDB's meaning: a record missing
/// the field matches `!field.eq(x)`, and `!tags.has(x)` matches when no element is `x`.
impl<M, R> std::ops::Not for Condition<M, R> {
    type Output = Condition<M, R>;
    fn not(self) -> Self::Output {
        Condition::from_filter(operand(self).map(|f| match f.op {
            // Not twice: the conditions themselves.
            Op::Not(inner) => boolean(Op::Or(vec![inner])),
            op => boolean(Op::Not(conjunction(Filter { path: f.path, op }))),
        }))
    }
}

/// Any of the conditions holds; with none, nothing matches.
///
/// ```
/// use nonrel_runtime::query::any;
/// use nonrel_runtime::{Key, Model, Query};
/// #[derive(Model)]
/// struct Post { #[field(key)] id: Option<Key<Post>>, title: String }
///
/// let titles = ["a", "b", "c"];
/// let q = Query::<Post>::new().filter(any(titles.iter().map(|t| Post::title().startswith(*t))));
/// assert!(q.plan().is_ok());
/// ```
pub fn any<M, R>(conditions: impl IntoIterator<Item = Condition<M, R>>) -> Condition<M, R> {
    let filters: Result<Vec<Filter>> = conditions.into_iter().map(operand).collect();
    Condition::from_filter(filters.map(|fs| boolean(Op::Or(fs.into_iter().flat_map(branches).collect()))))
}

/// All of the conditions hold; with none, everything matches.
///
/// ```
/// use nonrel_runtime::query::{all, not};
/// use nonrel_runtime::{Key, Model, Query};
/// #[derive(Model)]
/// struct Post { #[field(key)] id: Option<Key<Post>>, title: String, views: u32 }
///
/// // Not (titled "a…" with fewer than 10 views).
/// let q = Query::<Post>::new().filter(not(all([Post::title().startswith("a"), Post::views().lt(10u32)])));
/// assert!(q.plan().is_ok());
/// ```
pub fn all<M, R>(conditions: impl IntoIterator<Item = Condition<M, R>>) -> Condition<M, R> {
    let filters: Result<Vec<Filter>> = conditions.into_iter().map(operand).collect();
    Condition::from_filter(filters.map(|fs| boolean(Op::Or(vec![fs.into_iter().flat_map(conjunction).collect()]))))
}

/// The condition does not hold: `!condition`.
pub fn not<M, R>(condition: Condition<M, R>) -> Condition<M, R> {
    !condition
}
