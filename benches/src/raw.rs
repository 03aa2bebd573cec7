//! The raw arm: plain blocking TCP sockets speaking just enough of the protocol, with
//! pre-encoded frames. What it measures is the ceiling a client could reach on this machine
//! and server; the raw responder also answers every client's requests (but in the rows
//! with a responder of the client's own), so request figures differ only by the requesting
//! side.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Sample;

/// A connected socket after `CONNECT` and a PING/PONG round trip.
pub(crate) struct Conn {
    pub(crate) reader: BufReader<TcpStream>,
    pub(crate) writer: TcpStream,
}

/// `host:port` of a `nats://host:port` URL.
pub(crate) fn addr(url: &str) -> String {
    url.trim_start_matches("nats://").to_owned()
}

impl Conn {
    pub(crate) fn connect(url: &str) -> Conn {
        Conn::connect_with(url, false)
    }

    /// With `headers`, the connection announces header support (`HMSG`), as clients do;
    /// without, the server strips headers from what it delivers.
    pub(crate) fn connect_with(url: &str, headers: bool) -> Conn {
        let stream = TcpStream::connect(addr(url)).expect("raw connect");
        stream.set_nodelay(true).expect("nodelay");
        let writer = stream.try_clone().expect("clone socket");
        let mut conn = Conn {
            reader: BufReader::with_capacity(256 * 1024, stream),
            writer,
        };
        let mut line = Vec::new();
        conn.reader.read_until(b'\n', &mut line).expect("INFO");
        assert!(line.starts_with(b"INFO "), "expected INFO");
        let connect: &[u8] = if headers {
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\nPING\r\n"
        } else {
            b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n"
        };
        conn.writer.write_all(connect).expect("CONNECT");
        conn.wait_pong();
        conn
    }

    /// Reads lines until `PONG`, answering `PING`.
    pub(crate) fn wait_pong(&mut self) {
        let mut line = Vec::with_capacity(128);
        loop {
            line.clear();
            let n = self.reader.read_until(b'\n', &mut line).expect("read");
            assert!(n > 0, "server closed the raw connection");
            if line.starts_with(b"PONG") {
                return;
            }
            if line.starts_with(b"PING") {
                self.writer.write_all(b"PONG\r\n").expect("PONG");
            }
            assert!(
                !line.starts_with(b"-ERR"),
                "{}",
                String::from_utf8_lossy(&line)
            );
        }
    }

    /// Sends `PING` and waits for the `PONG`: the server has processed everything before.
    pub(crate) fn round_trip(&mut self) {
        self.writer.write_all(b"PING\r\n").expect("PING");
        self.wait_pong();
    }
}

/// `PUB <subject> [reply] <len>\r\n<payload>\r\n`.
pub(crate) fn pub_frame(subject: &str, reply: Option<&str>, payload: &[u8]) -> Vec<u8> {
    let mut frame = match reply {
        Some(reply) => format!("PUB {subject} {reply} {}\r\n", payload.len()),
        None => format!("PUB {subject} {}\r\n", payload.len()),
    }
    .into_bytes();
    frame.extend_from_slice(payload);
    frame.extend_from_slice(b"\r\n");
    frame
}

/// Writes `n` copies of `frame` in batches of about 64 KiB.
pub(crate) fn write_frames(writer: &mut TcpStream, frame: &[u8], n: usize) {
    let per_batch = (64 * 1024 / frame.len()).max(1);
    let batch = frame.repeat(per_batch);
    let mut left = n;
    while left > 0 {
        let k = left.min(per_batch);
        writer.write_all(&batch[..k * frame.len()]).expect("write");
        left -= k;
    }
}

/// Publishes `n` messages of `size` bytes, then a PING/PONG.
pub(crate) fn publish(url: &str, size: usize, n: usize) -> Sample {
    let mut conn = Conn::connect(url);
    let frame = pub_frame("bench.pub", None, &vec![b'x'; size]);
    write_frames(&mut conn.writer, &frame, n / 10);
    conn.round_trip();
    let window = crate::alloc::Window::start();
    let started = Instant::now();
    write_frames(&mut conn.writer, &frame, n);
    conn.round_trip();
    Sample::rate(n, started.elapsed()).allocs(window.per(n as u64))
}

