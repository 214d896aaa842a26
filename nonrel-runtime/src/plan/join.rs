//! Joins and related selections as a plan describes them: conditions across a `Ref` and the
//! related records a query loads with its rows.

use crate::error::Result;
use crate::plan::{Filter, Plan, Projection};
use crate::schema::model::ModelDesc;
use std::borrow::Cow;

/// The `Ref` and related model of a two-step join condition.
#[derive(Debug, Clone)]
pub(crate) struct Via {
    pub(crate) reference: Cow<'static, str>,
    pub(crate) related: &'static ModelDesc,
    /// The emulated lookups the related model declares (its conditions are rewritten onto
    /// their index fields before they run).
    pub(crate) lookups: &'static [crate::schema::lookup::LookupDesc],
}

impl Via {
    pub(crate) fn with(self, filter: Filter) -> JoinFilter {
        JoinFilter { reference: self.reference, related: self.related, lookups: self.lookups, filters: vec![filter] }
    }
}

/// A lookup across a `Ref` run in two steps: `filters` on the related model give keys, then
/// `reference in keys` (or by MongoDB's `$lookup`).
#[derive(Clone)]
pub struct JoinFilter {
    pub(crate) reference: Cow<'static, str>,
    pub(crate) related: &'static ModelDesc,
    /// The emulated lookups `related` declares.
    pub(crate) lookups: &'static [crate::schema::lookup::LookupDesc],
    /// Conditions on the related model, all of which must hold: the one written, or the
    /// index-field conditions it was rewritten onto.
    pub(crate) filters: Vec<Filter>,
}

/// A related selection of a query: the `Ref` followed, the model it refers to, and the
/// fields loaded of it.
#[derive(Debug, Clone)]
pub struct Selection {
    pub(crate) reference: Cow<'static, str>,
    pub(crate) related: &'static ModelDesc,
    pub(crate) projection: Option<Projection>,
    /// How the related records are found: a `Ref` of the rows, a list of them, or the
    /// records of `related` that refer to the rows.
    pub(crate) kind: Kind,
}

/// The `Ref`, the related model by name and the conditions (what a page cursor's fingerprint
/// reads: nothing of the process, such as an address, enters it).
impl std::fmt::Debug for JoinFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinFilter")
            .field("reference", &self.reference)
            .field("related", &self.related.name)
            .field("filters", &self.filters)
            .finish()
    }
}

/// Equal when they follow the same `Ref` to the same model with the same conditions.
impl PartialEq for JoinFilter {
    fn eq(&self, other: &Self) -> bool {
        self.reference == other.reference
            && self.related.name == other.related.name
            && self.related.collection == other.related.collection
            && self.filters == other.filters
    }
}

impl JoinFilter {
    /// The stored path of the `Ref` followed.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The model the `Ref` refers to.
    pub fn related(&self) -> &'static ModelDesc {
        self.related
    }

    /// The conditions on the related records, all of which must hold (already rewritten onto
    /// the related model's declared index fields where the backend needs them).
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }
}

impl Selection {
    /// The stored path of the `Ref` the selection follows.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The model of the selected records.
    pub fn related(&self) -> &'static ModelDesc {
        self.related
    }

    /// The fields loaded of the selected records (`None`: all).
    pub fn projection(&self) -> Option<&Projection> {
        self.projection.as_ref()
    }

    /// Whether the selection follows one `Ref` (or `Option<Ref>`) of each row, the only kind
    /// a backend's joined query is given.
    pub fn is_single(&self) -> bool {
        matches!(self.kind, Kind::One)
    }

    /// The name the rows' related records are kept under.
    pub(crate) fn name(&self) -> String {
        match &self.kind {
            Kind::Reverse(_) => reverse_name(self.related, &self.reference),
            _ => self.reference.to_string(),
        }
    }
}

/// How a selection finds its related records.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// The record one `Ref` (or `Option<Ref>`) of the row refers to.
    One,
    /// The records a `Vec<Ref>` of the row refers to, in the list's order.
    Many,
    /// The records of the selection's model whose reference field refers to the row: the
    /// plan of their query (conditions, order, offset and limit per row), or the error met
    /// building it.
    Reverse(Box<Result<Plan>>),
}

/// The relation name a reverse set is kept under on a row: `<-` then the referring model's
/// collection and reference path (`<-posts.author`), which no field path can be.
pub(crate) fn reverse_name(holder: &ModelDesc, reference: &str) -> String {
    format!("<-{}.{}", holder.collection, reference)
}
