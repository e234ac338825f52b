#![no_main]
use hoffnung_core::{PlainOperation, Schema, SchemaId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(op) = PlainOperation::decode(data) {
        // System schemas are always known: validate against them too.
        if let Some(schema) = Schema::system(&op.schema_id) {
            if let Ok(typed) = op.validate(&schema) {
                // A typed operation re-encodes to something that decodes to itself.
                let bytes = typed.encode();
                let again = PlainOperation::decode(&bytes).expect("canonical re-encoding decodes");
                assert_eq!(again.validate(&schema).expect("still valid").encode(), bytes);
            }
        }
        let _ = op.schema_id == SchemaId::BLOB_V1;
    }
});