/// Counts messages of one fixed size arriving on a raw subscription.
pub(crate) struct RawSubscriber {
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl RawSubscriber {
    /// Subscribes to `subject` (sid 1) and counts `MSG` frames of `size`-byte payloads by
    /// their exact length.
    pub(crate) fn start(url: &str, subject: &str, size: usize) -> RawSubscriber {
        let mut conn = Conn::connect(url);
        conn.writer
            .write_all(format!("SUB {subject} 1\r\n").as_bytes())
            .expect("SUB");
        conn.round_trip();
        let frame_len = format!("MSG {subject} 1 {size}\r\n").len() + size + 2;
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (Arc::clone(&count), Arc::clone(&stop));
        let mut stream = conn.reader.into_inner();
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            let mut bytes = 0usize;
            while !s.load(Ordering::Relaxed) {
                match stream.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        bytes += n;
                        c.store((bytes / frame_len) as u64, Ordering::Relaxed);
                    }
                    Err(_) => continue,
                }
            }
        });
        RawSubscriber {
            count,
            stop,
            thread,
        }
    }

    pub(crate) fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.count)
    }

    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().ok();
    }
}

/// Raw publisher to a raw subscriber.
pub(crate) fn pubsub(url: &str, size: usize, n: usize, wait: Duration) -> Sample {
    let sub = RawSubscriber::start(url, "bench.ps", size);
    let count = sub.counter();
    let mut conn = Conn::connect(url);
    let frame = pub_frame("bench.ps", None, &vec![b'x'; size]);
    let started = Instant::now();
    write_frames(&mut conn.writer, &frame, n);
    conn.round_trip();
    let (got, elapsed) = smol::block_on(crate::scenarios::wait_for_count(
        &count, n as u64, started, wait,
    ));
    sub.stop();
    Sample::rate(got as usize, elapsed).delivered(got, n)
}

/// A raw publisher thread for a client subscriber: waits for `go`, publishes `n` frames,
/// round trips, and returns the instant the server had them all.
pub(crate) fn publisher_thread(
    url: &str,
    subject: &'static str,
    size: usize,
    n: usize,
) -> (
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<Instant>,
) {
    let frame = pub_frame(subject, None, &vec![b'x'; size]);
    writer_thread(url, move |writer| write_frames(writer, &frame, n))
}

/// A raw writer thread for a client's key-value watch: waits for `go`, then puts `n` values
/// of `size` bytes, each to a key of its own (`k0000000`, …: with one revision per key, a
/// watcher behind the writer would otherwise find most of one key's revisions already
/// replaced), with [`KV_WRITER_WINDOW`] acks outstanding at most, and returns the instant
/// the last was acknowledged. The frames are encoded before `go`. A writer that awaits no
/// ack outruns the stream: nats-server then drops what it cannot ingest ("excessive stream
/// ingest rate"), and a watcher is left waiting for entries that were never stored.
pub(crate) fn kv_writer_thread(
    url: &str,
    size: usize,
    n: usize,
) -> (
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<Instant>,
) {
    let value = vec![b'x'; size];
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let subject = format!("$KV.{}.k{i:07}", crate::scenarios::KV_BUCKET);
            pub_frame(&subject, Some("_INBOX.rawbench.1"), &value)
        })
        .collect();
    let mut conn = requester(url);
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        wait.recv().ok();
        windowed_puts(&mut conn, &frames, KV_WRITER_WINDOW);
        Instant::now()
    });
    (go, thread)
}

/// The raw key-value writer's acks outstanding at most (as the JetStream rows' window).
const KV_WRITER_WINDOW: usize = 256;

/// Writes each of `frames` (publishes with the raw inbox as reply), at most `window` acks
/// outstanding, until every ack has arrived; panics on an error instead of an ack.
fn windowed_puts(conn: &mut Conn, frames: &[Vec<u8>], window: usize) {
    let Conn { reader, writer } = conn;
    let mut writer = BufWriter::with_capacity(64 * 1024, &*writer);
    let (mut line, mut body) = (Vec::with_capacity(256), Vec::with_capacity(256));
    let mut next = frames.iter();
    for frame in next.by_ref().take(window) {
        writer.write_all(frame).expect("write");
    }
    writer.flush().expect("flush");
    for _ in 0..frames.len() {
        read_msg(reader, &mut line, &mut body);
        assert!(
            body.starts_with(b"{\"stream\""),
            "raw key-value put: {}",
            String::from_utf8_lossy(&body)
        );
        if let Some(frame) = next.next() {
            writer.write_all(frame).expect("write");
        }
        if reader.buffer().is_empty() {
            writer.flush().expect("flush");
        }
    }
}

/// Connects, then runs `write` on a thread once `go` is sent, and round trips.
fn writer_thread(
    url: &str,
    write: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> (
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<Instant>,
) {
    let mut conn = Conn::connect(url);
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        wait.recv().ok();
        write(&mut conn.writer);
        conn.round_trip();
        Instant::now()
    });
    (go, thread)
}

