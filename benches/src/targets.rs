//! The targets of the benchmark issue, each with our figure from this run and whether it
//! was met. "Met" is read off the medians of this one run: on a loaded 2-core machine a
//! target near its threshold can flip from run to run.

use std::fmt::Write as _;

use crate::{fmt_bytes, median_of, MicroRow, Row, Runtime, Sample, Settings, Unit};

/// The request rows answered by a responder of the requesting client's own: a plain
/// subscriber-responder, and a service endpoint.
pub(crate) const PLAIN: &str = "plain request p50, own responder (µs)";
pub(crate) const SERVICE: &str = "service request p50, own service (µs)";

/// A publish row over WebSocket and the row of the same publishes over TCP run beside it.
pub(crate) struct WsPublish {
    /// Payload bytes.
    pub(crate) size: usize,
    /// Ours and async-nats over `ws://`.
    pub(crate) ws: &'static str,
    /// Ours and async-nats over TCP, in the same repetitions.
    pub(crate) tcp: &'static str,
}

/// The WebSocket publish rows; their targets: at least async-nats's rate over `ws://`, and
/// at least [`WS_OF_TCP`] of our own rate over TCP.
pub(crate) const WS_PUBLISH: [WsPublish; 2] = [
    WsPublish {
        size: 16,
        ws: "publish 16 B over ws://",
        tcp: "publish 16 B over TCP, beside ws://",
    },
    WsPublish {
        size: 1024,
        ws: "publish 1 KiB over ws://",
        tcp: "publish 1 KiB over TCP, beside ws://",
    },
];

/// The request latency over WebSocket and over TCP, run beside each other: p50 rows and
/// the p99 rows made from their samples.
pub(crate) struct WsRequest {
    pub(crate) ws: &'static str,
    pub(crate) tcp: &'static str,
    pub(crate) ws_p99: &'static str,
    pub(crate) tcp_p99: &'static str,
}

/// The WebSocket request rows (shown, no target of their own).
pub(crate) const WS_REQUEST: WsRequest = WsRequest {
    ws: "request latency p50 over ws:// (µs)",
    tcp: "request latency p50 over TCP, beside ws:// (µs)",
    ws_p99: "request latency p99 over ws:// (µs)",
    tcp_p99: "request latency p99 over TCP, beside ws:// (µs)",
};

/// The least fraction of our TCP publish rate our WebSocket publish rate may reach.
const WS_OF_TCP: f64 = 0.7;

/// Allocation figures at or below this count as zero (amortised buffer growth).
const ZERO: f64 = 0.005;

fn find<'a>(rows: &'a [Row], name: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.name == name)
}

fn value(samples: &[Sample]) -> Option<f64> {
    median_of(samples, |s| Some(s.value))
}

/// Ours over the other arm (raw when `raw`, else async-nats), with both medians.
fn ratio(row: &Row, raw: bool) -> Option<(f64, f64, f64)> {
    let ours = value(&row.ours)?;
    let other = value(if raw { &row.raw } else { &row.theirs })?;
    (other > 0.0).then_some((ours / other, ours, other))
}

fn allocs(row: &Row) -> Option<f64> {
    median_of(&row.ours, |s| s.allocs)
}

struct Line {
    target: String,
    rows: String,
    figure: String,
    met: Option<bool>,
}

impl Line {
    fn new(target: &str, rows: &str) -> Line {
        Line {
            target: target.into(),
            rows: rows.into(),
            figure: "not run".into(),
            met: None,
        }
    }
}

/// A ratio target on one row: ours over raw (or async-nats) against `limit`.
fn ratio_line(
    rows: &[Row],
    target: &str,
    name: &str,
    raw: bool,
    at_least: bool,
    limit: f64,
) -> Line {
    let other = if raw { "raw" } else { "async-nats" };
    let mut line = Line::new(target, &format!("{name}, ours/{other}"));
    if let Some(row) = find(rows, name) {
        if let Some((r, ours, theirs)) = ratio(row, raw) {
            line.figure = format!(
                "{r:.2}× {other} ({} vs {})",
                crate::fmt_value(ours, row.unit),
                crate::fmt_value(theirs, row.unit)
            );
            line.met = Some(if at_least { r >= limit } else { r <= limit });
        }
    }
    line
}

