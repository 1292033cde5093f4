//! A small mesh (the input split on 0xFF into the files of a fixed layout) → `load`,
//! which must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_fuzz::split_mesh;

fuzz_target!(|data: &[u8]| {
    let files = split_mesh(data);
    let _ = tessera_model::load(&files);
});
