//! Views that the batch's current views newly pin and that no row holds
//! here: one that was never a current view here (a branch a client saw),
//! or one collected as unused before something pinned it (see the store's
//! `views::unused`). Each is reduced from its document's operations and
//! written to history with the batch, so that pinned relations and pinned
//! lists (with their filters) find it.

use std::collections::{HashMap, HashSet};

use hoffnung_core::{reduce_to_view, DocumentView, DocumentViewId, FieldType, SchemaId};
use hoffnung_store::{pinned_views, SchemaSource};

use super::{load, Worker};
use crate::MaterializerError;

impl Worker {
    /// The views to add to history. `written`: the views the batch writes
    /// anyway; `until`: the batch's last entry.
    pub(super) async fn unstored_pins(
        &self,
        current: &[DocumentView],
        replaced: &[Option<DocumentView>],
        written: &HashSet<&DocumentViewId>,
        until: i64,
    ) -> Result<Vec<DocumentView>, MaterializerError> {
        let mut wanted: HashMap<SchemaId, HashSet<DocumentViewId>> = HashMap::new();
        for (view, before) in current.iter().zip(replaced) {
            let Some(schema) = self.registry.schema(&view.schema_id) else {
                continue;
            };
            for (field, ty) in schema.fields() {
                let (FieldType::PinnedRelation(target) | FieldType::PinnedRelationList(target)) =
                    ty
                else {
                    continue;
                };
                let had: HashSet<&DocumentViewId> =
                    before.iter().flat_map(|b| pinned_views(b, field)).collect();
                for v in pinned_views(view, field) {
                    if !had.contains(v) && !written.contains(v) {
                        wanted.entry(target.clone()).or_default().insert(v.clone());
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (schema_id, views) in wanted {
            let (Some(schema), Some(table)) = (
                self.registry.schema(&schema_id),
                self.writer.table(&schema_id),
            ) else {
                continue;
            };
            let views: Vec<&DocumentViewId> = views.iter().collect();
            let stored = self.store.stored_view_ids(&table, &views).await?;
            for view_id in views.into_iter().filter(|v| !stored.contains(*v)) {
                let Some(first) = view_id.ids().first() else {
                    continue;
                };
                let origin = self.store.operation_origin(first).await?;
                let Some((document, of_schema)) = origin.filter(|(_, s)| *s == schema_id) else {
                    // Not (yet) here, or not a view of this schema: nothing to keep.
                    continue;
                };
                let Some(ops) = load(&self.store, &document, &schema, until).await? else {
                    continue;
                };
                match reduce_to_view(&ops, view_id) {
                    Ok(view) => out.push(view),
                    Err(e) => {
                        tracing::debug!(view = %view_id, schema = %of_schema, error = %e, "a pinned view does not reduce")
                    }
                }
            }
        }
        Ok(out)
    }
}