/// Our median of row `name` over our median of row `reference` (both from this run),
/// against `limit`: at least it when `at_least`, else at most it.
fn rows_line(
    rows: &[Row],
    target: &str,
    name: &str,
    reference: &str,
    at_least: bool,
    limit: f64,
) -> Line {
    let mut line = Line::new(target, &format!("{name} over {reference}, ours"));
    let ours = |n| find(rows, n).and_then(|r| Some((value(&r.ours)?, r.unit)));
    if let (Some((a, unit)), Some((b, _))) = (ours(name), ours(reference)) {
        if b > 0.0 {
            line.figure = format!(
                "{:.2}× ({} vs {})",
                a / b,
                crate::fmt_value(a, unit),
                crate::fmt_value(b, unit)
            );
            line.met = Some(if at_least {
                a / b >= limit
            } else {
                a / b <= limit
            });
        }
    }
    line
}

/// An allocation target over several rows: every row's median within `limit`.
fn allocs_line(rows: &[Row], target: &str, names: &[&str], limit: f64) -> Line {
    let mut line = Line::new(target, "allocs per op, ours");
    let found: Vec<(&str, f64)> = names
        .iter()
        .filter_map(|n| Some((*n, allocs(find(rows, n)?)?)))
        .collect();
    if !found.is_empty() {
        line.figure = found
            .iter()
            .map(|(n, a)| format!("{n}: {a:.2}"))
            .collect::<Vec<_>>()
            .join("; ");
        line.met = Some(found.iter().all(|(_, a)| *a <= limit));
    }
    line
}

/// The WebSocket targets, for each publish size: our rate over `ws://` at least async-nats's
/// over `ws://`, and at least [`WS_OF_TCP`] of our own rate over TCP in the same repetitions.
fn websocket_lines(rows: &[Row], lines: &mut Vec<Line>) {
    for publish in &WS_PUBLISH {
        let size = crate::size_name(publish.size);
        lines.push(ratio_line(
            rows,
            &format!("ws:// publish {size} ≥ async-nats over ws://"),
            publish.ws,
            false,
            true,
            1.0,
        ));
        lines.push(rows_line(
            rows,
            &format!("ws:// publish {size} ≥ {WS_OF_TCP}× our TCP publish"),
            publish.ws,
            publish.tcp,
            true,
            WS_OF_TCP,
        ));
    }
}

/// The key-value targets: get p50 against the raw direct get made in the same seconds (the
/// interleaved rows), put (each put row) and watch rates against async-nats, allocations
/// per get.
fn kv_lines(rows: &[Row], lines: &mut Vec<Line>) {
    const GET: &str = "KV get 128 B p50 (µs)";
    for runtime in Runtime::ALL {
        lines.push(ratio_line(
            rows,
            "KV get p50 ≤ 1.1× raw direct get",
            &runtime.row_name(crate::GET_INTERLEAVED),
            true,
            false,
            1.1,
        ));
    }
    let puts: Vec<&Row> = rows
        .iter()
        .filter(|r| r.name.starts_with("KV put"))
        .collect();
    for row in &puts {
        lines.push(ratio_line(
            rows,
            "KV put ≥ async-nats",
            &row.name,
            false,
            true,
            1.0,
        ));
    }
    if puts.is_empty() {
        lines.push(Line::new("KV put ≥ async-nats", "KV put …"));
    }
    lines.push(ratio_line(
        rows,
        "KV watch ≥ async-nats",
        "KV watch 128 B, entries stored first",
        false,
        true,
        1.0,
    ));
    let gets = Runtime::ALL.map(|r| r.row_name(GET));
    let gets: Vec<&str> = gets.iter().map(String::as_str).collect();
    lines.push(allocs_line(rows, "≤ 3 allocations per KV get", &gets, 3.0));
}

/// The most a 1 GiB object put or get may add to the process's peak resident memory.
const OBJECT_PEAK: f64 = 32.0 * 1048576.0;

