//! Fuzz target: see `nats_sansio::fuzz::connection` for the invariant it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nats_sansio::fuzz::connection(
    std::time::Instant::now(),
    data
));
