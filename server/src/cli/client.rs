//! A GraphQL client of any p2panda 0.8 node: `nextArgs`, `publish`, schema
//! lookups and plain queries. The client subcommands use only this.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use hoffnung_core::entry::NextArgs;
use hoffnung_core::{
    sign_entry, DocumentViewId, FieldType, Fields, Hash, KeyPair, Operation, OperationValue,
    Schema, SchemaId,
};
use serde_json::{json, Value};

/// How long a command waits for the node to show what it published.
pub const WAIT: Duration = Duration::from_secs(15);

pub struct Client {
    http: reqwest::Client,
    /// The GraphQL endpoint.
    url: String,
    /// The node's base URL (for `/status`).
    base: String,
}

impl Client {
    /// `node`: the node's base URL or its GraphQL endpoint.
    pub fn new(node: &str) -> anyhow::Result<Self> {
        let node = node.trim_end_matches('/');
        let base = node.strip_suffix("/graphql").unwrap_or(node).to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--node must be an http:// or https:// URL, got `{node}`");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            url: format!("{base}/graphql"),
            base,
        })
    }

    /// Runs a GraphQL request; GraphQL errors become an error with their
    /// messages (and codes, where the node gives them).
    pub async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self.raw_graphql(query, variables).await?;
        if let Some(errors) = response.get("errors").and_then(Value::as_array) {
            if !errors.is_empty() {
                bail!("{}", describe_errors(errors));
            }
        }
        Ok(response.get("data").cloned().unwrap_or(Value::Null))
    }

    /// The whole GraphQL response (`data` and `errors`).
    pub async fn raw_graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .with_context(|| format!("could not reach the node at {}", self.url))?;
        let status = response.status();
        let text = response.text().await?;
        serde_json::from_str(&text).map_err(|_| {
            anyhow!(
                "{} answered HTTP {status} without GraphQL JSON: {}",
                self.url,
                text.chars().take(200).collect::<String>()
            )
        })
    }

    /// The node's base URL (blobs are served beside `/graphql`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client (its timeout covers a whole request).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET /status` of a hoffnung node.
    pub async fn status(&self) -> anyhow::Result<Value> {
        let url = format!("{}/status", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("could not reach the node at {url}"))?;
        if !response.status().is_success() {
            bail!(
                "{url} answered HTTP {} (is this a hoffnung node?)",
                response.status()
            );
        }
        response
            .json()
            .await
            .with_context(|| format!("{url} did not answer with JSON (is this a hoffnung node?)"))
    }

    pub async fn next_args(
        &self,
        key: &KeyPair,
        view_id: Option<&DocumentViewId>,
    ) -> anyhow::Result<NextArgs> {
        const NEXT_ARGS: &str = "query NextArgs($publicKey: String!, $viewId: String) { nextArgs(publicKey: $publicKey, viewId: $viewId) { logId seqNum backlink skiplink } }";
        let data = self
            .graphql(
                NEXT_ARGS,
                json!({
                    "publicKey": key.public_key().to_hex(),
                    "viewId": view_id.map(|v| v.to_string()),
                }),
            )
            .await?;
        parse_next_args(&data["nextArgs"])
    }

    /// Signs and publishes `operation` with `key`; returns the operation id.
    pub async fn publish(&self, key: &KeyPair, operation: &Operation) -> anyhow::Result<Hash> {
        const PUBLISH: &str = "mutation Publish($entry: String!, $operation: String!) { publish(entry: $entry, operation: $operation) { logId seqNum backlink skiplink } }";
        let args = self.next_args(key, operation.previous.as_ref()).await?;
        let payload = operation.encode();
        let entry = sign_entry(key, &args, &payload).context("signing the entry")?;
        self.graphql(
            PUBLISH,
            json!({ "entry": entry.to_hex(), "operation": hex::encode(&payload) }),
        )
        .await
        .context("publish was refused")?;
        Ok(entry.hash())
    }

    /// The fields of a schema: system schemas are known; application
    /// schemas are read from the node's `schema_definition_v1` documents.
    pub async fn schema(&self, id: &SchemaId) -> anyhow::Result<Schema> {
        if let Some(schema) = Schema::system(id) {
            return Ok(schema);
        }
        let SchemaId::Application(_, view_id) = id else {
            bail!("unknown schema {id}");
        };
        // A schema has up to 1,024 fields, more than a node may send in one
        // page (this node's default limit is 10,000; others may allow fewer):
        // read them page by page.
        const QUERY: &str = "query Schema($viewId: String!, $after: Cursor) { schema_definition_v1(viewId: $viewId) { fields { description fields(first: 256, after: $after) { hasNextPage endCursor documents { fields { name type } } } } } }";
        let mut fields = Vec::new();
        let mut after: Option<String> = None;
        let def = loop {
            let data = self
                .wait_for(
                    QUERY,
                    json!({ "viewId": view_id.to_string(), "after": after }),
                    |d| !d["schema_definition_v1"].is_null(),
                )
                .await
                .with_context(|| format!("schema {id} is not known to the node"))?;
            let def = data["schema_definition_v1"]["fields"].clone();
            let page = &def["fields"];
            for doc in page["documents"]
                .as_array()
                .ok_or_else(|| anyhow!("the node sent a malformed schema definition"))?
            {
                let name = doc["fields"]["name"]
                    .as_str()
                    .ok_or_else(|| anyhow!("field definition without a name"))?;
                let ty = doc["fields"]["type"]
                    .as_str()
                    .ok_or_else(|| anyhow!("field definition without a type"))?;
                fields.push((name.to_string(), ty.parse()?));
            }
            match (page["hasNextPage"].as_bool(), page["endCursor"].as_str()) {
                (Some(true), Some(cursor))
                    if fields.len() <= hoffnung_core::schema::MAX_SCHEMA_FIELDS =>
                {
                    after = Some(cursor.to_string());
                }
                (Some(true), _) => bail!("the node sent a schema definition without end"),
                _ => break def,
            }
        };
        let description = def["description"].as_str().unwrap_or_default();
        Ok(Schema::new(id.clone(), description, fields)?)
    }

    /// Repeats `query` until `done` holds for its data (or [`WAIT`] passed).
    pub async fn wait_for(
        &self,
        query: &str,
        variables: Value,
        done: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(10);
        loop {
            let result = self.graphql(query, variables.clone()).await;
            match result {
                Ok(data) if done(&data) => return Ok(data),
                Ok(_) | Err(_) if start.elapsed() < WAIT => {}
                Ok(_) => bail!("the node did not show it within {} s", WAIT.as_secs()),
                Err(e) => return Err(e),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }

    /// Waits until the node's `<schema>(id)` shows the document at `view`
    /// (or, for a deleted document, shows it no more).
    pub async fn wait_for_view(
        &self,
        schema: &SchemaId,
        document: &Hash,
        view: &Hash,
        deleted: bool,
    ) -> anyhow::Result<()> {
        let query =
            format!("query Doc($id: String!) {{ {schema}(id: $id) {{ meta {{ viewId }} }} }}");
        let want = view.to_string();
        self.wait_for(&query, json!({ "id": document.to_string() }), |d| {
            let doc = &d[schema.to_string()];
            (deleted && doc.is_null()) || doc["meta"]["viewId"].as_str() == Some(want.as_str())
        })
        .await
        .map(|_| ())
    }

    /// The current view id of a document.
    pub async fn current_view(
        &self,
        schema: &SchemaId,
        document: &Hash,
    ) -> anyhow::Result<DocumentViewId> {
        let query =
            format!("query Doc($id: String!) {{ {schema}(id: $id) {{ meta {{ viewId }} }} }}");
        let data = self
            .wait_for(&query, json!({ "id": document.to_string() }), |d| {
                !d[schema.to_string()].is_null()
            })
            .await
            .with_context(|| format!("document {document} of {schema} is not on the node"))?;
        let view = data[schema.to_string()]["meta"]["viewId"]
            .as_str()
            .ok_or_else(|| anyhow!("the node sent no view id"))?;
        Ok(view.parse()?)
    }
}

fn describe_errors(errors: &[Value]) -> String {
    errors
        .iter()
        .map(|e| {
            let message = e["message"].as_str().unwrap_or("unknown error");
            match e["extensions"]["code"].as_str() {
                Some(code) => format!("{code}: {message}"),
                None => message.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn parse_next_args(v: &Value) -> anyhow::Result<NextArgs> {
    let number = |k: &str| -> anyhow::Result<u64> {
        v[k].as_str()
            .ok_or_else(|| anyhow!("nextArgs without {k}"))?
            .parse()
            .with_context(|| format!("nextArgs.{k}"))
    };
    let hash = |k: &str| -> anyhow::Result<Option<Hash>> {
        v[k].as_str()
            .map(|s| s.parse().with_context(|| format!("nextArgs.{k}")))
            .transpose()
    };
    Ok(NextArgs {
        log_id: number("logId")?,
        seq_num: number("seqNum")?,
        backlink: hash("backlink")?,
        skiplink: hash("skiplink")?,
    })
}

/// Turns `{"field": json value, …}` into operation fields typed by `schema`.
pub fn fields_from_json(schema: &Schema, json: &Value) -> anyhow::Result<Fields> {
    let object = json
        .as_object()
        .ok_or_else(|| anyhow!("fields must be a JSON object, like {{\"title\": \"hi\"}}"))?;
    let mut fields = Fields::new();
    for (name, value) in object {
        let ty = schema
            .fields()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| {
                let names: Vec<&str> = schema.fields().iter().map(|(n, _)| n.as_str()).collect();
                anyhow!(
                    "{} has no field `{name}` (its fields: {})",
                    schema.id(),
                    names.join(", ")
                )
            })?;
        let converted =
            value_from_json(ty, value).with_context(|| format!("field `{name}` ({ty})"))?;
        fields.insert(name.clone(), converted);
    }
    Ok(fields)
}

fn value_from_json(ty: &FieldType, v: &Value) -> anyhow::Result<OperationValue> {
    let string = || {
        v.as_str()
            .ok_or_else(|| anyhow!("expected a string, got {v}"))
    };
    let strings = || -> anyhow::Result<Vec<&str>> {
        v.as_array()
            .ok_or_else(|| anyhow!("expected an array of strings, got {v}"))?
            .iter()
            .map(|s| {
                s.as_str()
                    .ok_or_else(|| anyhow!("expected a string, got {s}"))
            })
            .collect()
    };
    Ok(match ty {
        FieldType::Bool => OperationValue::Bool(
            v.as_bool()
                .ok_or_else(|| anyhow!("expected true or false, got {v}"))?,
        ),
        FieldType::Int => OperationValue::Int(
            v.as_i64()
                .ok_or_else(|| anyhow!("expected an integer, got {v}"))?,
        ),
        FieldType::Float => OperationValue::Float(
            v.as_f64()
                .ok_or_else(|| anyhow!("expected a number, got {v}"))?,
        ),
        FieldType::Str => OperationValue::Str(string()?.to_string()),
        FieldType::Bytes => OperationValue::Bytes(
            hex::decode(string()?).context("bytes are given as a hex string")?,
        ),
        FieldType::Relation(_) => OperationValue::Relation(string()?.parse()?),
        FieldType::RelationList(_) => OperationValue::RelationList(
            strings()?
                .into_iter()
                .map(str::parse)
                .collect::<Result<_, _>>()?,
        ),
        FieldType::PinnedRelation(_) => OperationValue::PinnedRelation(string()?.parse()?),
        FieldType::PinnedRelationList(_) => OperationValue::PinnedRelationList(
            strings()?
                .into_iter()
                .map(str::parse)
                .collect::<Result<_, _>>()?,
        ),
    })
}
