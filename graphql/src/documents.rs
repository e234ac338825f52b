//! The per-schema part of the API, generated from the active schemas:
//! `<S>(id | viewId)`, `all_<S>(filter, meta, orderBy, orderDirection,
//! first, after)` and the types they return, with upstream's names
//! (SPEC 9.3). Collections and relation lists compile to SQL through the
//! store's query builder.

use std::str::FromStr;
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext,
    SchemaBuilder, TypeRef,
};
use async_graphql::Value;
use hoffnung_core::{DocumentViewId, FieldType, Hash, OperationValue, Schema, SchemaId};
use hoffnung_store::{
    CollectionQuery, Cursor, Filter, FilterOp, ListItems, ListScope, Operand, SchemaSource, Target,
    ViewRow, ViewTable,
};

use crate::error::{api_error, bad_query, internal, invalid_argument, invalid_value, ErrorCode};
use crate::loader::{RelationKey, RelationLoader};
use crate::Api;
use async_graphql::dataloader::DataLoader;

/// Page size when a query names none.
pub const DEFAULT_PAGE: u32 = 25;
/// Largest page by default ([`Api::max_page`]): apps load whole collections
/// of a few thousand documents in one page, as upstream allows.
pub const DEFAULT_MAX_PAGE: u32 = 10_000;

/// A document (current or historic view) as the resolvers pass it on.
pub(crate) struct Doc {
    schema: Arc<Schema>,
    table: Arc<ViewTable>,
    row: ViewRow,
    /// Whether `row` is the document's current view (relation lists of
    /// current views are joined in SQL).
    current: bool,
    /// Its position in a collection (encoded only if asked for).
    cursor: Option<Cursor>,
}

impl Doc {
    /// A document's current view.
    pub(crate) fn current(schema: Arc<Schema>, table: Arc<ViewTable>, row: ViewRow) -> Self {
        Self {
            schema,
            table,
            row,
            current: true,
            cursor: None,
        }
    }
}

/// A page of a collection, and how to count all of it.
struct Collection {
    table: Arc<ViewTable>,
    query: CollectionQuery,
    /// The page's documents in the requested order, each with its cursor.
    docs: Vec<Doc>,
    /// For an empty page: the cursor the page started from.
    after: Option<String>,
    has_next_page: bool,
    has_previous_page: bool,
}

fn item_type(schema: &SchemaId) -> String {
    format!("{schema}Item")
}

/// Registers the shared types (filters, meta, order direction).
pub(crate) fn register_shared(mut builder: SchemaBuilder) -> SchemaBuilder {
    let filter = |name: &str, ty: &str, ops: &[&str]| {
        let mut o = InputObject::new(name);
        for op in ops {
            let t = if *op == "in" || *op == "notIn" {
                TypeRef::named_nn_list(ty)
            } else {
                TypeRef::named(ty)
            };
            o = o.field(InputValue::new(*op, t));
        }
        o
    };
    let ordered = ["in", "notIn", "eq", "notEq", "gte", "gt", "lte", "lt"];
    let eq_in = ["in", "notIn", "eq", "notEq"];
    for o in [
        filter("BooleanFilter", TypeRef::BOOLEAN, &["eq", "notEq"]),
        filter("IntegerFilter", TypeRef::INT, &ordered),
        filter("FloatFilter", TypeRef::FLOAT, &ordered),
        filter(
            "StringFilter",
            TypeRef::STRING,
            &[
                "in",
                "notIn",
                "eq",
                "notEq",
                "gte",
                "gt",
                "lte",
                "lt",
                "contains",
                "notContains",
            ],
        ),
        filter("HexBytesFilter", "HexBytes", &["eq", "notEq"]),
        filter(
            "RelationFilter",
            "DocumentId",
            &["eq", "notEq", "in", "notIn"],
        ),
        filter(
            "PinnedRelationFilter",
            "DocumentViewId",
            &["eq", "notEq", "in", "notIn"],
        ),
        filter("RelationListFilter", "DocumentId", &["in", "notIn"]),
        filter(
            "PinnedRelationListFilter",
            "DocumentViewId",
            &["in", "notIn"],
        ),
        filter("DocumentIdFilter", "DocumentId", &eq_in),
        filter("DocumentViewIdFilter", "DocumentViewId", &eq_in),
        filter("OwnerFilter", "PublicKey", &eq_in),
    ] {
        builder = builder.register(o);
    }
    builder = builder.register(
        InputObject::new("MetaFilterInputObject")
            .description("Filter input object containing all meta fields a collection of documents can be filtered by.")
            .field(InputValue::new("documentId", TypeRef::named("DocumentIdFilter")))
            .field(InputValue::new("viewId", TypeRef::named("DocumentViewIdFilter")))
            .field(InputValue::new("owner", TypeRef::named("OwnerFilter")))
            .field(InputValue::new("edited", TypeRef::named("BooleanFilter")))
            .field(InputValue::new("deleted", TypeRef::named("BooleanFilter"))),
    );
    builder = builder.register(Enum::new("OrderDirection").item("ASC").item("DESC"));
    let meta_field = |name: &'static str, ty: &'static str, get: fn(&ViewRow) -> Value| {
        Field::new(name, TypeRef::named_nn(ty), move |ctx| {
            FieldFuture::new(async move {
                let doc = ctx.parent_value.try_downcast_ref::<Doc>()?;
                Ok(Some(FieldValue::value(get(&doc.row))))
            })
        })
    };
    builder.register(
        Object::new("DocumentMeta")
            .field(meta_field("documentId", "DocumentId", |r| {
                Value::String(r.document_id.to_hex())
            }))
            .field(meta_field("viewId", "DocumentViewId", |r| {
                Value::String(r.view_id.to_string())
            }))
            .field(meta_field("owner", "PublicKey", |r| {
                Value::String(r.owner.to_hex())
            }))
            // Additions (SPEC 13.3): new fields, existing ones unchanged.
            .field(meta_field("isEdited", TypeRef::BOOLEAN, |r| {
                Value::Boolean(r.is_edited)
            }))
            .field(meta_field("isDeleted", TypeRef::BOOLEAN, |r| {
                Value::Boolean(r.is_deleted)
            })),
    )
}

