//! `#[field(index)]` and `#[field(index(icontains, month, regex = "..."))]`: a plain index,
//! the emulated lookups a field declares, or both (`index(exact, icontains)`).

use darling::ast::NestedMeta;
use darling::{Error, FromMeta, Result};
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitStr, Meta};

/// The lookups `index(...)` accepts besides `regex = "..."`; `exact` is the plain index.
pub const LOOKUPS: [&str; 10] =
    ["exact", "iexact", "istartswith", "endswith", "icontains", "search", "year", "month", "day", "week_day"];

/// Text lookups (declared on text fields) and date lookups (on date-time fields).
pub const TEXT_LOOKUPS: [&str; 5] = ["iexact", "istartswith", "endswith", "icontains", "search"];

/// A field's `index` declaration.
#[derive(Default)]
pub struct IndexAttr {
    span: Option<Span>,
    /// A plain index on the value (`index`, or `exact` in the list).
    pub plain: bool,
    /// The plain (or unique) index holds a copy of each record (`covering` in the list;
    /// implies the plain index).
    pub covering: bool,
    /// The plain (or unique) index keeps counts of its entries by blocks of values, for
    /// counts over a range (`counted` in the list; implies the plain index). Where it was
    /// written, for messages.
    pub counted: Option<Span>,
    /// The emulated lookups, by name, with where they are written.
    pub lookups: Vec<(String, Span)>,
    /// The declared `regex` patterns.
    pub patterns: Vec<LitStr>,
}

impl IndexAttr {
    /// Whether the field has an `index` attribute at all.
    pub fn is_present(&self) -> bool {
        self.span.is_some()
    }

    /// Whether lookup `name` is declared.
    pub fn declares(&self, name: &str) -> bool {
        self.lookups.iter().any(|(n, _)| n == name) || (name == "regex" && !self.patterns.is_empty())
    }

    /// Whether any emulated lookup is declared.
    pub fn has_lookups(&self) -> bool {
        !self.lookups.is_empty() || !self.patterns.is_empty()
    }

    /// Where the first emulated lookup is declared.
    pub fn first_lookup_span(&self) -> Option<Span> {
        self.lookups.first().map(|(_, s)| *s).or_else(|| self.patterns.first().map(LitStr::span))
    }

    fn add(&mut self, item: &NestedMeta) -> Result<()> {
        match item {
            NestedMeta::Meta(Meta::Path(p)) => {
                let name = p.get_ident().map(|i| i.to_string()).unwrap_or_default();
                if name == "covering" {
                    if self.covering {
                        return Err(Error::custom("`covering` is declared twice").with_span(p));
                    }
                    if self.plain {
                        return Err(Error::custom("`covering` declares the plain index; drop `exact`").with_span(p));
                    }
                    self.covering = true;
                    self.plain = true;
                    return Ok(());
                }
                if name == "counted" {
                    if self.counted.is_some() {
                        return Err(Error::custom("`counted` is declared twice").with_span(p));
                    }
                    // The plain index is set once the list is read, so `exact` and `covering`
                    // may still be written beside it.
                    self.counted = Some(p.span());
                    return Ok(());
                }
                if !LOOKUPS.contains(&name.as_str()) {
                    return Err(unknown(&name).with_span(p));
                }
                if name == "exact" && self.covering {
                    return Err(Error::custom("`covering` already declares the plain index; drop `exact`").with_span(p));
                }
                if name == "exact" && !self.plain {
                    self.plain = true;
                } else if name == "exact" || self.declares(&name) {
                    return Err(Error::custom(format!("`{name}` is declared twice")).with_span(p));
                } else {
                    self.lookups.push((name, p.span()));
                }
                Ok(())
            }
            NestedMeta::Meta(Meta::NameValue(nv)) if nv.path.is_ident("regex") => match &nv.value {
                Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => self.add_pattern(s),
                other => Err(Error::custom("`regex` takes a pattern string: `regex = \"^a.*z$\"`").with_span(other)),
            },
            NestedMeta::Meta(m) => {
                let name = m.path().get_ident().map(|i| i.to_string()).unwrap_or_default();
                Err(unknown(&name).with_span(m))
            }
            NestedMeta::Lit(l) => Err(unknown(&quote::quote!(#l).to_string()).with_span(l)),
        }
    }

    fn add_pattern(&mut self, s: &LitStr) -> Result<()> {
        let pattern = s.value();
        if self.patterns.iter().any(|p| p.value() == pattern) {
            return Err(Error::custom(format!("pattern {pattern:?} is declared twice")).with_span(s));
        }
        if let Err(e) = regex_syntax::Parser::new().parse(&pattern) {
            return Err(Error::custom(format!("invalid regex pattern {pattern:?}: {e}")).with_span(s));
        }
        self.patterns.push(s.clone());
        Ok(())
    }
}

fn unknown(name: &str) -> Error {
    Error::custom(format!(
        "unknown lookup `{name}` in `index(...)`; expected {}, `covering`, `counted`, or `regex = \"pattern\"`",
        LOOKUPS.map(|l| format!("`{l}`")).join(", ")
    ))
}

impl FromMeta for IndexAttr {
    fn from_meta(item: &Meta) -> Result<Self> {
        let mut attr = IndexAttr { span: Some(item.span()), ..IndexAttr::default() };
        match item {
            Meta::Path(_) => attr.plain = true,
            Meta::List(list) => {
                let items = NestedMeta::parse_meta_list(list.tokens.clone())?;
                if items.is_empty() {
                    let msg = "list the lookups to index, e.g. `index(icontains, month)`, or write `index`";
                    return Err(Error::custom(msg).with_span(list));
                }
                let mut errors = Error::accumulator();
                for item in &items {
                    errors.handle(attr.add(item));
                }
                errors.finish()?;
                attr.plain |= attr.counted.is_some();
            }
            Meta::NameValue(nv) => {
                let msg = "write `index` or `index(icontains, month, ...)`, not `index = ...`";
                return Err(Error::custom(msg).with_span(nv));
            }
        }
        Ok(attr)
    }
}
