//! libFuzzer target (cargo-fuzz): the bytes are split into a history file
//! and a migration and run through the whole pure pipeline.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    safe_migrate_fuzz::pipeline(data);
});