/// Registers the types of one schema and returns its two root query fields.
pub(crate) fn register_schema(
    mut builder: SchemaBuilder,
    schema: &Arc<Schema>,
) -> (SchemaBuilder, Field, Field) {
    let id = schema.id().clone();
    let name = id.to_string();
    let short = id.name().to_string();

    // <S>Fields
    let mut fields = Object::new(format!("{name}Fields"))
        .description(format!("The application fields of a `{short}` document."));
    for (field, ty) in schema.fields() {
        fields = fields.field(value_field(field, ty));
    }
    // <S>, <S>Item
    let document = Object::new(name.clone())
        .description(schema.description())
        .field(fields_field(&name, &short))
        .field(meta_field(&short));
    let item = Object::new(item_type(&id))
        .description(schema.description())
        .field(fields_field(&name, &short))
        .field(meta_field(&short))
        .field(
            Field::new("cursor", TypeRef::named(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    let doc = ctx.parent_value.try_downcast_ref::<Doc>()?;
                    Ok(doc
                        .cursor
                        .as_ref()
                        .map(|c| FieldValue::value(Value::String(encode_cursor(c)))))
                })
            })
            .description(format!(
                "The pagination cursor for this `{short}` document."
            )),
        );
    // <S>Collection
    let collection_type = Object::new(format!("{name}Collection"))
        .description(format!(
            "A single page response returned when querying a collection of `{short}` documents."
        ))
        .field(
            Field::new("totalCount", TypeRef::named_nn(TypeRef::INT), |ctx| {
                FieldFuture::new(async move {
                    let c = ctx.parent_value.try_downcast_ref::<Collection>()?;
                    let api = ctx.data::<Api>()?;
                    let mut query = c.query.clone();
                    query.after = None;
                    let n = api
                        .store
                        .count_collection(&c.table, &query)
                        .await
                        .map_err(internal)?
                        .map_err(bad_query)?;
                    Ok(Some(FieldValue::value(Value::from(n))))
                })
            })
            .description("The total number of documents available in this paginated collection."),
        )
        .field(
            Field::new("endCursor", TypeRef::named_nn(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    let c = ctx.parent_value.try_downcast_ref::<Collection>()?;
                    // An empty page ends where it started (upstream answers
                    // null here despite `String!`, SPEC 13.3).
                    let end = match c.docs.last().and_then(|d| d.cursor.as_ref()) {
                        Some(cursor) => encode_cursor(cursor),
                        None => c.after.clone().unwrap_or_default(),
                    };
                    Ok(Some(FieldValue::value(Value::String(end))))
                })
            })
            .description("Cursor for the next page"),
        )
        .field(
            Field::new("hasNextPage", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
                FieldFuture::new(async move {
                    let c = ctx.parent_value.try_downcast_ref::<Collection>()?;
                    Ok(Some(FieldValue::value(Value::Boolean(c.has_next_page))))
                })
            })
            .description(
                "Boolean value denoting whether there is a next page available on this query.",
            ),
        )
        // Additions (SPEC 13.3): backward pagination.
        .field(
            Field::new(
                "hasPreviousPage",
                TypeRef::named_nn(TypeRef::BOOLEAN),
                |ctx| {
                    FieldFuture::new(async move {
                        let c = ctx.parent_value.try_downcast_ref::<Collection>()?;
                        Ok(Some(FieldValue::value(Value::Boolean(c.has_previous_page))))
                    })
                },
            )
            .description("Whether there are documents before this page (with `last`/`before`)."),
        )
        .field(
            Field::new("startCursor", TypeRef::named(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    let c = ctx.parent_value.try_downcast_ref::<Collection>()?;
                    Ok(c.docs
                        .first()
                        .and_then(|d| d.cursor.as_ref())
                        .map(|cursor| FieldValue::value(Value::String(encode_cursor(cursor)))))
                })
            })
            .description("Cursor of the first document of this page, for `before`."),
        )
        .field(
            Field::new(
                "documents",
                TypeRef::named_nn_list_nn(item_type(&id)),
                |ctx| {
                    FieldFuture::new(async move {
                        let c = ctx.parent_value.try_downcast_ref::<Collection>()?;
                        Ok(Some(FieldValue::list(
                            c.docs.iter().map(|d| FieldValue::borrowed_any(d)),
                        )))
                    })
                },
            )
            .description("Field containing the actual document fields."),
        );
    // <S>Filter, <S>OrderBy
    let mut filter = InputObject::new(format!("{name}Filter"));
    let mut order = Enum::new(format!("{name}OrderBy"))
        .item("DOCUMENT_ID")
        .item("DOCUMENT_VIEW_ID");
    for (field, ty) in schema.fields() {
        filter = filter.field(InputValue::new(
            field.as_str(),
            TypeRef::named(filter_type(ty)),
        ));
        order = order.item(field.as_str());
    }
    builder = builder
        .register(fields)
        .register(document)
        .register(item)
        .register(collection_type)
        .register(filter)
        .register(order);

    let single = {
        let schema = schema.clone();
        Field::new(name.clone(), TypeRef::named(name.clone()), move |ctx| {
            let schema = schema.clone();
            FieldFuture::new(async move { single_document(&ctx, schema).await })
        })
        .description(format!("Query a {short} document by id or view id."))
        .argument(
            InputValue::new("id", TypeRef::named("DocumentId"))
                .description("Specify the id of the document to be retrieved"),
        )
        .argument(
            InputValue::new("viewId", TypeRef::named("DocumentViewId"))
                .description("Specify the view id of the document to be retrieved"),
        )
    };
    let all = {
        let schema = schema.clone();
        collection_args(
            Field::new(
                format!("all_{name}"),
                TypeRef::named_nn(format!("{name}Collection")),
                move |ctx| {
                    let schema = schema.clone();
                    FieldFuture::new(async move {
                        let table = Arc::new(ViewTable::for_schema(&schema));
                        collection(&ctx, schema, table, None).await.map(Some)
                    })
                },
            )
            .description(format!(
                "Get all {name} documents with pagination, ordering and filtering."
            )),
            &name,
        )
    };
    (builder, single, all)
}

