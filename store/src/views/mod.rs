//! The materialized views: one set of tables per schema, the SQL that
//! creates, writes and reads them, and the materializer's cursor.
//!
//! For a schema the tables are `<t>` (the current view of every document,
//! typed columns per field, indexed for filtering and ordering),
//! `<t>__views` (views that were a document's current one, or that it
//! passed through, and that a current view pins, by view id: with `<t>` it
//! answers pinned relations and pinned lists; other views are collected as
//! they become unused, see `unused`; current views are not copied there,
//! which would double the rows a new document writes) and, if the schema has relation
//! lists, `<t>__lists` (one row per list item of current views, so lists
//! can be joined and filtered). Meta columns start with `_`; field columns
//! are `f<index>_<name>`, which no field name can clash with.

mod catalogue;
mod changes;
mod codec;
mod feed;
mod layout;
mod mysql_layout;
mod pieces;
mod purge;
mod read;
mod unused;
mod write;

pub use catalogue::ViewCatalogue;
pub use changes::{ChangedView, ViewChanges};
pub(crate) use changes::{PendingChanges, CHANGES_BUFFER};
pub use codec::ViewRow;
pub(crate) use codec::{decode_row, float_param, read_float};
pub use feed::StoredOperation;
pub use layout::ViewTable;
pub(crate) use layout::{hex_of, is_list, live_condition, quote, text_key, text_key_chars};
pub use pieces::UnusedPieces;
pub use purge::{Deletion, DroppedSchema};
pub use read::ViewKey;
pub use unused::{pinned_views, UnusedViews};
pub use write::{ViewBatch, ViewWriter};
