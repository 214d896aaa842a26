//! A tracing subscriber for tests that count round trips: it keeps every span's fields, and
//! reads the store commands' query spans (`nonrel.round_trips`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type Fields = BTreeMap<String, String>;

/// A subscriber keeping every span's fields.
#[derive(Clone, Default)]
pub struct Collect(Arc<Mutex<Vec<Fields>>>);

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields::new();
        span.record(&mut Visitor(&mut fields));
        let mut spans = self.0.lock().unwrap();
        spans.push(fields);
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.0.lock().unwrap();
        values.record(&mut Visitor(&mut spans[span.into_u64() as usize - 1]));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Collect {
    /// The query spans since the last call: (collection, round trips).
    pub fn queries(&self) -> Vec<(String, u64)> {
        std::mem::take(&mut *self.0.lock().unwrap())
            .into_iter()
            .filter(|s| s.get("db.operation.name").map(String::as_str) == Some("query"))
            .map(|s| {
                let trips = s.get("nonrel.round_trips").and_then(|n| n.parse().ok()).unwrap_or(0);
                (s.get("db.collection.name").cloned().unwrap_or_default(), trips)
            })
            .collect()
    }
}
