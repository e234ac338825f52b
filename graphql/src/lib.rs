//! The GraphQL API, as p2panda 0.8 clients (p2panda-js, shirokuma) expect
//! it: `nextArgs(publicKey, viewId)` and `publish(entry, operation)`, with
//! upstream's type and argument names. Every error carries a stable
//! `extensions.code`; the mapping from domain errors lives in [`error`].
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod documents;
mod error;
mod forks;
mod limits;
mod live;
mod loader;
mod route;
mod subscriptions;

use std::sync::Arc;

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, Scalar, Schema,
    SchemaError, TypeRef,
};
use async_graphql::Value;
use hoffnung_core::entry::NextArgs;
use hoffnung_core::{DocumentViewId, PublicKey};
use hoffnung_schema_registry::{Pipeline, SchemaRegistry};
use hoffnung_store::Store;

pub use documents::{DEFAULT_MAX_PAGE, DEFAULT_PAGE};
pub use error::{api_error, domain_error, ApiError, ErrorCode};
use error::{invalid_argument, invalid_value};
pub use limits::MAX_PARSE_ERROR;
pub use live::{BuildStats, LiveSchema};
pub use subscriptions::{
    connection_data, ConnectionSubscriptions, SubscriptionHub, SubscriptionLimits,
    SubscriptionStats, DEFAULT_MAX_SUBSCRIPTIONS, DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
};

/// What resolvers need: the store and the registry to read, the ingest
/// pipeline to publish through.
#[derive(Clone)]
pub struct Api {
    pub store: Store,
    pub registry: Arc<SchemaRegistry>,
    /// The same store and registry's ingest pipeline.
    pub pipeline: Pipeline,
    /// Whether a materializer keeps the views (else subscriptions, which
    /// follow the store's view changes, would never hear of anything).
    pub views_maintained: bool,
    /// The largest page a collection query may ask for (`PAGE_TOO_LARGE`
    /// beyond it); [`DEFAULT_MAX_PAGE`] unless configured.
    pub max_page: u32,
    /// Evaluates the store's view changes for every subscription.
    pub subscriptions: SubscriptionHub,
}

const NEXT_ARGUMENTS: &str = "NextArguments";

/// Custom scalars of the p2panda API; all travel as strings.
const SCALARS: &[(&str, &str)] = &[
    ("PublicKey", "Ed25519 public key, 64 hex characters."),
    (
        "DocumentViewId",
        "Document view id: sorted operation ids joined by `_`.",
    ),
    (
        "EntryHash",
        "Hash of a Bamboo entry (an operation id), 68 hex characters.",
    ),
    ("EncodedEntry", "A signed Bamboo entry, hex-encoded."),
    ("EncodedOperation", "A CBOR operation, hex-encoded."),
    ("LogId", "Log id, a u64 as a decimal string."),
    ("SeqNum", "Sequence number, a u64 as a decimal string."),
    (
        "DocumentId",
        "Id of a document: the hash of its CREATE operation.",
    ),
    ("HexBytes", "Bytes as a hexadecimal string."),
    ("Cursor", "An opaque pagination cursor."),
];

/// Deepest selection a request may nest (GraphiQL's introspection needs 13).
pub const MAX_DEPTH: usize = 24;
/// Most fields a request may select.
pub const MAX_COMPLEXITY: usize = 5_000;

/// Builds the whole GraphQL API of the registry's schemas.
pub fn build_schema(api: Api) -> Result<Schema, SchemaError> {
    let schemas = queryable_schemas(&api.registry);
    build(api, schemas)
}