/// Answers every request on `subject` with its payload, from a thread, until the server
/// closes the connection. Allocation-free per message once its buffers have grown.
pub(crate) fn spawn_responder(url: &str, subject: &str) {
    let mut conn = Conn::connect(url);
    conn.writer
        .write_all(format!("SUB {subject} 1\r\n").as_bytes())
        .expect("SUB");
    conn.round_trip();
    std::thread::spawn(move || {
        let Conn { mut reader, writer } = conn;
        let mut writer = BufWriter::with_capacity(256 * 1024, writer);
        let mut line = Vec::with_capacity(256);
        let mut body = Vec::with_capacity(64 * 1024);
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line.starts_with(b"PING") {
                writer.write_all(b"PONG\r\n").ok();
            } else if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
                let headers = line[0] == b'H';
                let mut fields: [&[u8]; 6] = [&[]; 6];
                let mut n = 0;
                for f in line.trim_ascii_end().split(|b| *b == b' ') {
                    if n < 6 && !f.is_empty() {
                        fields[n] = f;
                        n += 1;
                    }
                }
                let number = |f: &[u8]| -> usize {
                    std::str::from_utf8(f)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0)
                };
                let total = number(fields[n - 1]);
                let header_len = if headers { number(fields[n - 2]) } else { 0 };
                let with_reply = n == if headers { 6 } else { 5 };
                body.resize(total + 2, 0);
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                if with_reply {
                    let payload = &body[header_len..total];
                    writer.write_all(b"PUB ").ok();
                    writer.write_all(fields[3]).ok();
                    write!(writer, " {}\r\n", payload.len()).ok();
                    writer.write_all(payload).ok();
                    writer.write_all(b"\r\n").ok();
                }
            }
            if reader.buffer().is_empty() && writer.flush().is_err() {
                return;
            }
        }
    });
}

/// The size of the message whose control line is `line`: its last field, headers included
/// (`MSG <subject> <sid> [reply] <size>`, `HMSG <subject> <sid> [reply] <header size> <size>`).
fn message_size(line: &[u8]) -> usize {
    line.trim_ascii_end()
        .rsplit(|b| *b == b' ')
        .next()
        .and_then(|f| std::str::from_utf8(f).ok())
        .and_then(|s| s.parse::<usize>().ok())
        .expect("MSG size")
}

/// Reads one `MSG` or `HMSG` into `body` (headers, payload and the closing CRLF) and
/// returns.
pub(crate) fn read_msg(reader: &mut BufReader<TcpStream>, line: &mut Vec<u8>, body: &mut Vec<u8>) {
    let mut said = String::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', line).expect("read");
        assert!(
            n > 0,
            "server closed the raw connection (its last word: {said:?})"
        );
        if line.starts_with(b"-ERR") {
            said = String::from_utf8_lossy(line).trim_end().to_owned();
        }
        if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
            body.resize(message_size(line) + 2, 0);
            reader.read_exact(body).expect("read payload");
            return;
        }
    }
}

fn requester(url: &str) -> Conn {
    requester_with(url, false)
}

/// A connection subscribed to the raw inbox `_INBOX.rawbench.*`.
pub(crate) fn requester_with(url: &str, headers: bool) -> Conn {
    let mut conn = Conn::connect_with(url, headers);
    conn.writer
        .write_all(b"SUB _INBOX.rawbench.* 1\r\n")
        .expect("SUB");
    conn.round_trip();
    conn
}

/// Sequential requests: the latency of each, in microseconds.
pub(crate) fn request_latency(url: &str, subject: &str, n: usize) -> Sample {
    let mut conn = requester(url);
    let frame = pub_frame(subject, Some("_INBOX.rawbench.1"), &[b'x'; 16]);
    let (mut line, mut body) = (Vec::with_capacity(256), Vec::with_capacity(256));
    let mut times = Vec::with_capacity(n);
    for _ in 0..n / 10 {
        conn.writer.write_all(&frame).expect("write");
        read_msg(&mut conn.reader, &mut line, &mut body);
    }
    let window = crate::alloc::Window::start();
    for _ in 0..n {
        let started = Instant::now();
        conn.writer.write_all(&frame).expect("write");
        read_msg(&mut conn.reader, &mut line, &mut body);
        times.push(started.elapsed());
    }
    Sample::latency(&mut times).allocs(window.per(n as u64))
}

/// `inflight` requests outstanding at all times until `n` are answered: requests/s.
pub(crate) fn request_inflight(url: &str, subject: &str, n: usize, inflight: usize) -> Sample {
    let mut conn = requester(url);
    let frame = pub_frame(subject, Some("_INBOX.rawbench.1"), &[b'x'; 16]);
    let (mut line, mut body) = (Vec::with_capacity(256), Vec::with_capacity(256));
    let mut writer = BufWriter::with_capacity(64 * 1024, conn.writer.try_clone().expect("clone"));
    let started = Instant::now();
    let mut sent = inflight.min(n);
    for _ in 0..sent {
        writer.write_all(&frame).expect("write");
    }
    writer.flush().expect("flush");
    for _ in 0..n {
        read_msg(&mut conn.reader, &mut line, &mut body);
        if sent < n {
            writer.write_all(&frame).expect("write");
            sent += 1;
        }
        if conn.reader.buffer().is_empty() {
            writer.flush().expect("flush");
        }
    }
    Sample::rate(n, started.elapsed())
}

