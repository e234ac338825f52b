#![no_main]
use hoffnung_core::EncodedEntry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = EncodedEntry::decode(data) {
        // Whatever decodes re-encodes to the same bytes.
        assert_eq!(entry.entry().encode(), data);
        let _ = entry.verify_signature();
    }
});
