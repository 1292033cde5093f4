//! One file of any kind → `check_file`, which must not panic; a contract must also survive
//! being written back (`to_yaml`) and read again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{CONTRACT, FILE_NAMES, contract_round_trip, split_file};

fuzz_target!(|data: &[u8]| {
    let Some((name, bytes)) = split_file(data) else {
        return;
    };
    let _ = tessera_model::check_file(name, bytes);
    if name == FILE_NAMES[CONTRACT]
        && let Err(mismatch) = contract_round_trip(name, bytes)
    {
        panic!("{mismatch}");
    }
});
