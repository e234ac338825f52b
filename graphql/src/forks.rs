//! `forks` and `forkedAuthors`: the proofs of forked logs this node holds
//! (an addition of hoffnung's; upstream has no such fields). A proof is two
//! encoded entries anyone can check (see `hoffnung_core::fork`).

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, TypeRef};
use async_graphql::Value;
use hoffnung_store::ForkRecord;

use crate::error::domain_error;
use crate::Api;

const FORK_PROOF: &str = "ForkProof";

/// The `ForkProof` type and the two root fields.
pub(crate) fn register(
    builder: async_graphql::dynamic::SchemaBuilder,
    query: Object,
) -> (async_graphql::dynamic::SchemaBuilder, Object) {
    let proof = Object::new(FORK_PROOF)
        .description("Two signed entries of one author and log that cannot both be in it: the log is frozen from `frozenFrom` on (nothing at or above it is accepted, served or materialized).")
        .field(text("publicKey", "PublicKey", |r| r.proof.public_key().to_string()))
        .field(text("logId", "LogId", |r| r.proof.log_id().to_string()))
        .field(text("frozenFrom", "SeqNum", |r| r.proof.frozen_from().to_string()))
        .field(text("kind", "String", |r| match r.proof.kind() {
            hoffnung_core::ForkKind::SamePosition => "SAME_POSITION".into(),
            hoffnung_core::ForkKind::Backlink => "BACKLINK".into(),
            hoffnung_core::ForkKind::Skiplink => "SKIPLINK".into(),
        }))
        .field(text("entryA", "EncodedEntry", |r| r.proof.a().to_hex()))
        .field(text("entryB", "EncodedEntry", |r| r.proof.b().to_hex()))
        .field(text("detectedAt", "String", |r| r.detected_at.to_string()));
    let forks = Field::new("forks", TypeRef::named_nn_list_nn(FORK_PROOF), |ctx| {
        FieldFuture::new(async move {
            let records = records(&ctx).await?;
            Ok(Some(FieldValue::list(
                records.into_iter().map(FieldValue::owned_any),
            )))
        })
    })
    .description("Proofs of forked logs this node holds, the latest learnt last.");
    let authors = Field::new(
        "forkedAuthors",
        TypeRef::named_nn_list_nn("PublicKey"),
        |ctx| {
            FieldFuture::new(async move {
                let records = records(&ctx).await?;
                let mut keys: Vec<String> = records
                    .iter()
                    .map(|r| r.proof.public_key().to_string())
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                Ok(Some(FieldValue::list(
                    keys.into_iter()
                        .map(|k| FieldValue::value(Value::String(k))),
                )))
            })
        },
    )
    .description("Authors with at least one forked log.");
    (builder.register(proof), query.field(forks).field(authors))
}

async fn records(
    ctx: &async_graphql::dynamic::ResolverContext<'_>,
) -> Result<Vec<ForkRecord>, async_graphql::Error> {
    let api = ctx.data::<Api>()?;
    api.store
        .forks()
        .await
        .map_err(|e| domain_error(e.code(), &e))
}

fn text(name: &'static str, ty: &'static str, get: fn(&ForkRecord) -> String) -> Field {
    Field::new(name, TypeRef::named_nn(ty), move |ctx| {
        FieldFuture::new(async move {
            let record = ctx.parent_value.try_downcast_ref::<ForkRecord>()?;
            Ok(Some(FieldValue::value(Value::String(get(record)))))
        })
    })
}
