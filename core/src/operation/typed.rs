//! Typed operations: a [`PlainOperation`] checked against its [`Schema`],
//! its values typed by the schema's field types.

use crate::hash::Hash;
use crate::ids::{DocumentViewId, SchemaId};
use crate::operation::action::OperationAction;
use crate::operation::error::ValidationError;
use crate::operation::plain::{PlainOperation, PlainValue};
use crate::operation::system::check_system_fields;
use crate::schema::{FieldType, Schema};
use crate::value::{Fields, OperationValue};

/// An operation whose fields are typed by its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub action: OperationAction,
    pub schema_id: SchemaId,
    pub previous: Option<DocumentViewId>,
    pub fields: Option<Fields>,
}

impl Operation {
    pub fn create(schema_id: SchemaId, fields: Fields) -> Self {
        Self {
            action: OperationAction::Create,
            schema_id,
            previous: None,
            fields: Some(fields),
        }
    }

    pub fn update(schema_id: SchemaId, previous: DocumentViewId, fields: Fields) -> Self {
        Self {
            action: OperationAction::Update,
            schema_id,
            previous: Some(previous),
            fields: Some(fields),
        }
    }

    pub fn delete(schema_id: SchemaId, previous: DocumentViewId) -> Self {
        Self {
            action: OperationAction::Delete,
            schema_id,
            previous: Some(previous),
            fields: None,
        }
    }
}

impl PlainOperation {
    /// Checks the operation against its schema and types its fields.
    pub fn validate(&self, schema: &Schema) -> Result<Operation, ValidationError> {
        if &self.schema_id != schema.id() {
            return Err(ValidationError::SchemaMismatch {
                operation: self.schema_id.clone(),
                schema: schema.id().clone(),
            });
        }
        let fields = match &self.fields {
            None => None,
            Some(plain) => {
                if self.action == OperationAction::Create {
                    check_create_names(plain, schema)?;
                } else {
                    let unknown: Vec<String> = plain
                        .iter()
                        .filter(|(n, _)| schema.field(n).is_none())
                        .map(|(n, _)| n.clone())
                        .collect();
                    if !unknown.is_empty() {
                        return Err(ValidationError::UnexpectedFields(unknown));
                    }
                }
                let mut typed = Fields::new();
                for (name, value) in plain {
                    let ty = schema
                        .field(name)
                        .ok_or_else(|| ValidationError::UnexpectedFields(vec![name.clone()]))?;
                    typed.insert(name.clone(), type_value(name, value, ty)?);
                }
                if let SchemaId::System(kind, _) = schema.id() {
                    check_system_fields(*kind, &typed)?;
                }
                Some(typed)
            }
        };
        Ok(Operation {
            action: self.action,
            schema_id: self.schema_id.clone(),
            previous: self.previous.clone(),
            fields,
        })
    }
}

fn check_create_names(
    plain: &[(String, PlainValue)],
    schema: &Schema,
) -> Result<(), ValidationError> {
    let expected = schema.fields();
    if plain.len() == expected.len() {
        for ((found, _), (exp, _)) in plain.iter().zip(expected) {
            if found != exp {
                return Err(ValidationError::FieldNameMismatch {
                    found: found.clone(),
                    expected: exp.clone(),
                });
            }
        }
        return Ok(());
    }
    if let Some((name, ty)) = expected
        .iter()
        .find(|(n, _)| plain.binary_search_by(|(p, _)| p.as_str().cmp(n)).is_err())
    {
        if plain.len() < expected.len() {
            return Err(ValidationError::MissingField {
                name: name.clone(),
                ty: ty.clone(),
            });
        }
    }
    let unknown: Vec<String> = plain
        .iter()
        .filter(|(n, _)| schema.field(n).is_none())
        .map(|(n, _)| n.clone())
        .collect();
    Err(ValidationError::UnexpectedFields(unknown))
}

fn type_value(
    name: &str,
    value: &PlainValue,
    ty: &FieldType,
) -> Result<OperationValue, ValidationError> {
    let wrong = || ValidationError::InvalidFieldType {
        field: name.to_string(),
        found: value.type_name(),
        expected: ty.clone(),
    };
    let view_id = |ids: &[Hash]| {
        DocumentViewId::from_canonical(ids.to_vec()).map_err(|source| {
            ValidationError::NonCanonicalViewId {
                field: name.to_string(),
                source,
            }
        })
    };
    Ok(match (ty, value) {
        (FieldType::Bool, PlainValue::Bool(b)) => OperationValue::Bool(*b),
        (FieldType::Int, PlainValue::Int(i)) => OperationValue::Int(*i),
        (FieldType::Float, PlainValue::Float(f)) => OperationValue::Float(*f),
        (FieldType::Str, PlainValue::Str(s)) => OperationValue::Str(s.clone()),
        (FieldType::Bytes, PlainValue::Bytes(b)) => OperationValue::Bytes(b.clone()),
        (FieldType::Relation(_), PlainValue::Bytes(b)) => {
            OperationValue::Relation(Hash::from_bytes(b).map_err(|source| {
                ValidationError::InvalidRelation {
                    field: name.to_string(),
                    source,
                }
            })?)
        }
        (FieldType::RelationList(_), PlainValue::HashList(ids)) => {
            OperationValue::RelationList(ids.clone())
        }
        (FieldType::PinnedRelation(_), PlainValue::HashList(ids)) => {
            OperationValue::PinnedRelation(view_id(ids)?)
        }
        // `[]` is the empty list; upstream also turns a flat, non-empty hash
        // list into an empty list, silently losing it. We reject that.
        (FieldType::PinnedRelationList(_), PlainValue::HashList(ids)) if ids.is_empty() => {
            OperationValue::PinnedRelationList(Vec::new())
        }
        (FieldType::PinnedRelationList(_), PlainValue::HashListList(lists)) => {
            OperationValue::PinnedRelationList(
                lists.iter().map(|l| view_id(l)).collect::<Result<_, _>>()?,
            )
        }
        _ => return Err(wrong()),
    })
}
