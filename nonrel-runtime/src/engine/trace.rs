//! Spans of store commands (feature `tracing`): one span per save, get, query, count,
//! page, update, delete, transaction attempt, commit and index maintenance, with
//! OpenTelemetry's database attributes, and events for retries, conflicts and slow commands.
//!
//! The runtime's operations call [`command`] around their work; without the feature it
//! returns the work untouched (and never builds the description), so nothing is compiled in.
//! The points sit in the engine and API layers, above the [`Backend`](crate::backend::Backend)
//! interface, so every backend gets them without code of its own.

use crate::error::Result;
use crate::plan::Plan;
use crate::schema::model::ModelDesc;
use std::future::Future;

/// What a command is, for its span: built only when a span will be recorded.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) struct Command {
    /// The backend's name ([`Backend::NAME`](crate::backend::Backend::NAME)): `db.system.name`.
    pub(crate) system: &'static str,
    /// `db.operation.name`: `save`, `get`, `query`, ...
    pub(crate) op: &'static str,
    /// `db.collection.name`, when the command is on one collection.
    pub(crate) collection: Option<&'static str>,
    /// `db.query.summary`: the operation, the model and the shape of the plan, never a
    /// user value.
    pub(crate) summary: String,
    /// Round trips the command site itself issues (besides those counted inside).
    pub(crate) round_trips: u64,
}

impl Command {
    /// A command on model `m`'s collection, summarised as `op Model`.
    pub(crate) fn on(system: &'static str, op: &'static str, m: &'static ModelDesc) -> Command {
        Command { system, op, collection: Some(m.collection), summary: format!("{op} {}", m.name), round_trips: 0 }
    }

    /// A command on model `m`'s collection, summarised with the shape of `plan`.
    pub(crate) fn planned(system: &'static str, op: &'static str, m: &'static ModelDesc, plan: &Plan) -> Command {
        Command { summary: summary(op, m.name, plan), ..Command::on(system, op, m) }
    }

    /// A command on no collection in particular (a transaction, a commit, maintenance).
    pub(crate) fn general(system: &'static str, op: &'static str) -> Command {
        Command { system, op, collection: None, summary: op.to_owned(), round_trips: 0 }
    }

    /// With `n` round trips issued by the command site itself.
    pub(crate) fn trips(mut self, n: u64) -> Command {
        self.round_trips = n;
        self
    }
}

/// `query Post filter(views gte, title exact) order(views desc) limit 10`: the fields,
/// lookups, order and bounds of a plan, without a single operand.
pub(crate) fn summary(op: &str, model: &str, plan: &Plan) -> String {
    let mut s = format!("{op} {model}");
    if !plan.filters.is_empty() {
        let terms: Vec<String> = plan.filters.iter().map(|f| format!("{} {}", f.path, f.op.name())).collect();
        s.push_str(&format!(" filter({})", terms.join(", ")));
    }
    if !plan.order.is_empty() {
        let terms: Vec<String> = plan
            .order
            .iter()
            .map(|o| format!("{} {}", o.path, if o.direction == crate::plan::Direction::Asc { "asc" } else { "desc" }))
            .collect();
        s.push_str(&format!(" order({})", terms.join(", ")));
    }
    if plan.offset > 0 {
        s.push_str(&format!(" offset {}", plan.offset));
    }
    if let Some(limit) = plan.limit {
        s.push_str(&format!(" limit {limit}"));
    }
    s
}

/// How many rows a command's result holds, for `db.response.returned_rows`.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) trait Returned {
    /// The rows, when the result is rows.
    fn returned(&self) -> Option<u64> {
        None
    }
}

impl<T> Returned for Vec<T> {
    fn returned(&self) -> Option<u64> {
        Some(self.len() as u64)
    }
}

impl<T> Returned for Option<T> {
    fn returned(&self) -> Option<u64> {
        Some(u64::from(self.is_some()))
    }
}

/// A result that is not rows (a transaction's value).
pub(crate) struct NotRows<T>(pub(crate) T);

impl<T> Returned for NotRows<T> {}
impl<M> Returned for crate::schema::key::Key<M> {}
impl Returned for u64 {}
impl Returned for bool {}
impl Returned for () {}

/// The rows of a command the backend may decline (`None`: it ran nothing).
pub(crate) struct MaybeRows<T>(pub(crate) Option<Vec<T>>);

impl<T> Returned for MaybeRows<T> {
    fn returned(&self) -> Option<u64> {
        self.0.as_ref().map(|rows| rows.len() as u64)
    }
}
impl Returned for crate::backend::UpdateCounts {}

#[cfg(not(feature = "tracing"))]
mod off {
    use super::*;

    /// Runs `work` as one store command: without the feature, the work itself.
    #[inline(always)]
    pub(crate) fn command<T, F>(describe: impl FnOnce() -> Command, work: F) -> F
    where
        F: Future<Output = Result<T>>,
        T: Returned,
    {
        let _ = describe;
        work
    }

    /// A copy of what a command's description needs, kept only when tracing may describe
    /// it: never without the feature.
    #[inline(always)]
    pub(crate) fn keep<T: Clone>(value: &T) -> Option<T> {
        let _ = value;
        None
    }

    /// Notes `n` round trips of the current command: nothing without the feature.
    #[inline(always)]
    pub(crate) fn round_trips(n: u64) {
        let _ = n;
    }

    /// Notes a retry of the current command after a conflict: nothing without the feature.
    #[inline(always)]
    pub(crate) fn retry(attempt: u32, why: &dyn std::fmt::Display) {
        let _ = (attempt, why);
    }
}

#[cfg(not(feature = "tracing"))]
pub(crate) use off::{command, keep, retry, round_trips};

