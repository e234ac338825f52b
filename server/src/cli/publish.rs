//! `hoffnung schema create` and `hoffnung doc create|update|delete`: build
//! operations, sign them with the author key and publish them to a node.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use hoffnung_core::{
    DocumentViewId, FieldType, Fields, Hash, KeyPair, Operation, OperationValue, SchemaId,
};
use serde::Deserialize;
use serde_json::json;

use super::client::{fields_from_json, Client};

/// A schema as a person writes it (JSON or TOML).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFile {
    pub name: String,
    pub description: String,
    pub fields: Vec<FieldFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldFile {
    pub name: String,
    /// `str`, `int`, `float`, `bool`, `bytes`, `relation`, `relation_list`,
    /// `pinned_relation`, `pinned_relation_list` (with `schema`), or the full
    /// form `relation(<schema id>)`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The target of a relation field.
    pub schema: Option<String>,
}

impl SchemaFile {
    /// Reads a `.toml` or `.json` file (by extension; otherwise JSON, then TOML).
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let parsed = match ext {
            "toml" => toml::from_str(&text).map_err(|e| anyhow!("{e}")),
            "json" => serde_json::from_str(&text).map_err(|e| anyhow!("{e}")),
            _ => serde_json::from_str(&text)
                .map_err(|e| anyhow!("{e}"))
                .or_else(|_| toml::from_str(&text).map_err(|e| anyhow!("{e}"))),
        };
        parsed.with_context(|| format!("{} is not a valid schema description", path.display()))
    }

    /// The field types, checked.
    fn field_types(&self) -> anyhow::Result<Vec<(String, FieldType)>> {
        if !hoffnung_core::ids::is_valid_schema_name(&self.name) {
            bail!(
                "`{}` is not a valid schema name (2-64 characters: a letter first, then letters, digits or _, not ending in _)",
                self.name
            );
        }
        if self.fields.is_empty() {
            bail!("a schema needs at least one field");
        }
        self.fields
            .iter()
            .map(|f| {
                let full = match (&f.schema, f.ty.contains('(')) {
                    (Some(target), false) => format!("{}({target})", f.ty),
                    (None, _) | (Some(_), true) => f.ty.clone(),
                };
                let ty: FieldType = full
                    .parse()
                    .with_context(|| format!("field `{}`", f.name))?;
                if ty.relation_target().is_none() && f.schema.is_some() {
                    bail!("field `{}`: `schema` is only for relation types", f.name);
                }
                if !hoffnung_core::ids::is_valid_field_name(&f.name) {
                    bail!("`{}` is not a valid field name", f.name);
                }
                Ok((f.name.clone(), ty))
            })
            .collect()
    }
}

/// Publishes the field and definition documents; returns the schema id.
pub async fn create_schema(
    client: &Client,
    key: &KeyPair,
    file: &SchemaFile,
) -> anyhow::Result<SchemaId> {
    let fields = file.field_types()?;
    let mut field_views = Vec::with_capacity(fields.len());
    for (name, ty) in &fields {
        let mut f = Fields::new();
        f.insert("name".into(), OperationValue::Str(name.clone()));
        f.insert("type".into(), OperationValue::Str(ty.to_string()));
        let id = client
            .publish(
                key,
                &Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f),
            )
            .await
            .with_context(|| format!("publishing field `{name}`"))?;
        field_views.push(DocumentViewId::from_operation(id));
    }
    let mut f = Fields::new();
    f.insert("name".into(), OperationValue::Str(file.name.clone()));
    f.insert(
        "description".into(),
        OperationValue::Str(file.description.clone()),
    );
    f.insert(
        "fields".into(),
        OperationValue::PinnedRelationList(field_views),
    );
    let definition = client
        .publish(key, &Operation::create(SchemaId::SCHEMA_DEFINITION_V1, f))
        .await
        .context("publishing the schema definition")?;
    let id = SchemaId::application(&file.name, DocumentViewId::from_operation(definition))?;
    // Done when the node serves the schema: asking for one of its
    // documents fails until then. (Not `__type`: async-graphql answers it
    // by walking every type of the API, a cost that grows with each schema.)
    let query =
        format!("query Probe($id: String!) {{ {id}(id: $id) {{ meta {{ documentId }} }} }}");
    let key = id.to_string();
    client
        .wait_for(&query, json!({ "id": definition.to_string() }), |d| {
            d.get(&key).is_some()
        })
        .await
        .with_context(|| format!("the node did not take up schema {id}"))?;
    Ok(id)
}

/// What a `doc` subcommand does.
pub enum DocAction {
    Create {
        fields: serde_json::Value,
    },
    Update {
        document: Hash,
        previous: Option<DocumentViewId>,
        fields: serde_json::Value,
    },
    Delete {
        document: Hash,
        previous: Option<DocumentViewId>,
    },
}

/// Publishes a document operation; returns (document id, new view id).
pub async fn document(
    client: &Client,
    key: &KeyPair,
    schema_id: &SchemaId,
    action: DocAction,
    wait: bool,
) -> anyhow::Result<(Hash, Hash)> {
    let schema = client.schema(schema_id).await?;
    let (operation, document, deleted) = match action {
        DocAction::Create { fields } => {
            let fields = fields_from_json(&schema, &fields)?;
            let missing: Vec<&str> = schema
                .fields()
                .iter()
                .filter(|(n, _)| !fields.contains_key(n))
                .map(|(n, _)| n.as_str())
                .collect();
            if !missing.is_empty() {
                bail!(
                    "a new document needs every field; missing: {}",
                    missing.join(", ")
                );
            }
            (Operation::create(schema_id.clone(), fields), None, false)
        }
        DocAction::Update {
            document,
            previous,
            fields,
        } => {
            let fields = fields_from_json(&schema, &fields)?;
            if fields.is_empty() {
                bail!("an update needs at least one field");
            }
            let previous = match previous {
                Some(p) => p,
                None => client.current_view(schema_id, &document).await?,
            };
            (
                Operation::update(schema_id.clone(), previous, fields),
                Some(document),
                false,
            )
        }
        DocAction::Delete { document, previous } => {
            let previous = match previous {
                Some(p) => p,
                None => client.current_view(schema_id, &document).await?,
            };
            (
                Operation::delete(schema_id.clone(), previous),
                Some(document),
                true,
            )
        }
    };
    let operation_id = client.publish(key, &operation).await?;
    let document = document.unwrap_or(operation_id);
    if wait {
        client
            .wait_for_view(schema_id, &document, &operation_id, deleted)
            .await
            .context("published, but the node did not show the new view in time")?;
    }
    Ok((document, operation_id))
}
