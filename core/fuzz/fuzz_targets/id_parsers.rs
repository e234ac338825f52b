#![no_main]
use hoffnung_core::{DocumentViewId, FieldType, Hash, PublicKey, SchemaId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    // Every parser: no panic, and display(parse(s)) parses to the same value.
    if let Ok(id) = s.parse::<SchemaId>() {
        assert_eq!(id.to_string().parse::<SchemaId>().ok(), Some(id));
    }
    if let Ok(v) = s.parse::<DocumentViewId>() {
        assert_eq!(v.to_string(), s.to_ascii_lowercase());
    }
    if let Ok(h) = s.parse::<Hash>() {
        assert_eq!(h.to_string(), s.to_ascii_lowercase());
    }
    if let Ok(t) = s.parse::<FieldType>() {
        assert_eq!(t.to_string().parse::<FieldType>().ok(), Some(t));
    }
    let _ = s.parse::<PublicKey>();
});
