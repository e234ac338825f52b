//! `OperationFields`: typed field values, inserted by type name as in
//! p2panda-js, or guessed from plain values ("easy values").

use hoffnung_core::{Fields, OperationValue};
use js_sys::{Array, BigInt, Object, Uint8Array};
use wasm_bindgen::convert::TryFromJsValue;
use wasm_bindgen::prelude::*;

use crate::convert::{error, hash, hashes_to_js, i64_of, view_id, view_id_to_js};

/// The fields of an operation: name → typed value.
#[wasm_bindgen]
#[derive(Default)]
pub struct OperationFields(pub(crate) Fields);

#[wasm_bindgen]
impl OperationFields {
    /// Fields, empty or from "easy values": an object whose strings become
    /// `str`, integer numbers and BigInts `int`, other numbers `float`,
    /// booleans `bool` and `Uint8Array`s `bytes`.
    #[wasm_bindgen(constructor)]
    pub fn new(fields: JsValue) -> Result<OperationFields, JsError> {
        let mut out = OperationFields::default();
        if crate::convert::is_absent(&fields) {
            return Ok(out);
        }
        if !fields.is_object() {
            return Err(error("fields", "expected an object of field values"));
        }
        for entry in Object::entries(&Object::from(fields)).iter() {
            let pair = Array::from(&entry);
            let name = pair.get(0).as_string().unwrap_or_default();
            out.add(name, easy_value(&pair.get(0), &pair.get(1))?)?;
        }
        Ok(out)
    }

    /// Adds a field of a type (`str`, `int`, `float`, `bool`, `bytes`,
    /// `relation`, `relation_list`, `pinned_relation`,
    /// `pinned_relation_list`); throws if the field is already set or the
    /// value does not fit the type.
    pub fn insert(&mut self, name: &str, field_type: &str, value: JsValue) -> Result<(), JsError> {
        let value = typed_value(name, field_type, &value)?;
        self.add(name.to_string(), value)
    }

    /// The value of a field (`undefined` if it is not set): `int` as a
    /// BigInt, `bytes` as a `Uint8Array`, relations as hex strings and
    /// arrays of them.
    pub fn get(&self, name: &str) -> JsValue {
        self.0.get(name).map_or(JsValue::UNDEFINED, value_to_js)
    }

    pub fn length(&self) -> usize {
        self.0.len()
    }

    #[wasm_bindgen(js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy, for the functions of this module that take fields inside an
    /// object (a class instance found there can only be moved out of JS).
    #[wasm_bindgen(js_name = __copy, skip_typescript)]
    pub fn copy(&self) -> OperationFields {
        OperationFields(self.0.clone())
    }
}

/// The fields of an `OperationFields` (left as it is) or of easy values in
/// a plain object.
pub(crate) fn fields_of(value: &JsValue) -> Result<Fields, JsError> {
    let copy = crate::convert::get(value, "__copy");
    if let Some(copy) = copy.dyn_ref::<js_sys::Function>() {
        let copied = copy
            .call0(value)
            .map_err(|_| error("fields", "could not read the OperationFields"))?;
        let fields = OperationFields::try_from_js_value(copied)
            .map_err(|_| error("fields", "not an OperationFields of this package"))?;
        return Ok(fields.0);
    }
    Ok(OperationFields::new(value.clone())?.0)
}

impl OperationFields {
    fn add(&mut self, name: String, value: OperationValue) -> Result<(), JsError> {
        if self.0.contains_key(&name) {
            return Err(error(&format!("field {name}"), "already set"));
        }
        self.0.insert(name, value);
        Ok(())
    }
}

/// The type an easy value implies.
fn easy_value(name: &JsValue, value: &JsValue) -> Result<OperationValue, JsError> {
    let what = format!("field {}", name.as_string().unwrap_or_default());
    if let Some(s) = value.as_string() {
        return Ok(OperationValue::Str(s));
    }
    if let Some(b) = value.as_bool() {
        return Ok(OperationValue::Bool(b));
    }
    if let Some(n) = value.as_f64() {
        return Ok(if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0 {
            OperationValue::Int(n as i64)
        } else {
            OperationValue::Float(n)
        });
    }
    if value.is_bigint() {
        return Ok(OperationValue::Int(i64_of(&what, value)?));
    }
    if value.is_instance_of::<Uint8Array>() {
        return Ok(OperationValue::Bytes(
            Uint8Array::from(value.clone()).to_vec(),
        ));
    }
    Err(error(
        &what,
        "an easy value is a string, number, BigInt, boolean or Uint8Array; insert other types with their type name",
    ))
}

fn typed_value(name: &str, ty: &str, value: &JsValue) -> Result<OperationValue, JsError> {
    let what = format!("field {name}");
    let expected = |kind: &str| error(&what, format!("expected {kind} for a field of type {ty}"));
    let list = |value: &JsValue| -> Result<Array, JsError> {
        if Array::is_array(value) {
            Ok(Array::from(value))
        } else {
            Err(expected("an array"))
        }
    };
    Ok(match ty {
        "bool" => OperationValue::Bool(value.as_bool().ok_or_else(|| expected("a boolean"))?),
        "int" => OperationValue::Int(i64_of(&what, value)?),
        "float" => OperationValue::Float(value.as_f64().ok_or_else(|| expected("a number"))?),
        "str" => OperationValue::Str(value.as_string().ok_or_else(|| expected("a string"))?),
        "bytes" => {
            if !value.is_instance_of::<Uint8Array>() {
                return Err(expected("a Uint8Array"));
            }
            OperationValue::Bytes(Uint8Array::from(value.clone()).to_vec())
        }
        "relation" => OperationValue::Relation(hash(&what, value)?),
        "relation_list" => OperationValue::RelationList(
            list(value)?
                .iter()
                .map(|v| hash(&what, &v))
                .collect::<Result<_, _>>()?,
        ),
        "pinned_relation" => OperationValue::PinnedRelation(view_id(&what, value)?),
        "pinned_relation_list" => OperationValue::PinnedRelationList(
            list(value)?
                .iter()
                .map(|v| view_id(&what, &v))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(error(
                &what,
                format!(
                    "unknown field type {other:?}: one of bool, int, float, str, bytes, relation, \
                     relation_list, pinned_relation, pinned_relation_list"
                ),
            ))
        }
    })
}

pub(crate) fn value_to_js(value: &OperationValue) -> JsValue {
    match value {
        OperationValue::Bool(b) => JsValue::from_bool(*b),
        OperationValue::Int(i) => BigInt::from(*i).into(),
        OperationValue::Float(f) => JsValue::from_f64(*f),
        OperationValue::Str(s) => JsValue::from_str(s),
        OperationValue::Bytes(b) => Uint8Array::from(b.as_slice()).into(),
        OperationValue::Relation(id) => JsValue::from(id.to_hex()),
        OperationValue::RelationList(ids) => hashes_to_js(ids),
        OperationValue::PinnedRelation(view) => view_id_to_js(view),
        OperationValue::PinnedRelationList(views) => {
            views.iter().map(view_id_to_js).collect::<Array>().into()
        }
    }
}
