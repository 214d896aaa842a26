//! The one error type of nonrel.

use std::fmt;

/// What went wrong, for callers that branch on the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A key string or key value that cannot be a key of the model (an empty natural
    /// string key included).
    InvalidKey,
    /// A stored document that does not have the shape the model expects, or malformed
    /// input: JSON, a dump line, BSON bytes, documents nested past
    /// [`MAX_DEPTH`](crate::core::codec::MAX_DEPTH).
    Decode,
    /// A value that cannot be stored (out of range, bad map key, ...).
    Encode,
    /// A document larger than the store accepts.
    TooLarge,
    /// `insert` of a key that already exists.
    DuplicateKey,
    /// A second record with the same value of a unique field.
    UniqueViolation,
    /// The database file is open in another process.
    Locked,
    /// The database file is damaged or is not a database.
    Corrupt,
    /// The store failed: I/O, a lost connection, an internal error.
    Storage,
    /// An index entry disagrees with its record.
    Integrity,
    /// A query the backend cannot run as written.
    Unsupported,
    /// A transaction kept conflicting with concurrent writes until its tries ran out;
    /// nothing it wrote was kept.
    Conflict,
    /// A page cursor that is damaged, truncated, or belongs to another query.
    InvalidCursor,
}

/// The error of every nonrel operation: a kind to match on and a message that names the
/// model, field, key and value involved.
///
/// ```
/// use nonrel_runtime::{ErrorKind, Key};
/// # #[derive(nonrel_runtime::Model)]
/// # struct User { #[field(key)] id: i64 }
/// let err = "ten".parse::<Key<User>>().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidKey);
/// assert!(err.to_string().contains("User"));
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    model: Option<&'static str>,
    field: Option<String>,
    key: Option<String>,
    item: Option<usize>,
    message: String,
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

/// `Result` with nonrel's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let inner =
            Inner { kind, model: None, field: None, key: None, item: None, message: message.into(), source: None };
        Error { inner: Box::new(inner) }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The model involved, if known.
    pub fn model(&self) -> Option<&'static str> {
        self.inner.model
    }

    /// The field (a dotted path) involved, if known.
    pub fn field(&self) -> Option<&str> {
        self.inner.field.as_deref()
    }

    /// The key of the record involved, in its URL-safe form, if known.
    pub fn key(&self) -> Option<&str> {
        self.inner.key.as_deref()
    }

    /// The position of the failed item in a batch; nothing in the batch was written unless
    /// the operation says otherwise.
    pub fn item(&self) -> Option<usize> {
        self.inner.item
    }

    /// Names the position of the failed item in a batch.
    pub fn with_item(mut self, item: usize) -> Self {
        self.inner.item = Some(item);
        self
    }

    /// Drops the batch position (for a batch of one written on the caller's behalf).
    pub(crate) fn without_item(mut self) -> Self {
        self.inner.item = None;
        self
    }

    /// The message without the model, field and key context.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Names the model, unless a model is already named.
    pub fn with_model(mut self, model: &'static str) -> Self {
        self.inner.model.get_or_insert(model);
        self
    }

    /// Names the field, prefixing a field already named (so nested paths read outside-in).
    /// A name longer than an error message quotes (a member name read from input) is cut
    /// to its first characters.
    pub fn with_field(mut self, field: &str) -> Self {
        let field = short(field);
        self.inner.field = Some(match self.inner.field.take() {
            Some(inner) if inner.starts_with('[') => format!("{field}{inner}"),
            Some(inner) => format!("{field}.{inner}"),
            None => field.into_owned(),
        });
        self
    }

    /// Names the key, unless a key is already named; a key longer than an error message
    /// quotes is cut to its first characters.
    pub fn with_key(mut self, key: impl fmt::Display) -> Self {
        if self.inner.key.is_none() {
            self.inner.key = Some(short(&key.to_string()).into_owned());
        }
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(std::sync::Arc::new(source));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        if let Some(model) = i.model {
            write!(f, "{model}")?;
            if let Some(field) = &i.field {
                write!(f, ".{field}")?;
            }
            if let Some(key) = &i.key {
                write!(f, " (key {key})")?;
            }
            f.write_str(": ")?;
        } else if let Some(field) = &i.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&i.message)?;
        if let Some(item) = i.item {
            write!(f, " (item {item} of the batch)")?;
        }
        if let Some(source) = &i.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error").field("kind", &self.inner.kind).field("message", &self.to_string()).finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// A name or key as an error message shows it: whole when short, else its first characters
/// and its length.
pub(crate) fn short(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(ECHO_CHARS) {
        None => std::borrow::Cow::Borrowed(s),
        Some((end, _)) => std::borrow::Cow::Owned(format!("{}… ({} bytes)", &s[..end], s.len())),
    }
}

/// How much of an input an error message quotes.
const ECHO_CHARS: usize = 64;

/// Input quoted in an error message: the text in quotes when short, else its first
/// characters and its length, so a megabyte of garbage never becomes a megabyte of message.
pub(crate) fn echo(input: &str) -> String {
    match input.char_indices().nth(ECHO_CHARS) {
        None => format!("{input:?}"),
        Some((end, _)) => format!("{:?}… ({} bytes)", &input[..end], input.len()),
    }
}
