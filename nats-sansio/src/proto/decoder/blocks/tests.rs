//! The read buffer's memory while the application holds what it received: an application
//! that keeps a few messages at a time (an object get holding a chunk or two, a subscriber
//! working through a batch) must not cost a new block per message once warm.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::proto::{Decoder, ServerOp};

/// A stream of `count` messages of `size` bytes, cut into reads of `read` bytes.
fn reads(size: usize, count: usize, read: usize) -> Vec<Vec<u8>> {
    let mut stream = Vec::new();
    for i in 0..count {
        stream.extend_from_slice(format!("MSG chunks.{i} 1 {size}\r\n").as_bytes());
        stream.extend(std::iter::repeat_n((i % 251) as u8, size));
        stream.extend_from_slice(b"\r\n");
    }
    stream.chunks(read).map(<[u8]>::to_vec).collect()
}

/// Feeds one read, holding the last `held` payloads (older ones dropped); checks each
/// payload and returns how many messages came out.
fn feed(decoder: &mut Decoder, read: &[u8], holding: &mut VecDeque<Bytes>, held: usize) -> usize {
    decoder.extend_from_slice(read);
    decode_holding(decoder, holding, held)
}

/// Decodes what the buffer holds, keeping the last `held` payloads (older ones dropped);
/// checks each payload and returns how many messages came out.
fn decode_holding(decoder: &mut Decoder, holding: &mut VecDeque<Bytes>, held: usize) -> usize {
    let mut decoded = 0;
    while let Some(op) = decoder.decode().expect("a valid stream") {
        let ServerOp::Msg { message, .. } = op else {
            panic!("not a message: {op:?}");
        };
        let i: usize = message.subject.as_str()["chunks.".len()..].parse().unwrap();
        assert!(message.payload.iter().all(|&b| b == (i % 251) as u8));
        decoded += 1;
        if holding.len() == held {
            holding.pop_front();
        }
        holding.push_back(message.payload);
    }
    decoded
}

/// Blocks allocated for the messages after the first `warm`, and the messages decoded.
fn run(reads: &[Vec<u8>], held: usize, warm: usize) -> (u64, usize) {
    let mut decoder = Decoder::new();
    let mut holding = VecDeque::new();
    let mut decoded = 0;
    let mut warm_blocks = None;
    for read in reads {
        if decoded >= warm && warm_blocks.is_none() {
            warm_blocks = Some(decoder.blocks.allocated());
        }
        decoded += feed(&mut decoder, read, &mut holding, held);
    }
    let after = decoder.blocks.allocated() - warm_blocks.expect("warmed up");
    (after, decoded)
}

#[test]
fn object_chunks_read_as_they_come_need_no_new_block_once_warm() {
    // 128 KiB chunks (the object store's default) arriving in 64 KiB reads, the reader
    // holding the two latest.
    let (blocks, decoded) = run(&reads(128 * 1024, 200, 64 * 1024), 2, 20);
    assert_eq!(decoded, 200);
    assert_eq!(blocks, 0, "new blocks for 180 chunks once warm");
}

#[test]
fn an_object_get_window_of_chunks_needs_no_new_block_once_warm() {
    // The get machine holds up to its window (32 chunks by default) until read.
    let (blocks, decoded) = run(&reads(128 * 1024, 300, 64 * 1024), 32, 40);
    assert_eq!(decoded, 300);
    assert_eq!(blocks, 0, "new blocks for 260 chunks once warm");
}

#[test]
fn a_backlog_leaves_at_most_the_bound_kept() {
    // A subscriber that fell 8 MiB behind, then caught up: the blocks of the backlog are
    // not all kept.
    let mut decoder = Decoder::new();
    let mut holding = VecDeque::new();
    for read in &reads(1024, 8 * 1024, 16 * 1024) {
        feed(&mut decoder, read, &mut holding, usize::MAX);
    }
    assert_eq!(holding.len(), 8 * 1024);
    drop(holding);
    let kept: usize = decoder.blocks.retired.iter().map(|(_, size)| size).sum();
    assert!(kept <= super::RETIRED_BYTES, "{kept} bytes kept");
    assert_eq!(kept, decoder.blocks.retired_bytes);
}

#[test]
fn small_messages_held_in_batches_need_no_new_block_once_warm() {
    // 1 KiB messages in 16 KiB reads, the application holding the last 64 (a subscriber
    // working through a batch).
    let (blocks, decoded) = run(&reads(1024, 20_000, 16 * 1024), 64, 1_000);
    assert_eq!(decoded, 20_000);
    assert_eq!(blocks, 0, "new blocks for 19,000 messages once warm");
}

#[test]
fn a_message_kept_for_long_pins_its_block_not_the_others() {
    // One message kept for the whole run (an application storing one) keeps its block out
    // of use; the rest still run on reused blocks.
    let reads = reads(1024, 20_000, 16 * 1024);
    let mut decoder = Decoder::new();
    let mut kept = VecDeque::new();
    let mut decoded = feed(&mut decoder, &reads[0], &mut kept, 1);
    let mut batch = VecDeque::new();
    let before = decoder.blocks.allocated();
    for read in &reads[1..] {
        decoded += feed(&mut decoder, read, &mut batch, 64);
    }
    assert_eq!(decoded, 20_000);
    assert_eq!(kept.len(), 1);
    assert!(decoder.blocks.allocated() - before <= 8);
}