fn collection_args(field: Field, name: &str) -> Field {
    field
        .argument(
            InputValue::new("filter", TypeRef::named(format!("{name}Filter")))
                .description("Filter the query based on field values"),
        )
        .argument(
            InputValue::new("meta", TypeRef::named("MetaFilterInputObject"))
                .description("Filter the query based on meta field values"),
        )
        .argument(
            InputValue::new("orderBy", TypeRef::named(format!("{name}OrderBy")))
                .description("Field by which items in the collection will be ordered"),
        )
        .argument(
            InputValue::new("orderDirection", TypeRef::named("OrderDirection"))
                .description("Direction which items in the collection will be ordered"),
        )
        .argument(
            InputValue::new("first", TypeRef::named(TypeRef::INT))
                .default_value(Value::from(DEFAULT_PAGE))
                .description("Number of paginated items we want from this request"),
        )
        .argument(
            InputValue::new("after", TypeRef::named("Cursor"))
                .description("The item we wish to start paginating from identified by a cursor"),
        )
        // Additions (SPEC 13.3): backward pagination.
        .argument(
            InputValue::new("last", TypeRef::named(TypeRef::INT))
                .description("Number of items before `before` (backward pagination)"),
        )
        .argument(
            InputValue::new("before", TypeRef::named("Cursor"))
                .description("Paginate backwards from the item identified by this cursor"),
        )
}

