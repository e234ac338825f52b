//! Subscriptions (an addition to the upstream API, SPEC 13.3): for every
//! schema `all_<S>(filter, meta)` on the `Subscription` root delivers a
//! document each time a new current view of it is committed (the store's
//! change feed, which the materializer's writes fill)
//! that matches the filters (created or changed; deleted documents match
//! no filter, as in collections). Served over WebSocket (graphql-ws and
//! graphql-transport-ws) on `/graphql`.

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::dynamic::{
    FieldValue, InputValue, ResolverContext, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use hoffnung_core::Schema;
use hoffnung_store::{
    CollectionQuery, Filter, FilterOp, Operand, StoreError, Target, ViewChanges, ViewTable,
};
use tokio::sync::broadcast;

use crate::documents::{parse_filters, Doc};
use crate::error::{api_error, internal, invalid_argument, ErrorCode};
use crate::Api;

/// The subscription field of one schema.
pub(crate) fn field(schema: &Arc<Schema>) -> SubscriptionField {
    let name = schema.id().to_string();
    let description = format!(
        "Every new current view of a `{}` document that matches the filters, as it is materialized.",
        schema.id().name()
    );
    let schema = schema.clone();
    SubscriptionField::new(
        format!("all_{name}"),
        TypeRef::named_nn(name.clone()),
        move |ctx| {
            let schema = schema.clone();
            SubscriptionFieldFuture::new(async move { stream(ctx, schema).await })
        },
    )
    .description(description)
    .argument(InputValue::new(
        "filter",
        TypeRef::named(format!("{name}Filter")),
    ))
    .argument(InputValue::new(
        "meta",
        TypeRef::named("MetaFilterInputObject"),
    ))
}

struct State {
    api: Api,
    schema: Arc<Schema>,
    table: Arc<ViewTable>,
    filters: Vec<Filter>,
    events: broadcast::Receiver<Arc<ViewChanges>>,
    /// Documents of the last batch still to check.
    pending: VecDeque<hoffnung_core::DocumentId>,
}

async fn stream<'a>(
    ctx: ResolverContext<'a>,
    schema: Arc<Schema>,
) -> async_graphql::Result<impl futures::Stream<Item = async_graphql::Result<FieldValue<'a>>> + 'a>
{
    let api = ctx.data::<Api>()?.clone();
    if !api.views_maintained {
        return Err(api_error(
            ErrorCode::Unsupported,
            "this node runs without a materializer: nothing to subscribe to",
        ));
    }
    let events = api.store.view_changes();
    let filters = parse_filters(&ctx, &schema)?;
    let state = State {
        table: api.store.views().table(&schema),
        api,
        schema,
        filters,
        events,
        pending: VecDeque::new(),
    };
    Ok(futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(document) = s.pending.pop_front() {
                // The document as it is now, if it matches.
                let mut filters = s.filters.clone();
                filters.push(Filter {
                    target: Target::DocumentId,
                    op: FilterOp::Eq,
                    values: vec![Operand::Text(document.to_hex())],
                });
                let query = CollectionQuery {
                    filters,
                    order_by: Some(Target::DocumentId),
                    descending: false,
                    first: 1,
                    after: None,
                    list: None,
                };
                let page = match s.api.store.compile(&s.table, query) {
                    Ok(query) => query.fetch(&s.api.store).await,
                    Err(e) => Err(e),
                };
                match page {
                    Ok(page) => {
                        if let Some((row, _)) = page.rows.into_iter().next() {
                            let doc = Doc::current(s.schema.clone(), s.table.clone(), row);
                            return Some((Ok(FieldValue::owned_any(doc)), s));
                        }
                    }
                    Err(e @ StoreError::Query(_)) => {
                        return Some((Err(invalid_argument(e.to_string())), s))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "subscription query failed");
                        return Some((Err(internal("subscription query failed")), s));
                    }
                }
                continue;
            }
            match s.events.recv().await {
                Ok(batch) => s.pending.extend(
                    batch
                        .views
                        .iter()
                        .filter(|v| &v.schema_id == s.schema.id() && !v.is_deleted)
                        .map(|v| v.document_id),
                ),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // Too slow a reader: say so rather than skip silently.
                    return Some((
                        Err(api_error(
                            ErrorCode::SubscriptionLagged,
                            format!("{n} batches of changes were missed; query to catch up"),
                        )),
                        s,
                    ));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }))
}
