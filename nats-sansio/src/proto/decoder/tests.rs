//! Decoder tests: headers and statuses, poisoning and recovery by `reset`, the control line
//! cap, bad header blocks. Every op, split invariance, zero copy and garbage are in
//! `peer_tests`.

use super::*;

#[test]
fn headers_and_status_are_parsed() {
    let mut d = Decoder::new();
    d.extend_from_slice(
        b"HMSG a.b 3 _INBOX.x 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nworld\r\nHMSG r 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
    );
    let Some(ServerOp::Msg { message, .. }) = d.decode().unwrap() else {
        panic!()
    };
    assert_eq!(message.headers.as_ref().unwrap().get("A"), Some("b"));
    assert_eq!(&message.payload[..], b"world");
    assert_eq!(message.length, 23);
    let Some(ServerOp::Msg { message, .. }) = d.decode().unwrap() else {
        panic!()
    };
    assert_eq!(
        message.status(),
        Some(crate::proto::StatusCode::NO_RESPONDERS)
    );
    assert!(message.payload.is_empty());
}

#[test]
fn violations_poison_the_decoder() {
    let cases: &[&[u8]] = &[
        b"HELLO\r\n",
        b"MSG a 1\r\n",
        b"MSG a x 1\r\nx\r\n",
        b"MSG a 1 2 3 4\r\n",
        b"MSG a 1 99999999999999999999999\r\n",
        b"MSG a 1 2\r\nxyz\r\n",
        b"HMSG a 1 10 5\r\n",
        b"HMSG a 1 0 5\r\n",
        b"INFO {not json}\r\n",
        b"MSG a 1 200000000\r\n",
    ];
    for case in cases {
        let mut d = Decoder::with_limits(4096, 1 << 20);
        d.extend_from_slice(case);
        d.extend_from_slice(b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n");
        let first = d.decode();
        assert!(
            first.is_err(),
            "{:?} should fail, got {first:?}",
            String::from_utf8_lossy(case)
        );
        assert!(d.is_poisoned());
        d.extend_from_slice(b"PING\r\n");
        assert!(matches!(d.decode(), Err(DecodeError::Poisoned)));
        d.reset();
        d.extend_from_slice(b"PING\r\n");
        assert!(matches!(d.decode(), Ok(Some(ServerOp::Ping))));
    }
}

#[test]
fn control_line_is_capped() {
    let mut d = Decoder::with_limits(100, 1 << 20);
    d.extend_from_slice(&[b'a'; 102]);
    assert!(matches!(
        d.decode(),
        Err(DecodeError::ControlLineTooLong { limit: 100 })
    ));
    // A long line within the cap is fine, even split.
    let mut d = Decoder::with_limits(5000, 1 << 20);
    let line = format!("-ERR '{}'\r\n", "e".repeat(4500));
    d.extend_from_slice(&line.as_bytes()[..2000]);
    assert!(d.decode().unwrap().is_none());
    d.extend_from_slice(&line.as_bytes()[2000..]);
    assert!(matches!(d.decode(), Ok(Some(ServerOp::Err(t))) if t.len() == 4500));
}

#[test]
fn a_bad_header_block_in_a_sound_frame_costs_its_bad_lines_not_the_connection() {
    let mut d = Decoder::new();
    let block = "NATS/1.0\r\nGood: yes\r\nno colon here\r\n\r\n";
    let wire = format!(
        "HMSG a 1 {} {}\r\n{block}hi\r\nPING\r\n",
        block.len(),
        block.len() + 2
    );
    d.extend_from_slice(wire.as_bytes());
    let Some(ServerOp::Msg { message, .. }) = d.decode().unwrap() else {
        panic!("the message is delivered")
    };
    let headers = message.headers.unwrap();
    assert_eq!(headers.get("Good"), Some("yes"));
    assert_eq!(headers.len(), 1);
    assert_eq!(&message.payload[..], b"hi");
    assert!(
        matches!(d.decode(), Ok(Some(ServerOp::Ping))),
        "not poisoned"
    );

    let mut d = Decoder::new();
    d.extend_from_slice(b"HMSG a 1 7 7\r\nHTTP/\r\n\r\n");
    let Some(ServerOp::Msg { message, .. }) = d.decode().unwrap() else {
        panic!("the message is delivered")
    };
    assert_eq!(message.status(), None);
    assert!(!d.is_poisoned());
}

#[test]
fn word_tests_are_exact_for_every_byte_in_every_lane() {
    for lane in 0..8 {
        for b in 0..=255u8 {
            // The other lanes hold bytes that sit next to the edges of each test.
            for fill in [0x00, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff] {
                let mut bytes = [fill; 8];
                bytes[lane] = b;
                let word = u64::from_le_bytes(bytes);
                let expect = |hit: &dyn Fn(u8) -> bool| {
                    bytes
                        .iter()
                        .enumerate()
                        .filter(|(_, &x)| hit(x))
                        .fold(0u64, |m, (i, _)| m | 0x80 << (8 * i))
                };
                assert_eq!(bytes_equal(word, b' '), expect(&|x| x == b' '));
                assert_eq!(bytes_equal(word, b'\n'), expect(&|x| x == b'\n'));
                assert_eq!(bytes_below_0x21(word), expect(&|x| x < 0x21));
                let flags = expect(&|x| x == b);
                let bits = (0..8).filter(|i| bytes[*i] == b).fold(0, |m, i| m | 1 << i);
                assert_eq!(gather(flags), bits);
            }
        }
    }
}

#[test]
fn long_lines_split_at_runs_of_spaces_and_tabs() {
    let mut rng = crate::rng::Rng::new(11);
    let alphabet = b"ab.c>*12 \t\t  ";
    for _ in 0..20_000 {
        let len = rng.below(200) as usize;
        let line = rng.bytes_from(alphabet, len);
        let start = rng.below(len as u64 + 1) as usize;
        // Byte by byte: each run of other bytes after `start` is a field.
        let mut expected = Vec::new();
        let mut i = start;
        while i < len {
            if is_space(line[i]) {
                i += 1;
                continue;
            }
            let begin = i;
            while i < len && !is_space(line[i]) {
                i += 1;
            }
            expected.push((begin, i));
        }
        match fields(&line, start) {
            Some((out, n)) => assert_eq!(&out[..n], &expected[..], "{line:?} from {start}"),
            None => assert!(expected.len() > 5, "{line:?} from {start}"),
        }
    }
}

#[test]
fn the_short_scan_splits_as_the_byte_at_a_time_path() {
    let mut rng = crate::rng::Rng::new(7);
    let alphabet = b"MSG HMSG  ab.c>*12309\xc3\xa9\xff\t\r";
    // Half the lines without the tab and `\r` that stop a scan early, so that lines run up
    // to and past the scan's width.
    let plain = &alphabet[..alphabet.len() - 2];
    let (mut short_lines, mut wide_lines) = (0, 0);
    for i in 0..20_000 {
        let len = rng.below(Short::WIDTH as u64 + 12) as usize;
        let letters: &[u8] = if i % 2 == 0 { alphabet } else { plain };
        let mut line = rng.bytes_from(letters, len);
        line.extend_from_slice(if rng.below(2) == 0 { b"\r\n" } else { b"\n" });
        match Short::scan(&line) {
            Ok(short) => {
                short_lines += 1;
                if short.end > Short::WIDTH / 2 {
                    wide_lines += 1;
                }
                let newline = line.iter().position(|&b| b == b'\n').unwrap();
                assert_eq!(short.newline, newline, "{line:?}");
                let end = if line[..newline].ends_with(b"\r") {
                    newline - 1
                } else {
                    newline
                };
                assert_eq!(short.end, end, "{line:?}");
                assert_eq!(short.ascii, line[..end].is_ascii(), "{line:?}");
                let op_end = (short.spaces.trailing_zeros() as usize).min(end);
                let text = &line[..end];
                assert_eq!(
                    op_end,
                    text.iter().position(|&b| is_space(b)).unwrap_or(end),
                    "{line:?}"
                );
                assert_eq!(short.fields(end, op_end), fields(text, op_end), "{line:?}");
            }
            Err(at) => {
                // The scan gave up: no line end before `at`.
                assert!(!line[..at].contains(&b'\n'), "{line:?}");
            }
        }
    }
    assert!(short_lines > 1000, "{short_lines}");
    assert!(wide_lines > 1000, "{wide_lines}");
}