fn fields_field(name: &str, short: &str) -> Field {
    Field::new("fields", TypeRef::named(format!("{name}Fields")), |ctx| {
        FieldFuture::new(async move {
            // The same document, borrowed: no copy per field.
            let doc = ctx.parent_value.try_downcast_ref::<Doc>()?;
            Ok(doc
                .row
                .fields
                .as_ref()
                .map(|_| FieldValue::borrowed_any(doc)))
        })
    })
    .description(format!("Application fields of a `{short}` document."))
}

fn meta_field(short: &str) -> Field {
    Field::new("meta", TypeRef::named("DocumentMeta"), |ctx| {
        FieldFuture::new(async move {
            let doc = ctx.parent_value.try_downcast_ref::<Doc>()?;
            Ok(Some(FieldValue::borrowed_any(doc)))
        })
    })
    .description(format!("Meta fields of a `{short}` document."))
}

fn filter_type(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::Bool => "BooleanFilter",
        FieldType::Int => "IntegerFilter",
        FieldType::Float => "FloatFilter",
        FieldType::Str => "StringFilter",
        FieldType::Bytes => "HexBytesFilter",
        FieldType::Relation(_) => "RelationFilter",
        FieldType::PinnedRelation(_) => "PinnedRelationFilter",
        FieldType::RelationList(_) => "RelationListFilter",
        FieldType::PinnedRelationList(_) => "PinnedRelationListFilter",
    }
}

/// One field of `<S>Fields`.
fn value_field(field: &str, ty: &FieldType) -> Field {
    let name = field.to_string();
    let description = format!("The `{field}` field.");
    let scalar = |t: &str| TypeRef::named(t);
    let type_ref = match ty {
        FieldType::Bool => scalar(TypeRef::BOOLEAN),
        FieldType::Int => scalar(TypeRef::INT),
        FieldType::Float => scalar(TypeRef::FLOAT),
        FieldType::Str => scalar(TypeRef::STRING),
        FieldType::Bytes => scalar("HexBytes"),
        FieldType::Relation(t) | FieldType::PinnedRelation(t) => TypeRef::named(t.to_string()),
        FieldType::RelationList(t) | FieldType::PinnedRelationList(t) => {
            TypeRef::named(format!("{t}Collection"))
        }
    };
    let is_list = matches!(
        ty,
        FieldType::RelationList(_) | FieldType::PinnedRelationList(_)
    );
    let target = ty.relation_target().map(|t| t.to_string());
    let f = Field::new(field, type_ref, move |ctx| {
        let name = name.clone();
        FieldFuture::new(async move {
            let doc = ctx.parent_value.try_downcast_ref::<Doc>()?;
            let Some(value) = doc.row.fields.as_ref().and_then(|f| f.get(&name)) else {
                return Ok(None);
            };
            resolve_value(&ctx, doc, &name, value).await
        })
    })
    .description(description);
    match (is_list, target) {
        (true, Some(t)) => collection_args(f, &t),
        _ => f,
    }
}

async fn resolve_value<'a>(
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
            let table = Arc::new(ViewTable::for_schema(&schema));
            let row = load_related(ctx, api, &table, false, id.to_hex()).await?;
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
            let table = Arc::new(ViewTable::for_schema(&schema));
            let row = load_related(ctx, api, &table, true, view_id.to_string()).await?;
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
            let table = Arc::new(ViewTable::for_schema(&schema));
            let items = if doc.current {
                // A current view's list is in the lists table (joinable).
                let column = doc
                    .table
                    .column(name)
                    .ok_or_else(|| internal("list field without column"))?;
                ListItems::Stored {
                    lists_table: doc.table.lists_table(),
                    owner_document: doc.row.document_id.to_hex(),
                    column: column.column.clone(),
                }
            } else {
                // A historic view's list: its own items.
                ListItems::Given(match value {
                    OperationValue::RelationList(l) => l.iter().map(|d| d.to_hex()).collect(),
                    OperationValue::PinnedRelationList(l) => {
                        l.iter().map(|v| v.to_string()).collect()
                    }
                    _ => Vec::new(),
                })
            };
            let scope = ListScope {
                items,
                pinned: matches!(value, OperationValue::PinnedRelationList(_)),
            };
            Some(collection(ctx, schema, table, Some(scope)).await?)
        }
    })
}

