//! The resolvers: a field's value (relations through the request's
//! loader, relation lists as collections), a single document, and a
//! collection from its arguments.

use std::str::FromStr;
use std::sync::Arc;

use async_graphql::dynamic::{FieldValue, ResolverContext};
use async_graphql::Value;
use hoffnung_core::{DocumentViewId, FieldType, Hash, OperationValue, Schema, SchemaId};
use hoffnung_store::{
    CollectionQuery, ListScope, SchemaSource, Target, ViewKey, ViewRow, ViewTable,
};

use super::cursor::decode_cursor;
use super::filters::parse_filters;
use super::{Collection, Doc, DEFAULT_PAGE};
use crate::error::{api_error, internal, invalid_argument, invalid_value, store_error, ErrorCode};
use crate::loader::{read_one, Related, RelationKey};
use crate::Api;

pub(super) async fn resolve_value<'a>(
    ctx: &ResolverContext<'a>,
    doc: &Doc,
    name: &str,
    value: &OperationValue,
) -> async_graphql::Result<Option<FieldValue<'a>>> {
    let api = ctx.data::<Api>()?;
    let target_schema = |ty: Option<&FieldType>| -> async_graphql::Result<Arc<Schema>> {
        let id = ty
            .and_then(|t| t.relation_target())
            .ok_or_else(|| internal("relation without target"))?;
        api.registry
            .schema(id)
            .ok_or_else(|| api_error(ErrorCode::SchemaNotFound, format!("Schema not found: {id}")))
    };
    let field_type = doc.schema.field(name);
    Ok(match value {
        OperationValue::Bool(b) => Some(FieldValue::value(Value::Boolean(*b))),
        // The full i64 range, as upstream (beyond GraphQL's 32-bit Int).
        OperationValue::Int(i) => Some(FieldValue::value(Value::from(*i))),
        // Always with a fraction or an exponent (`1.0`, `1e100`), as upstream:
        // typed clients cast a Float strictly. NaN and infinities are `null`
        // (JSON has no such numbers), as upstream.
        OperationValue::Float(f) => Some(FieldValue::value(Value::from(*f))),
        OperationValue::Str(s) => Some(FieldValue::value(Value::String(s.clone()))),
        OperationValue::Bytes(b) => Some(FieldValue::value(Value::String(hex::encode(b)))),
        OperationValue::Relation(id) => {
            let schema = target_schema(field_type)?;
            let table = api.store.views().table(&schema);
            let row = load_related(ctx, api, &table, ViewKey::Document(*id)).await?;
            row.filter(|r| !r.is_deleted).map(|row| {
                FieldValue::owned_any(Doc {
                    schema,
                    table,
                    row,
                    current: true,
                    cursor: None,
                })
            })
        }
        OperationValue::PinnedRelation(view_id) => {
            let schema = target_schema(field_type)?;
            let table = api.store.views().table(&schema);
            let row = load_related(ctx, api, &table, ViewKey::View(view_id.clone())).await?;
            row.filter(|r| !r.is_deleted).map(|row| {
                FieldValue::owned_any(Doc {
                    schema,
                    table,
                    row,
                    current: false,
                    cursor: None,
                })
            })
        }
        OperationValue::RelationList(_) | OperationValue::PinnedRelationList(_) => {
            let schema = target_schema(field_type)?;
            let scope = match value {
                // A current view's list is in the lists table (joinable).
                _ if doc.current => ListScope::Stored {
                    owner: doc.table.clone(),
                    document: doc.row.document_id,
                    field: name.to_string(),
                },
                // A historic view's list: its own items.
                OperationValue::PinnedRelationList(l) => ListScope::Views(l.clone()),
                OperationValue::RelationList(l) => ListScope::Documents(l.clone()),
                _ => ListScope::Documents(Vec::new()),
            };
            Some(collection(ctx, schema, Some(scope)).await?)
        }
    })
}