#[cfg(feature = "tracing")]
pub(crate) use on::{command, keep, retry, round_trips};

#[cfg(feature = "tracing")]
pub use on::{enabled, set_enabled, set_slow_threshold, slow_threshold};

#[cfg(feature = "tracing")]
mod on {
    use super::*;
    use crate::error::ErrorKind;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tracing::field::Empty;
    use tracing::Instrument;

    static ENABLED: AtomicBool = AtomicBool::new(true);
    /// The slow threshold in microseconds; `u64::MAX`: none.
    static SLOW_MICROS: AtomicU64 = AtomicU64::new(u64::MAX);

    /// Switches span emission on or off for the whole process (on by default). Off, a command
    /// checks one atomic flag and runs as without the feature; on, a command whose span no
    /// subscriber wants costs one check of the subscriber's interest.
    ///
    /// ```
    /// nonrel_runtime::trace::set_enabled(false);
    /// assert!(!nonrel_runtime::trace::enabled());
    /// nonrel_runtime::trace::set_enabled(true);
    /// ```
    pub fn set_enabled(on: bool) {
        ENABLED.store(on, Ordering::Relaxed);
    }

    /// Whether store commands emit spans (see [`set_enabled`]).
    pub fn enabled() -> bool {
        ENABLED.load(Ordering::Relaxed)
    }

    /// Emits a `WARN` event `slow store command` inside a command's span when the command
    /// takes at least `threshold`; `None` (the default) emits none.
    ///
    /// ```
    /// use std::time::Duration;
    /// nonrel_runtime::trace::set_slow_threshold(Some(Duration::from_millis(250)));
    /// assert_eq!(nonrel_runtime::trace::slow_threshold(), Some(Duration::from_millis(250)));
    /// nonrel_runtime::trace::set_slow_threshold(None);
    /// ```
    pub fn set_slow_threshold(threshold: Option<Duration>) {
        let micros = threshold.map_or(u64::MAX, |t| u64::try_from(t.as_micros()).unwrap_or(u64::MAX - 1));
        SLOW_MICROS.store(micros, Ordering::Relaxed);
    }

    /// The slow threshold (see [`set_slow_threshold`]).
    pub fn slow_threshold() -> Option<Duration> {
        match SLOW_MICROS.load(Ordering::Relaxed) {
            u64::MAX => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    thread_local! {
        /// The round-trip counter of the command being polled on this thread, if any.
        static TRIPS: Cell<Option<Arc<AtomicU64>>> = const { Cell::new(None) };
    }

    /// Notes `n` round trips of the command being polled.
    pub(crate) fn round_trips(n: u64) {
        TRIPS.with(|t| {
            let current = t.take();
            if let Some(trips) = &current {
                trips.fetch_add(n, Ordering::Relaxed);
            }
            t.set(current);
        });
    }

    /// A `retry` event (the command runs again after a conflict) in the current span.
    pub(crate) fn retry(attempt: u32, why: &dyn std::fmt::Display) {
        if enabled() {
            tracing::info!(attempt, reason = %why, "retry after conflict");
        }
    }

    /// A copy of what a command's description needs, kept only while tracing is on: the
    /// original can then move into the command's work.
    pub(crate) fn keep<T: Clone>(value: &T) -> Option<T> {
        enabled().then(|| value.clone())
    }

    /// Runs `work` as one store command, in a span when tracing is on and a subscriber
    /// wants it.
    pub(crate) async fn command<T, F>(describe: impl FnOnce() -> Command, work: F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
        T: Returned,
    {
        if !enabled() {
            return work.await;
        }
        let span = tracing::info_span!(
            "db.command",
            otel.name = Empty,
            otel.kind = "client",
            db.system.name = Empty,
            db.operation.name = Empty,
            db.collection.name = Empty,
            db.query.summary = Empty,
            db.response.returned_rows = Empty,
            nonrel.round_trips = Empty,
            error.type = Empty,
        );
        if span.is_disabled() {
            return work.await;
        }
        let c = describe();
        span.record("otel.name", c.summary.as_str());
        span.record("db.system.name", c.system);
        span.record("db.operation.name", c.op);
        if let Some(collection) = c.collection {
            span.record("db.collection.name", collection);
        }
        span.record("db.query.summary", c.summary.as_str());
        let trips = Arc::new(AtomicU64::new(c.round_trips));
        let start = Instant::now();
        let mut work = std::pin::pin!(work);
        // The thread's counter points at this command while its work is polled.
        let counted = std::future::poll_fn(|cx| {
            let before = TRIPS.with(|t| t.replace(Some(trips.clone())));
            let polled = work.as_mut().poll(cx);
            TRIPS.with(|t| t.set(before));
            polled
        });
        let out = counted.instrument(span.clone()).await;
        let elapsed = start.elapsed();
        let n = trips.load(Ordering::Relaxed);
        if n > 0 {
            span.record("nonrel.round_trips", n);
        }
        // The enclosing command, if any, made these trips too.
        round_trips(n);
        let _entered = span.enter();
        match &out {
            Ok(value) => {
                if let Some(rows) = value.returned() {
                    span.record("db.response.returned_rows", rows);
                }
            }
            Err(e) => {
                span.record("error.type", tracing::field::debug(e.kind()));
                if e.kind() == ErrorKind::Conflict {
                    tracing::info!(error = %e, "conflict");
                }
            }
        }
        if let Some(threshold) = slow_threshold() {
            if elapsed >= threshold {
                tracing::warn!(elapsed_ms = elapsed.as_secs_f64() * 1000.0, "slow store command");
            }
        }
        out
    }
}
