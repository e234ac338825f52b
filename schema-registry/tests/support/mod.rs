//! Signed system entries for the registry's and the pipeline's tests.
#![allow(dead_code)]

use hoffnung_core::entry::NextArgs;
use hoffnung_core::{
    sign_entry, DocumentViewId, Fields, KeyPair, Operation, OperationValue, SchemaId,
};

pub fn str_value(s: &str) -> OperationValue {
    OperationValue::Str(s.to_string())
}

/// Signs a CREATE in a new log `log_id` of `key`.
pub fn create(key: &KeyPair, log_id: u64, op: &Operation) -> (Vec<u8>, Vec<u8>) {
    let bytes = op.encode();
    let args = NextArgs {
        log_id,
        seq_num: 1,
        backlink: None,
        skiplink: None,
    };
    (
        sign_entry(key, &args, &bytes).unwrap().as_bytes().to_vec(),
        bytes,
    )
}

pub fn field(name: &str, ty: &str) -> Operation {
    let mut f = Fields::new();
    f.insert("name".into(), str_value(name));
    f.insert("type".into(), str_value(ty));
    Operation::create(SchemaId::SCHEMA_FIELD_DEFINITION_V1, f)
}

pub fn definition(name: &str, fields: Vec<DocumentViewId>) -> Operation {
    let mut f = Fields::new();
    f.insert("name".into(), str_value(name));
    f.insert("description".into(), str_value("test"));
    f.insert("fields".into(), OperationValue::PinnedRelationList(fields));
    Operation::create(SchemaId::SCHEMA_DEFINITION_V1, f)
}
