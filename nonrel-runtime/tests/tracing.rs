//! Spans of store commands on the embedded backend, collected by a subscriber written here:
//! one span per save, get, query, update, transaction attempt and commit, with the
//! OpenTelemetry database attributes, and a retry event when an attempt conflicts.

use nonrel_runtime::{Database, ErrorKind, Key, Model};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One span as recorded: its fields by name.
type Fields = BTreeMap<String, String>;

#[derive(Default)]
struct Seen {
    spans: Vec<Fields>,
    /// Events: their fields, the message among them.
    events: Vec<Fields>,
}

/// A subscriber keeping every span's fields and every event.
#[derive(Clone, Default)]
struct Collect {
    seen: Arc<Mutex<Seen>>,
    next: Arc<AtomicU64>,
}

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
        let mut seen = self.seen.lock().unwrap();
        seen.spans.push(fields);
        self.next.fetch_add(1, Ordering::Relaxed);
        Id::from_u64(seen.spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut seen = self.seen.lock().unwrap();
        values.record(&mut Visitor(&mut seen.spans[span.into_u64() as usize - 1]));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        self.seen.lock().unwrap().events.push(fields);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Collect {
    fn take(&self) -> Seen {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "traced_posts")]
struct Post {
    #[field(key)]
    id: Option<Key<Post>>,
    #[field(index)]
    views: i64,
    title: String,
}

/// Held by each test: one of them switches span emission off for the whole process.
static SERIAL: Mutex<()> = Mutex::new(());

/// The spans of one operation's kind.
fn of<'a>(seen: &'a Seen, op: &str) -> Vec<&'a Fields> {
    seen.spans.iter().filter(|s| s.get("db.operation.name").map(String::as_str) == Some(op)).collect()
}

fn field<'a>(span: &'a Fields, name: &str) -> Option<&'a str> {
    span.get(name).map(String::as_str)
}

#[test]
fn store_commands_have_spans_with_database_attributes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(collect.clone());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let db = Database::in_memory().unwrap();
        let mut post = Post { id: None, views: 12, title: "secret title".into() };
        let key = db.save(&mut post).await.unwrap();
        let seen = collect.take();
        let save = of(&seen, "save");
        assert_eq!(save.len(), 1, "{:?}", seen.spans);
        assert_eq!(field(save[0], "db.system.name"), Some("embedded"));
        assert_eq!(field(save[0], "db.collection.name"), Some("traced_posts"));
        assert_eq!(field(save[0], "db.query.summary"), Some("save Post"));
        assert_eq!(field(save[0], "otel.kind"), Some("client"));

        assert!(db.get::<Post>(&key).await.unwrap().is_some());
        let seen = collect.take();
        let get = of(&seen, "get");
        assert_eq!(get.len(), 1);
        assert_eq!(field(get[0], "db.response.returned_rows"), Some("1"));
        assert_eq!(field(get[0], "nonrel.round_trips"), Some("1"));

        let found = db.query::<Post>().filter(Post::views().gte(10)).limit(10).all().await.unwrap();
        assert_eq!(found.len(), 1);
        let seen = collect.take();
        let query = of(&seen, "query");
        assert_eq!(query.len(), 1, "{:?}", seen.spans);
        assert_eq!(field(query[0], "db.query.summary"), Some("query Post filter(views gte) limit 10"));
        assert_eq!(field(query[0], "db.response.returned_rows"), Some("1"));
        assert_eq!(field(query[0], "nonrel.round_trips"), Some("1"));
        // Never a user value in what a span records.
        for span in &seen.spans {
            assert!(span.values().all(|v| !v.contains("secret") && !v.contains("12")), "{span:?}");
        }

        let counts = db.query::<Post>().filter(Post::title().eq("secret title")).update().inc(Post::views(), 1);
        counts.await.unwrap();
        let seen = collect.take();
        let update = of(&seen, "update");
        assert_eq!(update.len(), 1, "{:?}", seen.spans);
        assert_eq!(field(update[0], "db.query.summary"), Some("update Post filter(title exact)"));

        db.transaction(|tx| {
            let key = key.clone();
            async move {
                let mut p = tx.get::<Post>(&key).await?.unwrap();
                p.views += 1;
                tx.save(&mut p).await
            }
        })
        .await
        .unwrap();
        let seen = collect.take();
        assert_eq!(of(&seen, "transaction").len(), 1, "{:?}", seen.spans);
        assert_eq!(of(&seen, "commit").len(), 1);
        assert_eq!(field(of(&seen, "transaction")[0], "db.system.name"), Some("embedded"));
    });
}

#[test]
fn a_conflicting_attempt_emits_a_retry_event() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(collect.clone());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let db = Database::in_memory().unwrap();
        let mut post = Post { id: None, views: 0, title: "t".into() };
        let key = db.save(&mut post).await.unwrap();
        let attempts = Arc::new(AtomicU64::new(0));
        let (outside, counted) = (db.clone(), attempts.clone());
        db.transaction(move |tx| {
            let (outside, key, counted) = (outside.clone(), key.clone(), counted.clone());
            async move {
                let mut p = tx.get::<Post>(&key).await?.unwrap();
                if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    // A write outside the transaction after its read: the first commit conflicts.
                    let mut other = p.clone();
                    other.views = 100;
                    outside.save(&mut other).await?;
                }
                p.views += 1;
                tx.save(&mut p).await
            }
        })
        .tries(3)
        .await
        .unwrap();
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        let seen = collect.take();
        assert_eq!(of(&seen, "transaction").len(), 2, "{:?}", seen.spans);
        let failed = of(&seen, "transaction")[0];
        assert_eq!(field(failed, "error.type"), Some(&*format!("{:?}", ErrorKind::Conflict)));
        let retry: Vec<&Fields> =
            seen.events.iter().filter(|e| field(e, "message") == Some("retry after conflict")).collect();
        assert_eq!(retry.len(), 1, "{:?}", seen.events);
        assert_eq!(field(retry[0], "attempt"), Some("2"));
        assert!(seen.events.iter().any(|e| field(e, "message") == Some("conflict")));
    });
}

#[test]
fn switched_off_no_span_is_made() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(collect.clone());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let db = Database::in_memory().unwrap();
        nonrel_runtime::trace::set_enabled(false);
        db.save(&mut Post { id: None, views: 1, title: "a".into() }).await.unwrap();
        nonrel_runtime::trace::set_enabled(true);
        assert!(collect.take().spans.is_empty());
    });
}