/// `n` requests from `inflight` requester tasks, in the shape of an async client, on a tokio
/// runtime (`multi_thread` or current-thread): each task hands its pre-encoded request
/// (reply subject `_INBOX.rawasync.<task>`) to a writer task over a channel and awaits its
/// reply on a oneshot; the writer writes whatever has queued in one call, and a reader task
/// reads the replies and hands each to its task. No protocol state and no allocation per
/// request beyond the oneshot: what the tasks, their wake-ups and an async socket cost at
/// this concurrency (the client's driver reads and writes in one task; this arm has two).
pub(crate) fn request_inflight_async(
    url: &str,
    subject: &str,
    n: usize,
    inflight: usize,
    multi_thread: bool,
) -> Sample {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    use tokio::sync::{mpsc, oneshot};
    type Waiting = Arc<Vec<Mutex<Option<oneshot::Sender<()>>>>>;
    let rt = tokio_runtime(multi_thread);
    let addr = addr(url);
    let frames: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..inflight)
            .map(|i| pub_frame(subject, Some(&format!("_INBOX.rawasync.{i}")), &[b'x'; 16]))
            .collect(),
    );
    let per_task = n / inflight;
    rt.block_on(async move {
        let (mut reader, mut writer) = raw_async_connection(addr).await;
        let mut line = Vec::with_capacity(256);
        let waiting: Waiting = Arc::new((0..inflight).map(|_| Mutex::new(None)).collect());
        let (queue, mut queued) = mpsc::unbounded_channel::<usize>();
        let write_frames = Arc::clone(&frames);
        let write = tokio::spawn(async move {
            let mut out = Vec::with_capacity(64 * 1024);
            while let Some(i) = queued.recv().await {
                out.extend_from_slice(&write_frames[i]);
                while let Ok(i) = queued.try_recv() {
                    out.extend_from_slice(&write_frames[i]);
                }
                writer.write_all(&out).await.expect("write");
                out.clear();
            }
        });
        let replies = Arc::clone(&waiting);
        let total = per_task * inflight;
        let read = tokio::spawn(async move {
            let mut body = vec![0u8; 64];
            for _ in 0..total {
                // `MSG _INBOX.rawasync.<task> <sid> <size>`: the payload and its CRLF follow.
                let (task, size) = loop {
                    line.clear();
                    let read = reader.read_until(b'\n', &mut line).await.expect("read");
                    assert!(read > 0, "server closed the raw connection");
                    if let Some(rest) = line.strip_prefix(b"MSG _INBOX.rawasync.") {
                        break task_and_size(rest);
                    }
                };
                body.resize(size + 2, 0);
                reader.read_exact(&mut body).await.expect("payload");
                let done = replies[task].lock().expect("lock").take();
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
        });
        let started = Instant::now();
        let tasks: Vec<_> = (0..inflight)
            .map(|i| {
                let (queue, waiting) = (queue.clone(), Arc::clone(&waiting));
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        let (done, answered) = oneshot::channel();
                        *waiting[i].lock().expect("lock") = Some(done);
                        queue.send(i).expect("the writer runs");
                        answered.await.expect("an answer");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a requester task");
        }
        let elapsed = started.elapsed();
        drop(queue);
        read.await.expect("the reader ends");
        write.await.expect("the writer ends");
        Sample::rate(total, elapsed)
    })
}

/// A tokio runtime of the flavour asked for (multi-thread or current-thread).
fn tokio_runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("a tokio runtime")
}

/// What a raw async connection says first: its CONNECT (with headers), its inbox's
/// subscription and a PING.
const ASYNC_HELLO: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n\
    SUB _INBOX.rawasync.* 1\r\nPING\r\n";

/// A raw connection on the current tokio runtime, for the async raw arms: connected (with
/// headers), subscribed to `_INBOX.rawasync.*`, and past a PING/PONG.
pub(crate) async fn raw_async_connection(
    addr: String,
) -> (
    tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (reader, mut writer) = stream.into_split();
    let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, reader);
    let mut line = Vec::with_capacity(256);
    reader.read_until(b'\n', &mut line).await.expect("INFO");
    writer.write_all(ASYNC_HELLO).await.expect("CONNECT");
    loop {
        line.clear();
        reader.read_until(b'\n', &mut line).await.expect("PONG");
        if line.starts_with(b"PONG") {
            break;
        }
    }
    (reader, writer)
}

