//! The `filter` and `meta` arguments, read into the store's filters.

use std::str::FromStr;

use async_graphql::dynamic::ResolverContext;
use hoffnung_core::{DocumentViewId, FieldType, Hash, Schema};
use hoffnung_store::{Filter, FilterOp, Operand, Target};

use crate::error::invalid_argument;

/// The `filter` and `meta` arguments of a collection or subscription.
pub(crate) fn parse_filters(
    ctx: &ResolverContext<'_>,
    schema: &Schema,
) -> async_graphql::Result<Vec<Filter>> {
    let mut filters = Vec::new();
    if let Some(filter) = ctx.args.get("filter").filter(|v| !v.is_null()) {
        for (field, ops) in filter.object()?.iter() {
            let ty = schema
                .field(field.as_str())
                .ok_or_else(|| invalid_argument(format!("unknown field `{field}`")))?;
            parse_ops(
                &mut filters,
                Target::Field(field.to_string()),
                &ops,
                operand_kind(ty),
            )?;
        }
    }
    if let Some(meta) = ctx.args.get("meta").filter(|v| !v.is_null()) {
        for (field, ops) in meta.object()?.iter() {
            let (target, kind) = match field.as_str() {
                "documentId" => (Target::DocumentId, Kind::Hash),
                "viewId" => (Target::ViewId, Kind::ViewId),
                "owner" => (Target::Owner, Kind::PublicKey),
                "edited" => (Target::Edited, Kind::Bool),
                "deleted" => (Target::Deleted, Kind::Bool),
                other => return Err(invalid_argument(format!("unknown meta field `{other}`"))),
            };
            parse_ops(&mut filters, target, &ops, kind)?;
        }
    }
    Ok(filters)
}

/// How a filter value is read.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Bytes,
    Hash,
    ViewId,
    PublicKey,
}

fn operand_kind(ty: &FieldType) -> Kind {
    match ty {
        FieldType::Bool => Kind::Bool,
        FieldType::Int => Kind::Int,
        FieldType::Float => Kind::Float,
        FieldType::Str => Kind::Str,
        FieldType::Bytes => Kind::Bytes,
        FieldType::Relation(_) | FieldType::RelationList(_) => Kind::Hash,
        FieldType::PinnedRelation(_) | FieldType::PinnedRelationList(_) => Kind::ViewId,
    }
}

fn operand(
    v: &async_graphql::dynamic::ValueAccessor<'_>,
    kind: Kind,
) -> async_graphql::Result<Operand> {
    let bad = |e: String| invalid_argument(e);
    Ok(match kind {
        Kind::Bool => Operand::Bool(v.boolean()?),
        Kind::Int => Operand::Int(v.i64()?),
        Kind::Float => Operand::Float(v.f64()?),
        Kind::Str => Operand::Text(v.string()?.to_string()),
        Kind::Bytes => Operand::Bytes(
            hex::decode(v.string()?).map_err(|_| bad("expected a hex string".into()))?,
        ),
        Kind::Hash => Operand::Text(
            Hash::from_str(v.string()?)
                .map_err(|e| bad(e.to_string()))?
                .to_hex(),
        ),
        Kind::ViewId => Operand::Text(
            DocumentViewId::from_str(v.string()?)
                .map_err(|e| bad(e.to_string()))?
                .to_string(),
        ),
        Kind::PublicKey => Operand::Text(
            hoffnung_core::PublicKey::from_str(v.string()?)
                .map_err(|e| bad(e.to_string()))?
                .to_hex(),
        ),
    })
}

fn parse_ops(
    out: &mut Vec<Filter>,
    target: Target,
    ops: &async_graphql::dynamic::ValueAccessor<'_>,
    kind: Kind,
) -> async_graphql::Result<()> {
    if ops.is_null() {
        return Ok(());
    }
    for (op, value) in ops.object()?.iter() {
        if value.is_null() {
            continue;
        }
        let op = match op.as_str() {
            "eq" => FilterOp::Eq,
            "notEq" => FilterOp::NotEq,
            "in" => FilterOp::In,
            "notIn" => FilterOp::NotIn,
            "gt" => FilterOp::Gt,
            "gte" => FilterOp::Gte,
            "lt" => FilterOp::Lt,
            "lte" => FilterOp::Lte,
            "contains" => FilterOp::Contains,
            "notContains" => FilterOp::NotContains,
            other => return Err(invalid_argument(format!("unknown filter `{other}`"))),
        };
        let values = if matches!(op, FilterOp::In | FilterOp::NotIn) {
            value
                .list()?
                .iter()
                .map(|v| operand(&v, kind))
                .collect::<Result<_, _>>()?
        } else {
            vec![operand(&value, kind)?]
        };
        out.push(Filter {
            target: target.clone(),
            op,
            values,
        });
    }
    Ok(())
}
