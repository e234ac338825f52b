//! The p2panda 0.8 protocol core for JavaScript: `hoffnung-core` behind
//! wasm-bindgen, with the API of p2panda-js 0.8 (`KeyPair`,
//! `OperationFields`, `encodeOperation`, `decodeOperation`,
//! `signAndEncodeEntry`, `decodeEntry`, `generateHash`, …), so that code
//! written for p2panda-js runs on it with its imports changed.
//!
//! Byte strings cross as hex, as in p2panda-js; integers of entries and
//! `int` fields come back as `BigInt`. Every malformed input throws an
//! `Error` whose message says what was wrong.
//!
//! The modules: `convert` (JS values in and out), `keys`, `fields`
//! (`OperationFields`), `operation` (encode and decode), `entry` (sign,
//! encode and decode); `types.d.ts` holds the TypeScript types of the
//! plain objects they take and return.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod convert;
mod entry;
mod fields;
mod keys;
mod operation;

use hoffnung_core::Hash;
use wasm_bindgen::prelude::*;

pub use entry::{decode_entry, sign_and_encode_entry};
pub use fields::OperationFields;
pub use keys::{verify_signature, KeyPair};
pub use operation::{decode_operation, encode_operation};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.d.ts");

/// The YASMF hash (BLAKE3) of hex-encoded bytes, hex-encoded: an entry's
/// hash is its operation id.
#[wasm_bindgen(js_name = generateHash)]
pub fn generate_hash(value: &str) -> Result<String, JsError> {
    Ok(Hash::of(&convert::bytes_of_hex("value", value)?).to_hex())
}

/// Bytes as a lowercase hex string.
#[wasm_bindgen(js_name = bytesToHex)]
pub fn bytes_to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// A hex string as bytes.
#[wasm_bindgen(js_name = hexToBytes)]
pub fn hex_to_bytes(hex: &str) -> Result<Vec<u8>, JsError> {
    convert::bytes_of_hex("hex", hex)
}
