//! `signAndEncodeEntry` and `decodeEntry`.

use hoffnung_core::{sign_entry, EncodedEntry, NextArgs};
use js_sys::{BigInt, Object};
use wasm_bindgen::prelude::*;

use crate::convert::{bytes_of_hex, error, get, hash, is_absent, set, u64_of};
use crate::keys::KeyPair;

/// Signs an entry for an operation with `keyPair` and encodes it as hex.
/// `{ logId?, seqNum?, backlink?, skiplink?, operation }`: `logId`
/// defaults to 0 and `seqNum` to 1 (numbers, BigInts or decimal strings);
/// the links are hex hashes, required where the log's position needs them;
/// `operation` is the hex-encoded operation.
#[wasm_bindgen(js_name = signAndEncodeEntry)]
pub fn sign_and_encode_entry(
    #[wasm_bindgen(unchecked_param_type = "EntryArgs")] args: JsValue,
    #[wasm_bindgen(js_name = keyPair)] key_pair: &KeyPair,
) -> Result<String, JsError> {
    if !args.is_object() {
        return Err(error("entry", "expected an object"));
    }
    let number = |key: &str, default: u64| -> Result<u64, JsError> {
        let value = get(&args, key);
        if is_absent(&value) {
            Ok(default)
        } else {
            u64_of(key, &value)
        }
    };
    let link = |key: &str| -> Result<Option<hoffnung_core::Hash>, JsError> {
        let value = get(&args, key);
        if is_absent(&value) {
            Ok(None)
        } else {
            hash(key, &value).map(Some)
        }
    };
    let operation = get(&args, "operation")
        .as_string()
        .ok_or_else(|| error("operation", "expected a hex-encoded operation"))?;
    let payload = bytes_of_hex("operation", &operation)?;
    let next = NextArgs {
        log_id: number("logId", 0)?,
        seq_num: number("seqNum", 1)?,
        backlink: link("backlink")?,
        skiplink: link("skiplink")?,
    };
    if next.seq_num == 0 {
        return Err(error("seqNum", "starts at 1"));
    }
    let entry = sign_entry(&key_pair.0, &next, &payload).map_err(|e| error("entry", e))?;
    Ok(entry.to_hex())
}

/// Decodes a hex-encoded entry and checks its signature:
/// `{ publicKey, logId, seqNum, backlink?, skiplink?, payloadSize,
/// payloadHash, signature }`, the numbers as BigInts.
#[wasm_bindgen(js_name = decodeEntry, unchecked_return_type = "Entry")]
pub fn decode_entry(encoded: &str) -> Result<JsValue, JsError> {
    let bytes = bytes_of_hex("entry", encoded)?;
    let decoded = EncodedEntry::decode_and_verify(&bytes).map_err(|e| error("entry", e))?;
    let entry = decoded.entry();
    let out: JsValue = Object::new().into();
    set(&out, "publicKey", entry.public_key.to_hex().into())?;
    set(&out, "logId", BigInt::from(entry.log_id).into())?;
    set(&out, "seqNum", BigInt::from(entry.seq_num).into())?;
    if let Some(skiplink) = &entry.skiplink {
        set(&out, "skiplink", skiplink.to_hex().into())?;
    }
    if let Some(backlink) = &entry.backlink {
        set(&out, "backlink", backlink.to_hex().into())?;
    }
    set(&out, "payloadSize", BigInt::from(entry.payload_size).into())?;
    set(&out, "payloadHash", entry.payload_hash.to_hex().into())?;
    set(&out, "signature", hex::encode(entry.signature).into())?;
    Ok(out)
}
