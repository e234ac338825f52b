//! JS values in and out: hex strings, integers given as number, BigInt or
//! string, hashes and view ids, arrays; every failure an error naming the
//! argument.

use hoffnung_core::{DocumentViewId, Hash};
use js_sys::{Array, BigInt, Reflect};
use wasm_bindgen::prelude::*;

pub(crate) fn error(what: &str, why: impl std::fmt::Display) -> JsError {
    JsError::new(&format!("{what}: {why}"))
}

pub(crate) fn bytes_of_hex(what: &str, hex: &str) -> Result<Vec<u8>, JsError> {
    hex::decode(hex).map_err(|e| error(what, format!("not a hex string ({e})")))
}

pub(crate) fn hash(what: &str, value: &JsValue) -> Result<Hash, JsError> {
    let text = value
        .as_string()
        .ok_or_else(|| error(what, "expected a hex-encoded hash string"))?;
    text.parse().map_err(|e| error(what, e))
}

/// A view id from one hex operation id or an array of them.
pub(crate) fn view_id(what: &str, value: &JsValue) -> Result<DocumentViewId, JsError> {
    let ids = if value.is_string() {
        vec![hash(what, value)?]
    } else if Array::is_array(value) {
        Array::from(value)
            .iter()
            .map(|v| hash(what, &v))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        return Err(error(
            what,
            "expected an operation id or an array of operation ids",
        ));
    };
    DocumentViewId::new(ids).map_err(|e| error(what, e))
}

/// Hashes as an array of hex strings.
pub(crate) fn hashes_to_js(hashes: &[Hash]) -> JsValue {
    hashes
        .iter()
        .map(|h| JsValue::from(h.to_hex()))
        .collect::<Array>()
        .into()
}

pub(crate) fn view_id_to_js(view: &DocumentViewId) -> JsValue {
    hashes_to_js(view.ids())
}

/// An unsigned integer given as a number, a BigInt or a decimal string.
pub(crate) fn u64_of(what: &str, value: &JsValue) -> Result<u64, JsError> {
    if let Some(n) = value.as_f64() {
        if n.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&n) {
            return Ok(n as u64);
        }
        return Err(error(what, format!("{n} is not an unsigned safe integer")));
    }
    if value.is_bigint() {
        return u64::try_from(BigInt::from(value.clone()))
            .map_err(|_| error(what, "the BigInt does not fit an unsigned 64-bit integer"));
    }
    if let Some(text) = value.as_string() {
        return text
            .parse()
            .map_err(|_| error(what, format!("{text:?} is not an unsigned 64-bit integer")));
    }
    Err(error(what, "expected a number, a BigInt or a string"))
}

/// A signed 64-bit integer given as a safe integer number or a BigInt.
pub(crate) fn i64_of(what: &str, value: &JsValue) -> Result<i64, JsError> {
    if let Some(n) = value.as_f64() {
        if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0 {
            return Ok(n as i64);
        }
        return Err(error(what, format!("{n} is not a safe integer")));
    }
    if value.is_bigint() {
        return i64::try_from(BigInt::from(value.clone()))
            .map_err(|_| error(what, "the BigInt does not fit a signed 64-bit integer"));
    }
    Err(error(what, "expected an integer number or a BigInt"))
}

/// `object[key]`, `undefined` for a missing key or a value that is not an
/// object.
pub(crate) fn get(object: &JsValue, key: &str) -> JsValue {
    if !object.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

pub(crate) fn set(object: &JsValue, key: &str, value: JsValue) -> Result<(), JsError> {
    Reflect::set(object, &JsValue::from_str(key), &value)
        .map(|_| ())
        .map_err(|_| JsError::new(&format!("could not set {key}")))
}

pub(crate) fn is_absent(value: &JsValue) -> bool {
    value.is_undefined() || value.is_null()
}