/// A related document: prefetched with the page it belongs to, or read now.
async fn load_related(
    ctx: &ResolverContext<'_>,
    api: &Api,
    table: &Arc<ViewTable>,
    key: ViewKey,
) -> async_graphql::Result<Option<Arc<ViewRow>>> {
    let key = RelationKey {
        table: table.clone(),
        key,
    };
    let stored = match ctx.data_opt::<Related>() {
        Some(related) => related.get(&key).await,
        // Outside a request that keeps related rows (subscriptions).
        None => read_one(&api.store, &key).await,
    }
    .map_err(internal)?;
    match (stored, &key.key) {
        (None, ViewKey::View(view_id)) => Ok(computed_view(api, table.schema_id(), view_id)
            .await?
            .map(Arc::new)),
        (row, _) => Ok(row),
    }
}

/// A view that was never a current view here (so not stored): reduced
/// from the document's operations on request. `None` if the view id does
/// not name operations of one stored document of this schema.
async fn computed_view(
    api: &Api,
    schema_id: &SchemaId,
    view_id: &DocumentViewId,
) -> async_graphql::Result<Option<ViewRow>> {
    let Some(first) = view_id.ids().first() else {
        return Ok(None);
    };
    let Some((document, schema)) = api.store.operation_origin(first).await.map_err(internal)?
    else {
        return Ok(None);
    };
    if &schema != schema_id {
        return Ok(None);
    }
    let Some(schema) = api.registry.schema(schema_id) else {
        return Ok(None);
    };
    let ops = api
        .store
        .document_operations(&document, &schema)
        .await
        .map_err(internal)?;
    Ok(hoffnung_core::reduce_to_view(&ops, view_id)
        .ok()
        .map(|v| ViewRow::of(&v)))
}

pub(super) async fn single_document<'a>(
    ctx: &ResolverContext<'a>,
    schema: Arc<Schema>,
) -> async_graphql::Result<Option<FieldValue<'a>>> {
    let api = ctx.data::<Api>()?;
    let arg = |n: &str| {
        ctx.args
            .get(n)
            .filter(|v| !v.is_null())
            .map(|v| v.string().map(str::to_string))
            .transpose()
    };
    let (id, view_id) = (arg("id")?, arg("viewId")?);
    let table = api.store.views().table(&schema);
    let (row, current) = match (id, view_id) {
        (Some(_), Some(_)) => {
            return Err(invalid_argument(
                "Must only provide `id` or `viewId` argument",
            ))
        }
        (None, None) => {
            return Err(invalid_argument(
                "Must provide either `id` or `viewId` argument",
            ))
        }
        (Some(id), None) => {
            let id = Hash::from_str(&id).map_err(|e| invalid_value("id", e))?;
            let row = api
                .store
                .current_view(&table, &id)
                .await
                .map_err(internal)?;
            (row, true)
        }
        (None, Some(view_id)) => {
            let view_id =
                DocumentViewId::from_str(&view_id).map_err(|e| invalid_value("viewId", e))?;
            let row = match api
                .store
                .stored_view(&table, &view_id)
                .await
                .map_err(internal)?
            {
                Some(row) => Some(row),
                None => computed_view(api, schema.id(), &view_id).await?,
            };
            (row, false)
        }
    };
    let Some(row) = row.filter(|r| !r.is_deleted) else {
        return Ok(None);
    };
    prefetch(ctx, api, &schema, &[&row], ctx.look_ahead().field("fields")).await;
    Ok(Some(FieldValue::owned_any(Doc {
        schema,
        table,
        row: Arc::new(row),
        current,
        cursor: None,
    })))
}

/// Reads the relations that the request selects under `rows` (see
/// [`Related::prefetch`]), when the request keeps related rows.
async fn prefetch(
    ctx: &ResolverContext<'_>,
    api: &Api,
    schema: &Schema,
    rows: &[&ViewRow],
    fields: async_graphql::Lookahead<'_>,
) {
    if let Some(related) = ctx.data_opt::<Related>() {
        // A failed read only costs the batching: each relation field is
        // then read (and fails, or not) on its own.
        if let Err(e) = related.prefetch(&api.registry, schema, rows, fields).await {
            tracing::debug!(error = %e, "prefetching relations failed");
        }
    }
}

