//! Fuzz target: see `nats_sansio::fuzz::websocket` for the invariant it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nats_sansio::fuzz::websocket(std::time::Instant::now(), data)
});
