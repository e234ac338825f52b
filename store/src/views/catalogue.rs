//! The store's catalogue of view tables: each schema's layout built once
//! and shared, so that readers neither compute names nor hash schema ids
//! per request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hoffnung_core::{Schema, SchemaId};

use super::layout::ViewTable;

/// The view tables of the schemas this store was asked about, by schema
/// id ([`crate::Store::views`]). A schema id pins its fields (application
/// schemas name the view of their definition), so a layout never changes
/// once built.
#[derive(Debug, Default)]
pub struct ViewCatalogue {
    tables: RwLock<HashMap<SchemaId, Arc<ViewTable>>>,
}

impl ViewCatalogue {
    /// The view tables of `schema` (whether they exist yet is the
    /// materializer's business: see [`crate::ViewWriter::ensure_table`]).
    pub fn table(&self, schema: &Schema) -> Arc<ViewTable> {
        // A poisoned lock still holds complete entries: each is inserted
        // whole, after it was built.
        if let Some(t) = self
            .tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(schema.id())
        {
            return t.clone();
        }
        let built = Arc::new(ViewTable::for_schema(schema));
        self.tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(schema.id().clone())
            .or_insert(built)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoffnung_core::{DocumentViewId, FieldType, Hash};

    #[test]
    fn a_schema_is_laid_out_once() {
        let schema = Schema::new(
            SchemaId::application("note", DocumentViewId::from_operation(Hash::of(b"n"))).unwrap(),
            "notes",
            vec![("title".into(), FieldType::Str)],
        )
        .unwrap();
        let catalogue = ViewCatalogue::default();
        let first = catalogue.table(&schema);
        assert!(Arc::ptr_eq(&first, &catalogue.table(&schema)));
        assert_eq!(*first, ViewTable::for_schema(&schema));
    }
}