/// The task number and the payload size of `<task> <sid> <size>\r\n`, the rest of a reply's
/// `MSG _INBOX.rawasync.` line.
fn task_and_size(rest: &[u8]) -> (usize, usize) {
    let text = std::str::from_utf8(rest.trim_ascii_end()).expect("an ASCII MSG line");
    let number = |field: Option<&str>| -> usize {
        field
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| panic!("MSG line {text:?}"))
    };
    (
        number(text.split(' ').next()),
        number(text.rsplit(' ').next()),
    )
}

/// Creates the JetStream scenarios' stream afresh over the raw connection, as the clients'
/// arms do (`create_stream` with the name, the one subject and the storage, every other
/// setting the server's default).
fn raw_stream(conn: &mut Conn, memory: bool) {
    use crate::scenarios::{JS_STREAM, JS_SUBJECT};
    api_request(conn, &format!("$JS.API.STREAM.DELETE.{JS_STREAM}"), b"");
    let config = format!(
        "{{\"name\":\"{JS_STREAM}\",\"subjects\":[\"{JS_SUBJECT}\"],\"storage\":\"{}\"}}",
        if memory { "memory" } else { "file" }
    );
    let reply = api_request(
        conn,
        &format!("$JS.API.STREAM.CREATE.{JS_STREAM}"),
        config.as_bytes(),
    );
    assert!(!reply.contains("\"error\""), "raw stream: {reply}");
}

/// Writes `n` copies of a publish `frame` whose reply subject is the requester's inbox,
/// keeping at most `window` unanswered: the first `window` at once, then one more for each
/// reply read, each reply a JetStream ack (checked). Writes are coalesced until no reply
/// is left to read without blocking.
fn windowed_acks(conn: &mut Conn, frame: &[u8], n: usize, window: usize) {
    let Conn { reader, writer } = conn;
    let mut writer = BufWriter::with_capacity(64 * 1024, &*writer);
    let (mut line, mut body) = (Vec::with_capacity(256), Vec::with_capacity(256));
    let mut sent = window.min(n);
    for _ in 0..sent {
        writer.write_all(frame).expect("write");
    }
    writer.flush().expect("flush");
    for _ in 0..n {
        read_msg(reader, &mut line, &mut body);
        assert!(
            body.starts_with(b"{\"stream\""),
            "raw JetStream ack: {}",
            String::from_utf8_lossy(&body)
        );
        if sent < n {
            writer.write_all(frame).expect("write");
            sent += 1;
        }
        if reader.buffer().is_empty() {
            writer.flush().expect("flush");
        }
    }
}

/// JetStream publishes of `size` bytes to a fresh stream (memory or file storage), each
/// with the raw inbox as its reply subject, at most `window` acks outstanding (a publish
/// beyond the window waits for the next ack), then every ack: publishes per second. The
/// ceiling of the JetStream publish rows, whose clients keep the same window. A warm-up of
/// a tenth of the messages (at least a window) comes first, as in the clients' arms.
pub(crate) fn js_publish(url: &str, size: usize, n: usize, window: usize, memory: bool) -> Sample {
    let mut conn = requester(url);
    raw_stream(&mut conn, memory);
    let frame = pub_frame(
        crate::scenarios::JS_SUBJECT,
        Some("_INBOX.rawbench.1"),
        &vec![b'x'; size],
    );
    windowed_acks(&mut conn, &frame, (n / 10).max(window), window);
    let allocs = crate::alloc::Window::start();
    let started = Instant::now();
    windowed_acks(&mut conn, &frame, n, window);
    let sample = Sample::rate(n, started.elapsed()).allocs(allocs.per(n as u64));
    let stream = crate::scenarios::JS_STREAM;
    api_request(&mut conn, &format!("$JS.API.STREAM.DELETE.{stream}"), b"");
    sample
}

/// One request on a [`requester`]'s connection, outside any measured window: the reply's
/// body as text.
fn api_request(conn: &mut Conn, subject: &str, payload: &[u8]) -> String {
    let (mut line, mut body) = (Vec::new(), Vec::new());
    let frame = pub_frame(subject, Some("_INBOX.rawbench.1"), payload);
    conn.writer.write_all(&frame).expect("write");
    read_msg(&mut conn.reader, &mut line, &mut body);
    String::from_utf8_lossy(&body).into_owned()
}