/// A related document through the request's loader (batched with the other
/// documents of the page), or directly outside a request that has one.
async fn load_related(
    ctx: &ResolverContext<'_>,
    api: &Api,
    table: &Arc<ViewTable>,
    pinned: bool,
    id: String,
) -> async_graphql::Result<Option<ViewRow>> {
    let key = RelationKey {
        table: table.clone(),
        pinned,
        id,
    };
    let stored = match ctx.data_opt::<DataLoader<RelationLoader>>() {
        Some(loader) => loader.load_one(key.clone()).await.map_err(internal)?,
        None => api
            .store
            .views_by_key(table, pinned, std::slice::from_ref(&key.id))
            .await
            .map_err(internal)?
            .pop(),
    };
    match (stored, pinned) {
        (None, true) => match DocumentViewId::from_str(&key.id) {
            Ok(view_id) => computed_view(api, &table.schema_id, &view_id).await,
            Err(_) => Ok(None),
        },
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

async fn single_document<'a>(
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
    let table = Arc::new(ViewTable::for_schema(&schema));
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
    Ok(row.filter(|r| !r.is_deleted).map(|row| {
        FieldValue::owned_any(Doc {
            schema,
            table,
            row,
            current,
            cursor: None,
        })
    }))
}

/// Resolves a collection (root `all_<S>` or a relation list) from the
/// field's arguments.
async fn collection<'a>(
    ctx: &ResolverContext<'a>,
    schema: Arc<Schema>,
    table: Arc<ViewTable>,
    list: Option<ListScope>,
) -> async_graphql::Result<FieldValue<'a>> {
    let api = ctx.data::<Api>()?;
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
    let query = CollectionQuery {
        filters,
        order_by,
        descending,
        first,
        after,
        list,
    };
    let mut page = api
        .store
        .query_collection(&table, &query)
        .await
        .map_err(internal)?
        .map_err(bad_query)?;
    let (has_next_page, has_previous_page) = if backward {
        page.rows.reverse();
        // Something follows the `before` cursor: at least its own document.
        (query.after.is_some(), page.has_next_page)
    } else {
        (page.has_next_page, false)
    };
    // Items of a pinned list are historic views; all others current ones.
    let current = query.list.as_ref().is_none_or(|l| !l.pinned);
    let docs = page
        .rows
        .into_iter()
        .map(|(row, cursor)| Doc {
            schema: schema.clone(),
            table: table.clone(),
            row,
            current,
            cursor: Some(cursor),
        })
        .collect();
    Ok(FieldValue::owned_any(Collection {
        table,
        query,
        docs,
        after: after_raw,
        has_next_page,
        has_previous_page,
    }))
}

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

/// Cursors are opaque: hex of a small JSON of the order key and the
/// tie-break.
fn encode_cursor(c: &Cursor) -> String {
    let key = match &c.key {
        Operand::Bool(b) => serde_json::json!({ "b": b }),
        Operand::Int(i) => serde_json::json!({ "i": i }),
        Operand::Float(f) => serde_json::json!({ "f": f.to_bits() }),
        Operand::Text(s) => serde_json::json!({ "s": s }),
        Operand::Bytes(b) => serde_json::json!({ "x": hex::encode(b) }),
    };
    hex::encode(serde_json::json!([key, c.document_id]).to_string())
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    let bytes = hex::decode(s).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let key = v.get(0)?.as_object()?;
    let (tag, value) = key.iter().next()?;
    let key = match tag.as_str() {
        "b" => Operand::Bool(value.as_bool()?),
        "i" => Operand::Int(value.as_i64()?),
        "f" => Operand::Float(f64::from_bits(value.as_u64()?)),
        "s" => Operand::Text(value.as_str()?.to_string()),
        "x" => Operand::Bytes(hex::decode(value.as_str()?).ok()?),
        _ => return None,
    };
    Some(Cursor {
        key,
        document_id: v.get(1)?.as_str()?.to_string(),
    })
}