#[test]
fn a_large_message_block_is_not_kept() {
    // A 1 MiB message needs a block of its own; once it is gone the buffer does not keep
    // that block for later.
    let mut decoder = Decoder::new();
    let mut holding = VecDeque::new();
    for read in &reads(1 << 20, 2, 64 * 1024) {
        feed(&mut decoder, read, &mut holding, 1);
    }
    drop(holding);
    assert!(decoder
        .blocks
        .retired
        .iter()
        .all(|(_, size)| *size <= super::MAX_RETIRED_BLOCK));
}

/// A stream of `count` JetStream deliveries of `size` bytes (a reply subject and a header
/// block, as an object get's chunks arrive).
fn deliveries(size: usize, count: usize) -> Vec<u8> {
    let mut stream = Vec::new();
    for i in 0..count {
        let headers = format!("NATS/1.0\r\nNats-Sequence: {i}\r\n\r\n");
        stream.extend_from_slice(
            format!(
                "HMSG chunks.{i} 1 $JS.ACK.OBJ_files.get.1.{i}.{i}.1765000000000000000.{} {} {}\r\n",
                count - i,
                headers.len(),
                headers.len() + size
            )
            .as_bytes(),
        );
        stream.extend_from_slice(headers.as_bytes());
        stream.extend(std::iter::repeat_n((i % 251) as u8, size));
        stream.extend_from_slice(b"\r\n");
    }
    stream
}

/// Reads `stream` as the driver reads a socket: each read asks for room for up to `max`
/// bytes and takes what the decoder gives room for, holding the last `held` payloads.
/// Returns the messages decoded, and the blocks allocated and bytes moved once `warm`
/// messages were decoded.
fn read_as_driver(stream: &[u8], max: usize, held: usize, warm: usize) -> (usize, u64, u64) {
    let mut decoder = Decoder::new();
    let mut holding = VecDeque::new();
    let (mut decoded, mut at) = (0, 0);
    let mut warm_counts = None;
    while at < stream.len() {
        if decoded >= warm && warm_counts.is_none() {
            warm_counts = Some((decoder.blocks.allocated(), decoder.blocks.moved()));
        }
        let room = decoder.room_for_read(max);
        let n = room.min(stream.len() - at);
        decoder.buffer_mut().extend_from_slice(&stream[at..at + n]);
        at += n;
        decoded += decode_holding(&mut decoder, &mut holding, held);
    }
    let (allocated, moved) = warm_counts.expect("warmed up");
    (
        decoded,
        decoder.blocks.allocated() - allocated,
        decoder.blocks.moved() - moved,
    )
}

#[test]
fn chunks_read_as_the_driver_reads_are_never_moved() {
    // 128 KiB chunks in reads of up to 64 KiB, a window of 32 held: once warm, no new block
    // and no byte moved from one block to another (each chunk is read into a block that
    // holds it whole, as the one before it did).
    let stream = deliveries(128 * 1024, 300);
    let (decoded, allocated, moved) = read_as_driver(&stream, 64 * 1024, 32, 40);
    assert_eq!(decoded, 300);
    assert_eq!(allocated, 0, "new blocks for 260 chunks once warm");
    assert_eq!(moved, 0, "bytes moved for 260 chunks");
}

#[test]
fn reads_are_not_cut_short_for_small_messages() {
    // 1 KiB messages in reads of up to 16 KiB: a read that ends inside a message leaves
    // the next one its whole room.
    let stream = deliveries(1024, 2_000);
    let mut decoder = Decoder::new();
    let (mut at, mut reads) = (0, 0);
    while at < stream.len() {
        let room = decoder.room_for_read(16 * 1024);
        assert_eq!(room, 16 * 1024);
        let n = room.min(stream.len() - at);
        decoder.buffer_mut().extend_from_slice(&stream[at..at + n]);
        at += n;
        reads += 1;
        while decoder.decode().expect("a valid stream").is_some() {}
    }
    assert_eq!(reads, stream.len().div_ceil(16 * 1024));
}

#[test]
fn a_huge_message_makes_no_huge_block_for_what_follows() {
    // One 4 MiB message, then small ones: the block after the huge one's is no larger than
    // the largest block kept.
    let mut stream = deliveries(4 << 20, 1);
    stream.extend_from_slice(b"MSG chunks.1 1 5\r\nhello\r\n");
    let mut decoder = Decoder::new();
    let mut at = 0;
    let mut held = Vec::new();
    while at < stream.len() {
        let room = decoder.room_for_read(64 * 1024);
        let n = room.min(stream.len() - at);
        decoder.buffer_mut().extend_from_slice(&stream[at..at + n]);
        at += n;
        while let Some(op) = decoder.decode().expect("a valid stream") {
            held.push(op);
        }
    }
    assert_eq!(held.len(), 2);
    assert!(decoder.blocks.current <= super::MAX_RETIRED_BLOCK);
}
