//! The fuzz target bodies over a few hundred seeded inputs, so they run in every test run
//! (`cargo xtask test` enables all features; the bodies need feature `fuzzing`).
#![cfg(feature = "fuzzing")]

use std::time::Instant;

use nats_sansio::fuzz;

#[test]
fn fuzz_bodies_hold_on_seeded_inputs() {
    let mut state = 0x1234_5678_u64;
    let mut byte = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        (state >> 56) as u8
    };
    let corpus: &[&[u8]] = &[
        b"INFO {}\r\nMSG a 1 2\r\nhi\r\nPING\r\n",
        b"HMSG a 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        b"-ERR 'x'\r\n+OK\r\nPONG\r\n",
    ];
    for base in corpus {
        fuzz::decoder(base);
    }
    let start = Instant::now();
    for _ in 0..400 {
        let len = byte() as usize % 128;
        let data: Vec<u8> = (0..len).map(|_| byte()).collect();
        fuzz::decoder(&data);
        fuzz::roundtrip(&data);
        fuzz::connection(start, &data);
        #[cfg(feature = "websocket")]
        {
            fuzz::websocket_frames(&data);
            fuzz::websocket(start, &data);
        }
    }
}
