//! Pagination cursors as clients see them.

use hoffnung_store::{Cursor, Operand};

/// Cursors are opaque: hex of a small JSON of the order key and the
/// tie-break.
pub(super) fn encode_cursor(c: &Cursor) -> String {
    let key = match &c.key {
        Operand::Bool(b) => serde_json::json!({ "b": b }),
        Operand::Int(i) => serde_json::json!({ "i": i }),
        Operand::Float(f) => serde_json::json!({ "f": f.to_bits() }),
        Operand::Text(s) => serde_json::json!({ "s": s }),
        Operand::Bytes(b) => serde_json::json!({ "x": hex::encode(b) }),
    };
    hex::encode(serde_json::json!([key, c.document_id]).to_string())
}

pub(super) fn decode_cursor(s: &str) -> Option<Cursor> {
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
