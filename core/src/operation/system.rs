//! The extra rules of the system schemas' fields (names, lengths, MIME
//! types), checked after the fields were typed.

use crate::ids::{is_valid_field_name, is_valid_schema_name, SchemaId, SystemSchema};
use crate::operation::error::ValidationError;
use crate::schema::{FieldType, MAX_BLOB_PIECE_LENGTH, MAX_DESCRIPTION_LENGTH, MAX_SCHEMA_FIELDS};
use crate::value::{Fields, OperationValue};

/// `^[a-z-]{1,12}/(([a-z0-9]{1,18})[.|+|-]){0,6}[a-z0-9]{1,16}$` (upstream's
/// MIME type pattern; `|` is a literal separator inside its character class).
/// Public so that clients can refuse a bad type before publishing any piece.
pub fn is_valid_mime_type(s: &str) -> bool {
    let Some((top, rest)) = s.split_once('/') else {
        return false;
    };
    if top.is_empty() || top.len() > 12 || !top.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
    {
        return false;
    }
    let segs: Vec<&str> = rest.split(['.', '|', '+', '-']).collect();
    let alnum = |seg: &str, max: usize| {
        !seg.is_empty()
            && seg.len() <= max
            && seg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    segs.len() <= 7
        && segs[..segs.len() - 1].iter().all(|s| alnum(s, 18))
        && segs.last().is_some_and(|s| alnum(s, 16))
}

pub(super) fn check_system_fields(
    kind: SystemSchema,
    fields: &Fields,
) -> Result<(), ValidationError> {
    let err = |field: &'static str, reason: &'static str| ValidationError::SystemSchema {
        schema: SchemaId::System(kind, 1),
        field,
        reason,
    };
    const BAD_FORMAT: &str = "is wrongly formatted";
    match kind {
        SystemSchema::SchemaDefinition => {
            if let Some(OperationValue::Str(name)) = fields.get("name") {
                if !is_valid_schema_name(name) {
                    return Err(err("name", BAD_FORMAT));
                }
            }
            if let Some(OperationValue::Str(d)) = fields.get("description") {
                if d.chars().count() > MAX_DESCRIPTION_LENGTH {
                    return Err(err("description", "is longer than 256 characters"));
                }
            }
            if let Some(OperationValue::PinnedRelationList(l)) = fields.get("fields") {
                if l.len() > MAX_SCHEMA_FIELDS {
                    return Err(err("fields", "has more than 1024 items"));
                }
            }
        }
        SystemSchema::SchemaFieldDefinition => {
            if let Some(OperationValue::Str(name)) = fields.get("name") {
                if !is_valid_field_name(name) {
                    return Err(err("name", BAD_FORMAT));
                }
            }
            if let Some(OperationValue::Str(t)) = fields.get("type") {
                if t.parse::<FieldType>().is_err() {
                    return Err(err("type", BAD_FORMAT));
                }
            }
        }
        SystemSchema::Blob => {
            if let Some(OperationValue::Str(m)) = fields.get("mime_type") {
                if !is_valid_mime_type(m) {
                    return Err(err("mime_type", BAD_FORMAT));
                }
            }
            if let Some(OperationValue::Int(l)) = fields.get("length") {
                if *l < 0 {
                    return Err(err("length", "is negative"));
                }
            }
            if let Some(OperationValue::PinnedRelationList(p)) = fields.get("pieces") {
                if p.is_empty() {
                    return Err(err("pieces", "is empty"));
                }
            }
        }
        SystemSchema::BlobPiece => {
            if let Some(OperationValue::Bytes(d)) = fields.get("data") {
                if d.len() > MAX_BLOB_PIECE_LENGTH {
                    return Err(err("data", "is over maximum allowed length"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types() {
        for ok in [
            "image/png",
            "text/plain",
            "application/vnd.ms-excel",
            "image/svg+xml",
        ] {
            assert!(is_valid_mime_type(ok), "{ok}");
        }
        for bad in [
            "",
            "image",
            "Image/png",
            "image/",
            "image/png.",
            "toolongtoplevel/x",
        ] {
            assert!(!is_valid_mime_type(bad), "{bad}");
        }
    }
}
