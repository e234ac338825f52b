//! Subscriptions (an addition to the upstream API, SPEC 13.3): for every
//! schema `all_<S>(filter, meta)` on the `Subscription` root delivers a
//! document each time a new current view of it is committed (the store's
//! change feed, which the materializer's writes fill)
//! that matches the filters (created or changed; deleted documents match
//! no filter, as in collections). Served over WebSocket (graphql-ws and
//! graphql-transport-ws) on `/graphql`. The node's [`SubscriptionHub`]
//! evaluates changes for all subscriptions; a stream here only registers
//! with it and turns what it receives into documents.

mod hub;

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::dynamic::{
    FieldValue, InputValue, ResolverContext, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use hoffnung_core::Schema;
use hoffnung_store::{CollectionQuery, StoreError, ViewRow, ViewTable};
use tokio::sync::mpsc;

pub use hub::{
    connection_data, ConnectionSubscriptions, SubscriptionHub, SubscriptionLimits,
    SubscriptionStats, DEFAULT_MAX_SUBSCRIPTIONS, DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
};

use crate::documents::{parse_filters, Doc};
use crate::error::{api_error, internal, invalid_argument, ErrorCode};
use crate::Api;
use hub::{Delivery, Registration};

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
    schema: Arc<Schema>,
    table: Arc<ViewTable>,
    deliveries: mpsc::Receiver<Delivery>,
    /// Documents of the last delivery still to hand out.
    pending: VecDeque<ViewRow>,
    /// Released when the stream is dropped.
    _registration: Registration,
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
    let filters = parse_filters(&ctx, &schema)?;
    let table = api.store.views().table(&schema);
    // Filters that do not fit the schema are refused now, not at each change.
    let check = CollectionQuery {
        filters: filters.clone(),
        order_by: None,
        descending: false,
        first: 1,
        after: None,
        list: None,
    };
    match api.store.compile(&table, check) {
        Ok(_) => {}
        Err(e @ StoreError::Query(_)) => return Err(invalid_argument(e.to_string())),
        Err(e) => {
            tracing::error!(error = %e, "subscription query failed");
            return Err(internal("subscription query failed"));
        }
    }
    let connection = ctx.data_opt::<ConnectionSubscriptions>();
    let (registration, deliveries) = api
        .subscriptions
        .subscribe(&schema, table.clone(), filters, connection)
        .map_err(|e| api_error(ErrorCode::TooManySubscriptions, e.to_string()))?;
    let state = State {
        schema,
        table,
        deliveries,
        pending: VecDeque::new(),
        _registration: registration,
    };
    Ok(futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(row) = s.pending.pop_front() {
                let doc = Doc::current(s.schema.clone(), s.table.clone(), Arc::new(row));
                return Some((Ok(FieldValue::owned_any(doc)), s));
            }
            match s.deliveries.recv().await? {
                Delivery::Docs(rows) => s.pending.extend(rows.iter().cloned()),
                Delivery::Lagged(n) => {
                    // Too slow a reader: say so rather than skip silently.
                    let e = api_error(
                        ErrorCode::SubscriptionLagged,
                        format!("{n} batches of changes were missed; query to catch up"),
                    );
                    return Some((Err(e), s));
                }
                Delivery::Failed => {
                    return Some((Err(internal("subscription query failed")), s));
                }
            }
        }
    }))
}
