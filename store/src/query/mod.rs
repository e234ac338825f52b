//! Collection queries on the view tables: filters, ordering and keyset
//! pagination compiled to SQL (no filtering in memory), for `all_<schema>`
//! queries and relation lists.

mod filter;
mod order;
mod run;
mod scope;

use crate::sql::{Backend, Param};
use crate::views::ViewRow;

/// A value to compare with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Strings, ids in their hex / view id string form.
    Text(String),
    Bytes(Vec<u8>),
}

impl Operand {
    fn param(&self, backend: Backend) -> Param {
        match self {
            Operand::Bool(b) => Param::Bool(Some(*b)),
            Operand::Int(i) => Param::Int(Some(*i)),
            Operand::Float(f) => crate::views::float_param(*f, backend),
            Operand::Text(s) => Param::Text(Some(s.clone())),
            Operand::Bytes(b) => Param::Blob(Some(b.clone())),
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    NotEq,
    In,
    NotIn,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    NotContains,
}

/// What a filter or the order looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    DocumentId,
    ViewId,
    Owner,
    Edited,
    Deleted,
    /// An application field, by name.
    Field(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub target: Target,
    pub op: FilterOp,
    /// One value, or the set of `In` / `NotIn`.
    pub values: Vec<Operand>,
}

/// Where a page starts: after the row with this order key and document id.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub key: Operand,
    pub document_id: String,
}

/// A collection query on one schema's current views.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionQuery {
    pub filters: Vec<Filter>,
    /// `None`: by document id (or, inside a relation list, by list position).
    pub order_by: Option<Target>,
    pub descending: bool,
    pub first: u32,
    pub after: Option<Cursor>,
    /// Only the documents a relation list names, in its order.
    pub list: Option<ListScope>,
}

/// The items of one relation list of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct ListScope {
    pub items: ListItems,
    /// Pinned lists name views (`_view_id`), others documents.
    pub pinned: bool,
}

/// Where the items of a list come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ListItems {
    /// The list of a current view, in the lists table of its schema.
    Stored {
        lists_table: String,
        owner_document: String,
        /// The list field's column name.
        column: String,
    },
    /// The items themselves (a historic view's list), in list order.
    Given(Vec<String>),
}

/// One page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub rows: Vec<(ViewRow, Cursor)>,
    pub has_next_page: bool,
}

/// SQL pieces with their parameters, in order.
struct Sql {
    text: String,
    params: Vec<Param>,
}

impl Sql {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }
    fn bind(&mut self, p: Param) {
        self.text.push('?');
        self.params.push(p);
    }
}

/// An error in a query that the caller should see (bad field, bad operand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);
