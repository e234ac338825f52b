//! The GraphQL types of the documents API: the shared filter and meta
//! types, and per schema its document, item, collection, filter and order
//! types with their root fields.

use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, SchemaBuilder, TypeRef,
};
use async_graphql::Value;
use hoffnung_core::{FieldType, Schema};
use hoffnung_store::ViewRow;

use super::cursor::encode_cursor;
use super::resolve::{collection, resolve_value, single_document};
use super::{item_type, Collection, Doc, DEFAULT_PAGE};
use crate::error::store_error;
use crate::Api;

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
                Value::String(r.owner.clone())
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
                    let n = c.query.count(&api.store).await.map_err(store_error)?;
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
                    FieldFuture::new(async move { collection(&ctx, schema, None).await.map(Some) })
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

pub(super) fn collection_args(field: Field, name: &str) -> Field {
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
pub(super) fn value_field(field: &str, ty: &FieldType) -> Field {
    // Cloned for every document a field resolves on: shared, not copied.
    let name: Arc<str> = field.into();
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
            let Some(value) = doc.row.fields.as_ref().and_then(|f| f.get(&*name)) else {
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