/// Builds the API of `schemas` (which must hold the relation targets of
/// each) and the part every build has: `nextArgs`, `publish`.
fn build(api: Api, schemas: Vec<Arc<hoffnung_core::Schema>>) -> Result<Schema, SchemaError> {
    let next_arguments = Object::new(NEXT_ARGUMENTS)
        .description("Arguments for the next entry of an author's log.")
        .field(next_args_field("logId", "LogId", true, |a| {
            Some(a.log_id.to_string())
        }))
        .field(next_args_field("seqNum", "SeqNum", true, |a| {
            Some(a.seq_num.to_string())
        }))
        .field(next_args_field("backlink", "EntryHash", false, |a| {
            a.backlink.map(|h| h.to_string())
        }))
        .field(next_args_field("skiplink", "EntryHash", false, |a| {
            a.skiplink.map(|h| h.to_string())
        }));

    let mut query = Object::new("Query").field(
        Field::new("nextArgs", TypeRef::named(NEXT_ARGUMENTS), |ctx| {
            FieldFuture::new(async move {
                let api = ctx.data::<Api>()?;
                let public_key: PublicKey = parse_arg(&ctx, "publicKey")?;
                let view_id: Option<DocumentViewId> = parse_opt_arg(&ctx, "viewId")?;
                let args = api
                    .store
                    .next_args(&public_key, view_id.as_ref())
                    .await
                    .map_err(|e| domain_error(e.code(), &e))?;
                Ok(Some(FieldValue::owned_any(args)))
            })
        })
        .description("Arguments to sign the next entry: for a new document, or (with `viewId`) for an operation on the document that view belongs to.")
        .argument(InputValue::new("publicKey", TypeRef::named_nn("PublicKey")))
        .argument(InputValue::new("viewId", TypeRef::named("DocumentViewId"))),
    );

    let mutation = Object::new("MutationRoot").field(
        Field::new("publish", TypeRef::named_nn(NEXT_ARGUMENTS), |ctx| {
            FieldFuture::new(async move {
                let api = ctx.data::<Api>()?;
                let entry = hex_arg(&ctx, "entry", "EncodedEntry")?;
                let operation = hex_arg(&ctx, "operation", "EncodedOperation")?;
                let ingested = api
                    .pipeline
                    .publish(&entry, &operation)
                    .await
                    .map_err(|e| domain_error(e.code(), &e))?;
                Ok(Some(FieldValue::owned_any(ingested.next_args)))
            })
        })
        .description("Publishes a signed entry and its operation; answers the arguments for the next entry in the same log.")
        .argument(InputValue::new("entry", TypeRef::named_nn("EncodedEntry")))
        .argument(InputValue::new("operation", TypeRef::named_nn("EncodedOperation"))),
    );

    let subscription_root = (!schemas.is_empty()).then_some("Subscription");
    let mut builder = Schema::build("Query", Some("MutationRoot"), subscription_root)
        .register(next_arguments)
        .register(mutation);
    builder = documents::register_shared(builder);
    let (b, q) = forks::register(builder, query);
    builder = b;
    query = q;
    let mut subscription = async_graphql::dynamic::Subscription::new("Subscription");
    for schema in schemas {
        let (b, single, all) = documents::register_schema(builder, &schema);
        builder = b;
        query = query.field(single).field(all);
        subscription = subscription.field(subscriptions::field(&schema));
    }
    if subscription_root.is_some() {
        builder = builder.register(subscription);
    }
    // Bounds on what one request may ask (relations can nest without end).
    let mut builder = builder
        .register(query)
        .data(api)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        // A build holds only the schemas a request names (see `live`), so
        // "did you mean" would depend on the build: none are given.
        .disable_suggestions()
        .extension(limits::RequestLimits);
    for (name, description) in SCALARS {
        builder = builder.register(
            Scalar::new(*name)
                .description(*description)
                .validator(is_string),
        );
    }
    builder.finish()
}

/// The active schemas whose relation targets are active too (a relation
/// to an unknown schema has no type to point at; such a schema joins the
/// API once its targets do).
fn queryable_schemas(registry: &SchemaRegistry) -> Vec<Arc<hoffnung_core::Schema>> {
    let mut schemas = registry.schemas();
    loop {
        let ids: std::collections::HashSet<_> = schemas.iter().map(|s| s.id().clone()).collect();
        let before = schemas.len();
        schemas.retain(|s| {
            s.fields()
                .iter()
                .all(|(_, ty)| ty.relation_target().is_none_or(|t| ids.contains(t)))
        });
        if schemas.len() == before {
            return schemas;
        }
    }
}

fn is_string(value: &Value) -> bool {
    matches!(value, Value::String(_))
}

fn next_args_field(
    name: &'static str,
    ty: &'static str,
    non_null: bool,
    get: fn(&NextArgs) -> Option<String>,
) -> Field {
    let ty = if non_null {
        TypeRef::named_nn(ty)
    } else {
        TypeRef::named(ty)
    };
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move {
            let args = ctx.parent_value.try_downcast_ref::<NextArgs>()?;
            Ok(get(args).map(|s| FieldValue::value(Value::String(s))))
        })
    })
}

fn string_arg<'a>(
    ctx: &'a ResolverContext<'_>,
    name: &str,
) -> Result<Option<&'a str>, async_graphql::Error> {
    match ctx.args.get(name) {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => v.string().map(Some),
    }
}

fn parse_opt_arg<T>(
    ctx: &ResolverContext<'_>,
    name: &str,
) -> Result<Option<T>, async_graphql::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    string_arg(ctx, name)?
        .map(|s| s.parse::<T>().map_err(|e| invalid_value(name, e)))
        .transpose()
}

fn parse_arg<T>(ctx: &ResolverContext<'_>, name: &str) -> Result<T, async_graphql::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    parse_opt_arg(ctx, name)?
        .ok_or_else(|| invalid_argument(format!("argument \"{name}\" is required")))
}

fn hex_arg(
    ctx: &ResolverContext<'_>,
    name: &str,
    ty: &str,
) -> Result<Vec<u8>, async_graphql::Error> {
    let s = string_arg(ctx, name)?.unwrap_or_default();
    // const-hex would strip a `0x` prefix, which p2panda does not accept.
    let decoded = match s.starts_with("0x") {
        true => Err(()),
        false => const_hex::decode(s).map_err(|_| ()),
    };
    decoded.map_err(|()| {
        api_error(
            ErrorCode::InvalidHex,
            format!(
                "Invalid value for argument \"{name}\", expected type \"{ty}\": not a hex string"
            ),
        )
    })
}
