//! The per-schema part of the API, generated from the active schemas:
//! `<S>(id | viewId)`, `all_<S>(filter, meta, orderBy, orderDirection,
//! first, after)` and the types they return, with upstream's names
//! (SPEC 9.3). Collections and relation lists compile to SQL through the
//! store's query builder.

mod cursor;
mod filters;
mod resolve;
mod types;

use std::sync::Arc;

use hoffnung_core::{Schema, SchemaId};
use hoffnung_store::{CompiledQuery, Cursor, ViewRow, ViewTable};

pub(crate) use filters::parse_filters;
pub(crate) use types::{register_schema, register_shared};

/// Page size when a query names none.
pub const DEFAULT_PAGE: u32 = 25;
/// Largest page by default ([`Api::max_page`]): apps load whole collections
/// of a few thousand documents in one page, as upstream allows.
pub const DEFAULT_MAX_PAGE: u32 = 10_000;

/// A document (current or historic view) as the resolvers pass it on.
pub(crate) struct Doc {
    schema: Arc<Schema>,
    table: Arc<ViewTable>,
    /// Shared with the request's related rows: a relation resolves without
    /// copying the row.
    row: Arc<ViewRow>,
    /// Whether `row` is the document's current view (relation lists of
    /// current views are joined in SQL).
    current: bool,
    /// Its position in a collection (encoded only if asked for).
    cursor: Option<Cursor>,
}

impl Doc {
    /// A document's current view.
    pub(crate) fn current(schema: Arc<Schema>, table: Arc<ViewTable>, row: Arc<ViewRow>) -> Self {
        Self {
            schema,
            table,
            row,
            current: true,
            cursor: None,
        }
    }
}

/// A page of a collection, and how to count all of it.
struct Collection {
    /// The compiled query; `totalCount` counts with it.
    query: CompiledQuery,
    /// The page's documents in the requested order, each with its cursor.
    docs: Vec<Doc>,
    /// For an empty page: the cursor the page started from.
    after: Option<String>,
    has_next_page: bool,
    has_previous_page: bool,
}

fn item_type(schema: &SchemaId) -> String {
    format!("{schema}Item")
}