/// The object-store targets, for a put and for a get: throughput at least async-nats's, and
/// a peak memory growth under [`OBJECT_PEAK`] for a 1 GiB object (the full run's size; a
/// quick run's smaller object is shown but does not meet or miss the target).
fn object_lines(rows: &[Row], lines: &mut Vec<Line>) {
    for op in ["put", "get"] {
        let prefix = format!("object {op} ");
        let row = |unit| {
            rows.iter()
                .find(|r| r.name.starts_with(&prefix) && r.unit == unit)
        };
        let target = format!("object {op} ≥ async-nats");
        lines.push(match row(Unit::Throughput) {
            Some(r) => ratio_line(rows, &target, &r.name, false, true, 1.0),
            None => Line::new(&target, &format!("object {op} 256 MiB")),
        });
        let mut line = Line::new(
            &format!("object {op} peak memory < 32 MiB, 1 GiB object"),
            &format!("object {op} 1 GiB, peak memory growth"),
        );
        if let Some(r) = row(Unit::Bytes) {
            line.rows = format!("{}, ours (async-nats)", r.name);
            if let Some(ours) = value(&r.ours) {
                let theirs = value(&r.theirs).map_or("—".into(), fmt_bytes);
                line.figure = format!("{} (async-nats {theirs})", fmt_bytes(ours));
                if r.name.contains("1 GiB") {
                    line.met = Some(ours < OBJECT_PEAK);
                } else {
                    line.figure.push_str("; 1 GiB not measured (quick mode)");
                }
            }
        }
        lines.push(line);
    }
}

/// The least fraction of the raw arm's rate (or, for latency, the most multiple of the raw
/// round trip) this round's targets ask for.
const PUBLISH_OF_RAW: f64 = 0.9;
const PUBSUB16_OF_RAW: f64 = 0.95;
const PUBSUB1K_OF_RAW: f64 = 0.9;
const REQUEST_OF_RAW: f64 = 1.1;
const INFLIGHT_OF_RAW: f64 = 0.75;
const JETSTREAM_OF_RAW: f64 = 0.9;
/// The most peak resident memory of the 1M × 1 KiB pub→sub (full run).
const PEAK_PUBSUB: f64 = 20.0 * 1048576.0;
/// The decoder's least throughput over the realistic MSG/HMSG stream, and its most
/// allocations per frame.
const DECODE_BYTES_PER_SEC: f64 = 2.5e9;
const DECODE_ALLOCS: f64 = 0.05;

/// Adds the delivery of the row's worst repetition to a line, which it meets only at 100 %.
fn delivered(rows: &[Row], name: &str, line: &mut Line) {
    line.rows.push_str(" and delivered");
    if let Some(row) = find(rows, name) {
        let worst = row
            .ours
            .iter()
            .filter_map(|x| x.delivered)
            .fold(f64::INFINITY, f64::min);
        if worst.is_finite() {
            let _ = write!(
                line.figure,
                ", {:.1}% delivered (worst repetition)",
                worst * 100.0
            );
            line.met = line.met.map(|m| m && worst >= 1.0);
        }
    }
}

/// pub→sub 1 KiB on `runtime`: at least [`PUBSUB1K_OF_RAW`] of raw and at least async-nats.
/// On smol, where async-nats has no arm, against the better of async-nats's two tokio rows.
fn pubsub_1k_line(rows: &[Row], runtime: Runtime) -> Line {
    const BASE: &str = "pub→sub 1 KiB";
    let name = runtime.row_name(BASE);
    let mut line = ratio_line(
        rows,
        &format!("pub→sub 1 KiB ≥ {PUBSUB1K_OF_RAW}× raw and ≥ async-nats"),
        &name,
        true,
        true,
        PUBSUB1K_OF_RAW,
    );
    let theirs = if runtime == Runtime::Smol {
        line.rows = format!("{name}, ours/raw and ours/async-nats (its better tokio row)");
        [Runtime::MultiThread, Runtime::CurrentThread]
            .iter()
            .filter_map(|r| value(&find(rows, &r.row_name(BASE))?.theirs))
            .reduce(f64::max)
    } else {
        line.rows = format!("{name}, ours/raw and ours/async-nats");
        find(rows, &name).and_then(|r| value(&r.theirs))
    };
    let ours = find(rows, &name).and_then(|r| value(&r.ours));
    match (line.met, ours, theirs) {
        (Some(met), Some(ours), Some(theirs)) if theirs > 0.0 => {
            let r = ours / theirs;
            let _ = write!(
                line.figure,
                "; {r:.2}× async-nats ({})",
                crate::fmt_value(theirs, Unit::Rate)
            );
            line.met = Some(met && r >= 1.0);
        }
        (Some(_), _, _) => {
            line.figure.push_str("; async-nats not run");
            line.met = None;
        }
        _ => {}
    }
    line
}