/// Creates the key-value scenarios' bucket afresh over the raw connection, as the clients'
/// `create_key_value` does (its stream: one revision per key, direct get allowed), and,
/// given a value, puts it at the scenarios' key.
pub(crate) fn raw_bucket(conn: &mut Conn, memory: bool, value: Option<&[u8]>) {
    use crate::scenarios::{KV_BUCKET, KV_SUBJECT};
    let stream = format!("KV_{KV_BUCKET}");
    api_request(conn, &format!("$JS.API.STREAM.DELETE.{stream}"), b"");
    let config = format!(
        "{{\"name\":\"{stream}\",\"subjects\":[\"$KV.{KV_BUCKET}.>\"],\
         \"retention\":\"limits\",\"max_msgs_per_subject\":1,\"max_msgs\":-1,\
         \"max_bytes\":-1,\"max_msg_size\":-1,\"max_consumers\":-1,\"storage\":\"{}\",\
         \"num_replicas\":1,\"discard\":\"new\",\"duplicate_window\":120000000000,\
         \"allow_rollup_hdrs\":true,\"deny_delete\":true,\"allow_direct\":true}}",
        if memory { "memory" } else { "file" }
    );
    let reply = api_request(
        conn,
        &format!("$JS.API.STREAM.CREATE.{stream}"),
        config.as_bytes(),
    );
    assert!(!reply.contains("\"error\""), "raw bucket: {reply}");
    if let Some(value) = value {
        let reply = api_request(conn, KV_SUBJECT, value);
        assert!(reply.contains("\"seq\""), "raw put: {reply}");
    }
}

pub(crate) fn delete_raw_bucket(conn: &mut Conn) {
    let stream = format!("KV_{}", crate::scenarios::KV_BUCKET);
    api_request(conn, &format!("$JS.API.STREAM.DELETE.{stream}"), b"");
}

/// Sequential direct gets of the key's latest value (`$JS.API.DIRECT.GET.KV_<b>.$KV.<b>.<key>`,
/// empty payload) after a raw put of `size` bytes: the latency of each, in microseconds.
/// The ceiling of a key-value get.
pub(crate) fn kv_get_latency(url: &str, size: usize, n: usize, memory: bool) -> Sample {
    use crate::scenarios::{KV_BUCKET, KV_SUBJECT};
    let mut conn = requester_with(url, true);
    raw_bucket(&mut conn, memory, Some(&vec![b'x'; size]));
    let subject = format!("$JS.API.DIRECT.GET.KV_{KV_BUCKET}.{KV_SUBJECT}");
    let frame = pub_frame(&subject, Some("_INBOX.rawbench.1"), b"");
    let (mut line, mut body) = (Vec::with_capacity(256), Vec::with_capacity(1024));
    conn.writer.write_all(&frame).expect("write");
    read_msg(&mut conn.reader, &mut line, &mut body);
    assert!(
        line.starts_with(b"HMSG ") && body.starts_with(b"NATS/1.0\r\n"),
        "raw direct get: {}",
        String::from_utf8_lossy(&body)
    );
    // The value, then the closing CRLF.
    assert_eq!(
        body.len() - 2 - memchr::memmem::find(&body, b"\r\n\r\n").map_or(0, |i| i + 4),
        size
    );
    for _ in 0..n / 10 {
        conn.writer.write_all(&frame).expect("write");
        read_msg(&mut conn.reader, &mut line, &mut body);
    }
    let mut times = Vec::with_capacity(n);
    let window = crate::alloc::Window::start();
    for _ in 0..n {
        let started = Instant::now();
        conn.writer.write_all(&frame).expect("write");
        read_msg(&mut conn.reader, &mut line, &mut body);
        times.push(started.elapsed());
    }
    let sample = Sample::latency(&mut times).allocs(window.per(n as u64));
    delete_raw_bucket(&mut conn);
    sample
}

/// Sequential puts of `size` bytes to the key (a publish with a reply inbox, its ack read
/// before the next): puts per second. The ceiling of a key-value put.
pub(crate) fn kv_put(url: &str, size: usize, n: usize, memory: bool) -> Sample {
    let mut conn = requester_with(url, true);
    raw_bucket(&mut conn, memory, None);
    let frame = pub_frame(
        crate::scenarios::KV_SUBJECT,
        Some("_INBOX.rawbench.1"),
        &vec![b'x'; size],
    );
    let (mut line, mut body) = (Vec::with_capacity(256), Vec::with_capacity(256));
    for _ in 0..n / 10 {
        conn.writer.write_all(&frame).expect("write");
        read_msg(&mut conn.reader, &mut line, &mut body);
    }
    let window = crate::alloc::Window::start();
    let started = Instant::now();
    for _ in 0..n {
        conn.writer.write_all(&frame).expect("write");
        read_msg(&mut conn.reader, &mut line, &mut body);
    }
    let sample = Sample::rate(n, started.elapsed()).allocs(window.per(n as u64));
    delete_raw_bucket(&mut conn);
    sample
}

/// A raw WebSocket connection (`ws://`): the upgrade, then masked binary frames out and the
/// server's frames in, after `CONNECT` and a PING/PONG round trip.
pub(crate) struct WsConn {
    stream: TcpStream,
    /// Bytes read and not yet taken as frames.
    buf: Vec<u8>,
}

