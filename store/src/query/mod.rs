//! Collection queries on the view tables: filters, ordering and keyset
//! pagination compiled to SQL (no filtering in memory), for `all_<schema>`
//! queries and relation lists.

mod compile;
mod filter;
mod order;
mod scope;

use std::sync::Arc;

use hoffnung_core::{DocumentId, DocumentViewId, FieldType};

use crate::sql::{Backend, Param};
use crate::views::{ViewRow, ViewTable};

pub use compile::CompiledQuery;

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

/// A collection query on one schema's current views; compiled to SQL by
/// [`crate::Store::compile`].
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
pub enum ListScope {
    /// The list `field` of a document's current view, as the lists table of
    /// its schema (`owner`, from the catalogue) holds it: joined in SQL.
    Stored {
        owner: Arc<ViewTable>,
        document: DocumentId,
        field: String,
    },
    /// A relation list given item by item (a historic view's), in order.
    Documents(Vec<DocumentId>),
    /// A pinned relation list given item by item, in order.
    Views(Vec<DocumentViewId>),
}

impl ListScope {
    /// Whether the list names views (pinned) rather than documents: its
    /// items are then historic views, not current ones.
    pub fn pinned(&self) -> bool {
        match self {
            ListScope::Stored { owner, field, .. } => owner
                .column(field)
                .is_some_and(|c| matches!(c.ty, FieldType::PinnedRelationList(_))),
            ListScope::Documents(_) => false,
            ListScope::Views(_) => true,
        }
    }
}

/// A [`CollectionQuery`] with its list scope resolved to the tables and
/// columns that hold it: what the SQL is built from.
#[derive(Debug, Clone)]
struct Query {
    filters: Vec<Filter>,
    order_by: Option<Target>,
    descending: bool,
    first: u32,
    after: Option<Cursor>,
    list: Option<Scope>,
}

/// The items of one relation list of one document, resolved.
#[derive(Debug, Clone)]
struct Scope {
    items: Items,
    /// Pinned lists name views (`_view_id`), others documents.
    pinned: bool,
}

/// Where the items of a list come from.
#[derive(Debug, Clone)]
enum Items {
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
#[derive(Debug, Clone)]
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

/// Why a query does not fit its schema: the caller's mistake, shown to
/// API clients as it is (as [`crate::StoreError::Query`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    #[error("unknown field `{0}`")]
    UnknownField(String),
    #[error("{0:?} does not apply to a list")]
    NotForLists(FilterOp),
    #[error("a filter needs a value")]
    MissingValue,
    #[error("`contains` needs a string")]
    ContainsNeedsText,
    #[error("malformed cursor")]
    MalformedCursor,
}