/// An absolute limit on our median of the row: at most `limit`.
fn at_most_line(rows: &[Row], target: &str, name: &str, limit: f64) -> Line {
    let mut line = Line::new(target, &format!("{name}, ours"));
    if let Some(row) = find(rows, name) {
        if let Some(ours) = value(&row.ours) {
            line.figure = crate::fmt_value(ours, row.unit);
            line.met = Some(ours <= limit);
        }
    }
    line
}

/// This round's targets (issue "performance, second round").
fn this_round(s: &Settings, rows: &[Row], micro: &[MicroRow]) -> Vec<Line> {
    let mut lines = Vec::new();
    for size in [16, 128, 1024, 8192] {
        let size = crate::size_name(size);
        for runtime in Runtime::ALL {
            lines.push(ratio_line(
                rows,
                &format!("publish {size} ≥ {PUBLISH_OF_RAW}× raw"),
                &runtime.row_name(&format!("publish {size}")),
                true,
                true,
                PUBLISH_OF_RAW,
            ));
        }
    }
    for runtime in Runtime::ALL {
        let name = runtime.row_name("pub→sub 16 B");
        let mut line = ratio_line(
            rows,
            &format!("pub→sub 16 B ≥ {PUBSUB16_OF_RAW}× raw, 100 % delivered"),
            &name,
            true,
            true,
            PUBSUB16_OF_RAW,
        );
        delivered(rows, &name, &mut line);
        lines.push(line);
    }
    lines.extend(Runtime::ALL.map(|r| pubsub_1k_line(rows, r)));
    for runtime in Runtime::ALL {
        lines.push(ratio_line(
            rows,
            &format!("request p50 ≤ {REQUEST_OF_RAW}× raw round trip"),
            &runtime.row_name("request latency p50 (µs)"),
            true,
            false,
            REQUEST_OF_RAW,
        ));
    }
    lines.push(ratio_line(
        rows,
        &format!("64 requests in flight ≥ {INFLIGHT_OF_RAW}× the pipelined raw arm"),
        "requests, 64 in flight",
        true,
        true,
        INFLIGHT_OF_RAW,
    ));
    for storage in ["memory", "file"] {
        lines.push(ratio_line(
            rows,
            &format!("JetStream publish ≥ {JETSTREAM_OF_RAW}× the raw JetStream arm"),
            &format!("JetStream publish 128 B, {storage} stream, 256 acks in flight"),
            true,
            true,
            JETSTREAM_OF_RAW,
        ));
    }

    let peak = rows
        .iter()
        .find(|r| r.name.starts_with("peak memory"))
        .map_or("peak memory, pub→sub 1M × 1 KiB", |r| r.name.as_str());
    let mut peak_line = at_most_line(
        rows,
        "peak memory, 1M × 1 KiB pub→sub ≤ 20 MiB (full run)",
        peak,
        PEAK_PUBSUB,
    );
    if s.quick && peak_line.met.is_some() {
        peak_line.figure.push_str("; 1M not measured (quick mode)");
        peak_line.met = None;
    }
    lines.push(peak_line);

    lines.push(allocs_line(
        rows,
        "≤ 1 allocation per request on smol",
        &[
            &Runtime::Smol.row_name("request latency p50 (µs)"),
            &Runtime::Smol.row_name("requests, 64 in flight"),
        ],
        1.0,
    ));
    let js: Vec<&str> = rows
        .iter()
        .filter(|r| r.name.starts_with("JetStream publish"))
        .map(|r| r.name.as_str())
        .collect();
    let mut js_line = allocs_line(rows, "≤ 1 allocation per JetStream publish", &js, 1.0);
    if js.is_empty() {
        js_line.rows = "JetStream publish …, allocs per op, ours".into();
    }
    lines.push(js_line);

    let mut decode = Line::new(
        &format!(
            "decoder, realistic MSG/HMSG stream ≥ 2.5 GB/s and ≤ {DECODE_ALLOCS} allocations per frame"
        ),
        "micro: decode MSG/HMSG stream, throughput and allocs per frame",
    );
    if let Some((_, results)) = micro
        .iter()
        .find(|(name, _)| name.starts_with("micro: decode"))
    {
        let median = |f: fn(&crate::micro::Micro) -> f64| {
            let mut v: Vec<f64> = results.iter().map(f).collect();
            crate::median(&mut v)
        };
        let (bytes, allocs) = (median(|m| m.bytes_per_sec), median(|m| m.allocs));
        if bytes.is_finite() {
            decode.figure = format!("{:.2} GB/s, {allocs:.3} allocations per frame", bytes / 1e9);
            decode.met = Some(bytes >= DECODE_BYTES_PER_SEC && allocs <= DECODE_ALLOCS);
        }
    }
    lines.push(decode);
    lines
}