/// Resolves a collection (root `all_<S>` or a relation list) from the
/// field's arguments.
pub(super) async fn collection<'a>(
    ctx: &ResolverContext<'a>,
    schema: Arc<Schema>,
    list: Option<ListScope>,
) -> async_graphql::Result<FieldValue<'a>> {
    let api = ctx.data::<Api>()?;
    let table = api.store.views().table(&schema);
    let arg = |n: &str| ctx.args.get(n).filter(|v| !v.is_null());
    let page_size = |v: async_graphql::dynamic::ValueAccessor<'_>| -> async_graphql::Result<u32> {
        let n = v.i64()?;
        if n < 1 {
            // Upstream's message for `first: 0`.
            return Err(invalid_argument(
                "out of range integral type conversion attempted",
            ));
        }
        if n > i64::from(api.max_page) {
            let max = api.max_page;
            return Err(api_error(
                ErrorCode::PageTooLarge,
                format!("a page holds at most {max} documents, {n} were asked for"),
            ));
        }
        Ok(n as u32)
    };
    let backward = arg("last").is_some() || arg("before").is_some();
    if backward && arg("after").is_some() {
        return Err(invalid_argument(
            "use `first`/`after` or `last`/`before`, not both",
        ));
    }
    let first = match (backward, arg("first"), arg("last")) {
        (true, _, Some(v)) | (false, Some(v), _) => page_size(v)?,
        _ => DEFAULT_PAGE,
    };
    let filters = parse_filters(ctx, &schema)?;
    let order_by = match ctx.args.get("orderBy").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => Some(match v.enum_name()? {
            "DOCUMENT_ID" => Target::DocumentId,
            "DOCUMENT_VIEW_ID" => Target::ViewId,
            f => Target::Field(f.to_string()),
        }),
    };
    // Inside a list without `orderBy`, the list order; else document id.
    let order_by = match (&order_by, &list) {
        (None, None) => Some(Target::DocumentId),
        _ => order_by,
    };
    let descending = ctx
        .args
        .get("orderDirection")
        .filter(|v| !v.is_null())
        .map(|v| v.enum_name().map(|d| d == "DESC"))
        .transpose()?
        .unwrap_or(false);
    let cursor_arg = if backward { "before" } else { "after" };
    let after_raw = arg(cursor_arg)
        .map(|v| v.string().map(str::to_string))
        .transpose()?;
    let after = after_raw
        .as_deref()
        .map(|c| {
            decode_cursor(c).ok_or_else(|| {
                invalid_argument(format!(
                    "Invalid value for argument \"{cursor_arg}\", expected type \"Cursor\""
                ))
            })
        })
        .transpose()?;
    // Backwards: the page before the cursor is the page after it in the
    // opposite order, reversed.
    let descending = descending != backward;
    // Items of a pinned list are historic views; all others current ones.
    let current = list.as_ref().is_none_or(|l| !l.pinned());
    let has_after = after.is_some();
    let query = CollectionQuery {
        filters,
        order_by,
        descending,
        first,
        after,
        list,
    };
    let query = api.store.compile(&table, query).map_err(store_error)?;
    let mut page = query.fetch(&api.store).await.map_err(store_error)?;
    let (has_next_page, has_previous_page) = if backward {
        page.rows.reverse();
        // Something follows the `before` cursor: at least its own document.
        (has_after, page.has_next_page)
    } else {
        (page.has_next_page, false)
    };
    let rows: Vec<&ViewRow> = page.rows.iter().map(|(row, _)| row).collect();
    let fields = ctx.look_ahead().field("documents").field("fields");
    prefetch(ctx, api, &schema, &rows, fields).await;
    let docs = page
        .rows
        .into_iter()
        .map(|(row, cursor)| Doc {
            schema: schema.clone(),
            table: table.clone(),
            row: Arc::new(row),
            current,
            cursor: Some(cursor),
        })
        .collect();
    Ok(FieldValue::owned_any(Collection {
        query,
        docs,
        after: after_raw,
        has_next_page,
        has_previous_page,
    }))
}