/// The one mask key of the raw WebSocket arm: its frames are masked once, before timing.
const WS_MASK: [u8; 4] = [0x5a, 0xa5, 0x3c, 0xc3];

/// A masked, final binary frame holding `payload`.
pub(crate) fn ws_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x82];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&WS_MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ WS_MASK[i % 4]));
    frame
}

impl WsConn {
    /// Connects to `ws://host:port`, upgrades, and completes the NATS handshake.
    pub(crate) fn connect(ws_url: &str) -> WsConn {
        let addr = ws_url.trim_start_matches("ws://").trim_end_matches('/');
        let stream = TcpStream::connect(addr).expect("raw ws connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut conn = WsConn {
            stream,
            buf: Vec::with_capacity(256 * 1024),
        };
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        conn.stream.write_all(request.as_bytes()).expect("upgrade");
        let head_end = loop {
            if let Some(i) = conn.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            conn.fill();
        };
        assert!(conn.buf.starts_with(b"HTTP/1.1 101"), "upgrade refused");
        conn.buf.drain(..head_end);
        assert!(conn.next_payload().starts_with(b"INFO "), "expected INFO");
        let connect = ws_frame(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n");
        conn.stream.write_all(&connect).expect("CONNECT");
        conn.wait_pong();
        conn
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk).expect("read");
        assert!(n > 0, "server closed the raw WebSocket connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// The payload of the next server frame (unmasked, whole).
    fn next_payload(&mut self) -> Vec<u8> {
        loop {
            if self.buf.len() >= 2 {
                let (len, at) = match self.buf[1] & 0x7F {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&self.buf[2..10]);
                        (u64::from_be_bytes(b) as usize, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let payload = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return payload;
                }
            }
            self.fill();
        }
    }

    /// Reads frames until one holds `PONG`.
    fn wait_pong(&mut self) {
        loop {
            let payload = self.next_payload();
            assert!(
                !payload.starts_with(b"-ERR"),
                "{}",
                String::from_utf8_lossy(&payload)
            );
            if payload.windows(4).any(|w| w == b"PONG") {
                return;
            }
        }
    }

    /// Sends `PING` and waits for the `PONG`.
    pub(crate) fn round_trip(&mut self) {
        self.stream.write_all(&ws_frame(b"PING\r\n")).expect("PING");
        self.wait_pong();
    }
}

/// Writes `n` copies of `frame` in WebSocket frames of about 64 KiB, pre-masked.
fn write_ws_frames(conn: &mut WsConn, frame: &[u8], n: usize) {
    let per_batch = (64 * 1024 / frame.len()).max(1);
    let full = ws_frame(&frame.repeat(per_batch));
    let mut left = n;
    while left >= per_batch {
        conn.stream.write_all(&full).expect("write");
        left -= per_batch;
    }
    if left > 0 {
        conn.stream
            .write_all(&ws_frame(&frame.repeat(left)))
            .expect("write");
    }
}

/// Publishes `n` messages of `size` bytes over `ws://`, then a PING/PONG: the ceiling of
/// WebSocket publishing on this machine and server (the server unmasks every byte).
pub(crate) fn ws_publish(ws_url: &str, size: usize, n: usize) -> Sample {
    let mut conn = WsConn::connect(ws_url);
    let frame = pub_frame("bench.pub", None, &vec![b'x'; size]);
    write_ws_frames(&mut conn, &frame, n / 10);
    conn.round_trip();
    let window = crate::alloc::Window::start();
    let started = Instant::now();
    write_ws_frames(&mut conn, &frame, n);
    conn.round_trip();
    Sample::rate(n, started.elapsed()).allocs(window.per(n as u64))
}

/// The raw round trip with the same shape as an async client: on a tokio runtime
/// (`multi_thread` or current-thread), a requester task hands each pre-encoded request to
/// an IO task over a channel; the IO task writes it, reads the reply and hands it back.
/// No protocol state, no allocation per request: what two tasks and an async socket cost on
/// this machine, beside the blocking raw arm's one thread.
pub(crate) fn request_latency_async(
    url: &str,
    subject: &str,
    n: usize,
    multi_thread: bool,
) -> Sample {
    let frame = pub_frame(subject, Some("_INBOX.rawasync.1"), &[b'x'; 16]);
    round_trips_async(url, frame, n, multi_thread)
}

/// The key-value get's floor of the same shape: sequential direct gets
/// (`$JS.API.DIRECT.GET.KV_<b>.$KV.<b>.<key>`, as [`kv_get_latency`]) through a requester
/// task and an IO task, after a raw put of `size` bytes.
pub(crate) fn kv_get_latency_async(url: &str, size: usize, n: usize, multi_thread: bool) -> Sample {
    use crate::scenarios::{KV_BUCKET, KV_SUBJECT};
    let mut conn = requester_with(url, true);
    raw_bucket(&mut conn, false, Some(&vec![b'x'; size]));
    let subject = format!("$JS.API.DIRECT.GET.KV_{KV_BUCKET}.{KV_SUBJECT}");
    let frame = pub_frame(&subject, Some("_INBOX.rawasync.1"), b"");
    let sample = round_trips_async(url, frame, n, multi_thread);
    delete_raw_bucket(&mut conn);
    sample
}

/// Reads up to and including the next message on a raw async connection (answering a
/// `PING` on the way): its control line is left in `line`, its bytes in `body`.
async fn read_reply_async(
    reader: &mut tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    line: &mut Vec<u8>,
    body: &mut Vec<u8>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    loop {
        line.clear();
        let read = reader.read_until(b'\n', line).await.expect("read");
        assert!(read > 0, "server closed the raw connection");
        if line.starts_with(b"PING") {
            writer.write_all(b"PONG\r\n").await.expect("PONG");
        }
        if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
            break;
        }
    }
    // The message (headers included) and its CRLF follow.
    body.resize(message_size(line) + 2, 0);
    reader.read_exact(body).await.expect("payload");
}

/// One round trip of the pre-encoded request `frame` on a raw tokio connection
/// ([`raw_async_connection`]): written, and its reply read into `line` and `body`.
pub(crate) async fn tokio_round_trip(
    reader: &mut tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    frame: &[u8],
    line: &mut Vec<u8>,
    body: &mut Vec<u8>,
) {
    use tokio::io::AsyncWriteExt;
    writer.write_all(frame).await.expect("write");
    read_reply_async(reader, writer, line, body).await;
}

/// A raw connection on smol, as [`raw_async_connection`] on tokio: connected (with headers),
/// subscribed to `_INBOX.rawasync.*`, and past a PING/PONG.
pub(crate) async fn smol_raw_connection(
    addr: &str,
) -> futures_lite::io::BufReader<smol::net::TcpStream> {
    use futures_lite::{AsyncBufReadExt, AsyncWriteExt};
    let mut stream = smol::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.write_all(ASYNC_HELLO).await.expect("CONNECT");
    let mut reader = futures_lite::io::BufReader::with_capacity(64 * 1024, stream);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        reader.read_until(b'\n', &mut line).await.expect("PONG");
        if line.starts_with(b"PONG") {
            return reader;
        }
    }
}