/// The targets of earlier rounds that this round's do not replace.
fn earlier_rounds(rows: &[Row]) -> Vec<Line> {
    let mut lines = vec![
        rows_line(
            rows,
            "service request p50 ≤ 1.1× our plain request",
            SERVICE,
            PLAIN,
            false,
            1.1,
        ),
        ratio_line(
            rows,
            "16 tasks ≥ async-nats",
            "contention: 16 task(s) publishing 16 B",
            false,
            true,
            1.0,
        ),
    ];
    let named = |prefix: &str| -> Vec<&str> {
        rows.iter()
            .filter(|r| r.name.starts_with(prefix))
            .map(|r| r.name.as_str())
            .collect()
    };
    let mut publishes = named("publish ");
    publishes.extend(named("contention"));
    lines.push(allocs_line(
        rows,
        "0 allocations per publish",
        &publishes,
        ZERO,
    ));
    lines.push(allocs_line(
        rows,
        "≤ 1 allocation per received message",
        &named("receive 16 B"),
        1.0,
    ));
    lines.push(allocs_line(
        rows,
        "≤ 3 allocations per request",
        &["request latency p50 (µs)", "requests, 64 in flight"],
        3.0,
    ));
    websocket_lines(rows, &mut lines);
    kv_lines(rows, &mut lines);
    object_lines(rows, &mut lines);
    let idle = rows
        .iter()
        .find(|r| r.name.starts_with("memory per idle connection"))
        .map_or("memory per idle connection …", |r| r.name.as_str());
    lines.push(ratio_line(
        rows,
        "memory per idle connection ≤ ½ of async-nats",
        idle,
        false,
        false,
        0.5,
    ));
    lines
}

/// One Markdown table of target lines.
fn markdown(lines: Vec<Line>) -> String {
    let mut out = String::from("| target | row(s) | ours | met |\n|---|---|---|---|\n");
    for line in lines {
        let met = match line.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {met} |",
            line.target, line.rows, line.figure
        );
    }
    out
}

/// The targets tables (Markdown): this round's, then the earlier rounds' still tracked.
pub(crate) fn table(s: &Settings, rows: &[Row], micro: &[MicroRow]) -> String {
    format!(
        "Each target of the benchmark issues with our median from this run. *Met* compares \
         medians of one run on a shared, noisy 2-core machine: a figure near its threshold \
         can flip between runs. A target \"on every runtime\" has a line per runtime (tokio \
         multi-thread, tokio current-thread, smol), each against the raw arm of the same \
         repetitions.\n\n### This round\n\n{}\n### Earlier rounds, still tracked\n\n{}",
        markdown(this_round(s, rows, micro)),
        markdown(earlier_rounds(rows)),
    )
}
