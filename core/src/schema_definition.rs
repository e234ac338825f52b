//! Building an application schema from its materialized definition
//! documents: a `schema_definition_v1` view and the
//! `schema_field_definition_v1` views it pins.
//!
//! Apart from `schema` because it reads document views: `document` uses
//! `operation`, which uses `schema`, so the other way round would close a
//! cycle.

use crate::document::{DocumentView, ViewFields};
use crate::ids::{is_valid_schema_name, SchemaId};
use crate::schema::{FieldType, Schema, SchemaError};
use crate::value::OperationValue;

impl Schema {
    /// Builds an application schema from the view of its `schema_definition_v1`
    /// document and the views of the `schema_field_definition_v1` documents it
    /// pins (in any order; extra views are ignored).
    pub fn from_views(
        definition: &DocumentView,
        field_views: &[&DocumentView],
    ) -> Result<Schema, SchemaError> {
        let def_fields = definition_fields(definition, &SchemaId::SCHEMA_DEFINITION_V1)?;
        let name = match value(def_fields, "name") {
            Some(OperationValue::Str(s)) => s,
            _ => return Err(SchemaError::MalformedDefinition("name")),
        };
        let description = match value(def_fields, "description") {
            Some(OperationValue::Str(s)) => s,
            _ => return Err(SchemaError::MalformedDefinition("description")),
        };
        let pinned = match value(def_fields, "fields") {
            Some(OperationValue::PinnedRelationList(list)) => list,
            _ => return Err(SchemaError::MalformedDefinition("fields")),
        };
        if !is_valid_schema_name(name) {
            return Err(SchemaError::Name(name.clone()));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut fields = Vec::with_capacity(pinned.len());
        for view_id in pinned {
            if !seen.insert(view_id) {
                continue; // duplicates collapse
            }
            let view = field_views
                .iter()
                .find(|v| &v.view_id == view_id)
                .ok_or_else(|| SchemaError::MissingFieldDefinition(view_id.clone()))?;
            let f = definition_fields(view, &SchemaId::SCHEMA_FIELD_DEFINITION_V1)?;
            let (Some(OperationValue::Str(fname)), Some(OperationValue::Str(ftype))) =
                (value(f, "name"), value(f, "type"))
            else {
                return Err(SchemaError::MalformedDefinition("type"));
            };
            fields.push((fname.clone(), ftype.parse::<FieldType>()?));
        }
        let id = SchemaId::application(name, definition.view_id.clone())
            .map_err(|_| SchemaError::Name(name.clone()))?;
        Schema::new(id, description, fields)
    }
}

fn definition_fields<'a>(
    view: &'a DocumentView,
    expected: &SchemaId,
) -> Result<&'a ViewFields, SchemaError> {
    if &view.schema_id != expected {
        return Err(SchemaError::WrongSchema {
            found: view.schema_id.clone(),
            expected: expected.clone(),
        });
    }
    view.fields.as_ref().ok_or(SchemaError::Deleted)
}

fn value<'a>(fields: &'a ViewFields, name: &str) -> Option<&'a OperationValue> {
    fields.get(name).map(|f| &f.value)
}
