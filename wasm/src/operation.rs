//! `encodeOperation` and `decodeOperation`.

use hoffnung_core::{Operation, OperationAction, PlainOperation, PlainValue, SchemaId};
use js_sys::{Array, BigInt, Map, Object, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::convert::{
    bytes_of_hex, error, get, hashes_to_js, is_absent, set, view_id, view_id_to_js,
};
use crate::fields::fields_of;

/// Encodes an operation, `{ schemaId, action?, previous?, fields? }`, as
/// hex: `action` is `create` (the default), `update` or `delete`;
/// `previous` an operation id or an array of them (updates and deletes);
/// `fields` an `OperationFields` or easy values (creates and updates).
#[wasm_bindgen(js_name = encodeOperation)]
pub fn encode_operation(
    #[wasm_bindgen(unchecked_param_type = "OperationArgs")] args: JsValue,
) -> Result<String, JsError> {
    if !args.is_object() {
        return Err(error("operation", "expected an object"));
    }
    let schema_id: SchemaId = get(&args, "schemaId")
        .as_string()
        .ok_or_else(|| error("schemaId", "expected a schema id string"))?
        .parse()
        .map_err(|e| error("schemaId", e))?;
    let action = match get(&args, "action").as_string().as_deref() {
        None | Some("create") => OperationAction::Create,
        Some("update") => OperationAction::Update,
        Some("delete") => OperationAction::Delete,
        Some(other) => {
            return Err(error(
                "action",
                format!("{other:?} is not one of create, update, delete"),
            ))
        }
    };
    let previous = get(&args, "previous");
    let previous = match (action, is_absent(&previous)) {
        (OperationAction::Create, true) => None,
        (OperationAction::Create, false) => {
            return Err(error("previous", "a CREATE operation has no previous"))
        }
        (_, true) => return Err(error("previous", format!("required for {action}"))),
        (_, false) => Some(view_id("previous", &previous)?),
    };
    let fields = get(&args, "fields");
    let fields = match (action, is_absent(&fields)) {
        (OperationAction::Delete, true) => None,
        (OperationAction::Delete, false) => {
            return Err(error("fields", "a DELETE operation has no fields"))
        }
        (_, true) => return Err(error("fields", format!("required for {action}"))),
        (_, false) => Some(fields_of(&fields)?),
    };
    if fields.as_ref().is_some_and(|f| f.is_empty()) {
        return Err(error(
            "fields",
            format!("{action} needs at least one field"),
        ));
    }
    let operation = Operation {
        action,
        schema_id,
        previous,
        fields,
    };
    Ok(hex::encode(operation.encode()))
}

/// Decodes a hex-encoded operation without its schema:
/// `{ version, action, schemaId, previous?, fields? }` with `fields` a
/// `Map` of plain values (`int` as BigInt, byte strings, relations among
/// them, as `Uint8Array`, arrays of hashes as hex strings).
#[wasm_bindgen(js_name = decodeOperation, unchecked_return_type = "PlainOperation")]
pub fn decode_operation(encoded: &str) -> Result<JsValue, JsError> {
    let bytes = bytes_of_hex("operation", encoded)?;
    let plain = PlainOperation::decode(&bytes).map_err(|e| error("operation", e))?;
    let out: JsValue = Object::new().into();
    set(&out, "version", JsValue::from(1))?;
    set(&out, "action", JsValue::from(plain.action.as_str()))?;
    set(&out, "schemaId", JsValue::from(plain.schema_id.to_string()))?;
    if let Some(previous) = &plain.previous {
        set(&out, "previous", view_id_to_js(previous))?;
    }
    if let Some(fields) = &plain.fields {
        let map = Map::new();
        for (name, value) in fields {
            map.set(&JsValue::from_str(name), &plain_to_js(value));
        }
        set(&out, "fields", map.into())?;
    }
    Ok(out)
}

fn plain_to_js(value: &PlainValue) -> JsValue {
    match value {
        PlainValue::Bool(b) => JsValue::from_bool(*b),
        PlainValue::Int(i) => BigInt::from(*i).into(),
        PlainValue::Float(f) => JsValue::from_f64(*f),
        PlainValue::Str(s) => JsValue::from_str(s),
        PlainValue::Bytes(b) => Uint8Array::from(b.as_slice()).into(),
        PlainValue::HashList(list) => hashes_to_js(list),
        PlainValue::HashListList(lists) => lists
            .iter()
            .map(|l| hashes_to_js(l))
            .collect::<Array>()
            .into(),
    }
}