/// [`tokio_round_trip`] on a smol connection ([`smol_raw_connection`]).
pub(crate) async fn smol_round_trip(
    stream: &mut futures_lite::io::BufReader<smol::net::TcpStream>,
    frame: &[u8],
    line: &mut Vec<u8>,
    body: &mut Vec<u8>,
) {
    use futures_lite::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    stream.get_mut().write_all(frame).await.expect("write");
    loop {
        line.clear();
        let read = stream.read_until(b'\n', line).await.expect("read");
        assert!(read > 0, "server closed the raw connection");
        if line.starts_with(b"PING") {
            stream.get_mut().write_all(b"PONG\r\n").await.expect("PONG");
        }
        if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
            break;
        }
    }
    body.resize(message_size(line) + 2, 0);
    stream.read_exact(body).await.expect("payload");
}

/// `n` round trips of the pre-encoded request `frame` (its reply subject under
/// `_INBOX.rawasync.`) through a requester task and an IO task: the latency of each.
fn round_trips_async(url: &str, frame: Vec<u8>, n: usize, multi_thread: bool) -> Sample {
    use tokio::io::AsyncWriteExt;
    let rt = tokio_runtime(multi_thread);
    let addr = addr(url);
    rt.block_on(async move {
        let (mut reader, mut writer) = raw_async_connection(addr).await;
        let mut line = Vec::with_capacity(256);
        let (requests, mut next) =
            tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>(1);
        let io = tokio::spawn(async move {
            let mut body = vec![0u8; 64];
            while let Some(done) = next.recv().await {
                writer.write_all(&frame).await.expect("write");
                read_reply_async(&mut reader, &mut writer, &mut line, &mut body).await;
                let _ = done.send(());
            }
        });
        let round_trip = || {
            let (done, answered) = tokio::sync::oneshot::channel();
            let requests = requests.clone();
            async move {
                requests.send(done).await.expect("the IO task runs");
                answered.await.expect("an answer");
            }
        };
        for _ in 0..n / 10 {
            round_trip().await;
        }
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            round_trip().await;
            times.push(started.elapsed());
        }
        drop(requests);
        io.await.expect("the IO task ends");
        Sample::latency(&mut times)
    })
}
