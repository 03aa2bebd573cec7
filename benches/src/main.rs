//! `compare`: our client against async-nats and a raw socket, on one local nats-server, plus
//! micro benches of the sans-IO core. Prints Markdown tables on stdout (progress on stderr);
//! `cargo xtask bench` runs it in release and writes BENCHMARKS.md, with its charts in
//! `bench-charts/` beside it.
//!
//! The core scenarios run on three runtimes, a row each (tokio multi-thread, tokio
//! current-thread, smol: [`runtime_rows`]); the rest on tokio multi-thread.
//!
//! Invariant: every scenario runs its arms one after the other (never two at once), against
//! the same server, alternating their order from one repetition to the next; each arm builds
//! its own runtime and connections. Nothing here asserts on speed.
//!
//! ```text
//! compare [--quick] [--reps N] [--url nats://127.0.0.1:4222] [--ws-url ws://127.0.0.1:8080]
//!         [--only SUBSTRING] [--write BENCHMARKS.md]
//! compare --child <scenario> <ours|theirs> <url> <n>   (one arm of a memory scenario)
//! ```
//!
//! The server must have JetStream enabled (the one started here does); with `--url`, give
//! one that has, or leave the JetStream rows out with `--only`. The WebSocket rows need the
//! server's WebSocket port (the server started here has one, without TLS); with `--url`,
//! name it with `--ws-url`, or those rows are left out.

mod alloc;
mod charts;
mod clients;
mod document;
mod interleaved;
mod memory;
mod micro;
mod raw;
mod scenarios;
mod targets;

use std::time::Duration;

use clients::{run_tokio, Arm, AsyncBody, Flavor};
use memory::ChildScenario;
use scenarios::{
    Contention, JsPublish, KvGet, KvPut, KvWatch, ObjectGet, ObjectPut, ObjectSetUp, PubSub,
    Publish, Receive, RequestInflight, RequestLatency, Responder,
};
use targets::{PLAIN, SERVICE, WS_PUBLISH, WS_REQUEST};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// One measurement of one arm.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// Operations per second, or the median latency in microseconds.
    value: f64,
    /// The 99th percentile latency in microseconds (latency samples only).
    p99: Option<f64>,
    /// Fraction of the published messages the subscriber received.
    delivered: Option<f64>,
    /// Heap allocations per operation in the measured window.
    allocs: Option<f64>,
}

impl Sample {
    pub(crate) fn rate(ops: usize, elapsed: Duration) -> Sample {
        Sample {
            value: ops as f64 / elapsed.as_secs_f64().max(1e-9),
            p99: None,
            delivered: None,
            allocs: None,
        }
    }

    /// p50 and p99 of the given latencies.
    pub(crate) fn latency(times: &mut [Duration]) -> Sample {
        times.sort_unstable();
        let at = |q: f64| {
            let i = ((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1));
            times.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        Sample {
            value: at(0.5),
            p99: Some(at(0.99)),
            delivered: None,
            allocs: None,
        }
    }

    pub(crate) fn allocs(mut self, per_op: f64) -> Sample {
        self.allocs = Some(per_op);
        self
    }

    pub(crate) fn delivered(mut self, got: u64, of: usize) -> Sample {
        self.delivered = Some(got as f64 / of.max(1) as f64);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// Operations per second: higher is better.
    Rate,
    /// Microseconds: lower is better.
    Micros,
    /// Bytes of memory: lower is better.
    Bytes,
    /// Bytes per second, shown in MB/s (10^6 bytes): higher is better.
    Throughput,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Ours,
    Theirs,
    Raw,
}

/// The runtime a row's client arms run on. The core scenarios have a row on each; every
/// other row runs on tokio multi-thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    /// tokio, multi-thread: ours and async-nats.
    MultiThread,
    /// tokio, current-thread: ours and async-nats.
    CurrentThread,
    /// smol: ours only (async-nats runs on tokio alone).
    Smol,
}

impl Runtime {
    const ALL: [Runtime; 3] = [Runtime::MultiThread, Runtime::CurrentThread, Runtime::Smol];

    /// The runtime as rows and charts name it.
    fn label(self) -> &'static str {
        match self {
            Runtime::MultiThread => "tokio multi-thread",
            Runtime::CurrentThread => "tokio current-thread",
            Runtime::Smol => "smol",
        }
    }

    /// The tokio flavour, none for smol.
    fn flavor(self) -> Option<Flavor> {
        match self {
            Runtime::MultiThread => Some(Flavor::MultiThread),
            Runtime::CurrentThread => Some(Flavor::CurrentThread),
            Runtime::Smol => None,
        }
    }

    /// The name of scenario `base`'s row on this runtime: `base` itself on tokio
    /// multi-thread (the name the row had before the scenario ran on every runtime, so
    /// earlier documents compare), else `base, <runtime>`, before a closing ` (µs)`.
    fn row_name(self, base: &str) -> String {
        if self == Runtime::MultiThread {
            return base.to_owned();
        }
        match base.strip_suffix(" (µs)") {
            Some(stem) => format!("{stem}, {} (µs)", self.label()),
            None => format!("{base}, {}", self.label()),
        }
    }
}

/// One row of the table: every repetition of every arm.
struct Row {
    name: String,
    /// The scenario without its runtime (the name of the tokio multi-thread row): what the
    /// charts group a scenario's rows by.
    scenario: String,
    runtime: Runtime,
    unit: Unit,
    ours: Vec<Sample>,
    theirs: Vec<Sample>,
    raw: Vec<Sample>,
}

impl Row {
    fn new(name: &str, scenario: &str, runtime: Runtime, unit: Unit) -> Row {
        Row {
            name: name.to_owned(),
            scenario: scenario.to_owned(),
            runtime,
            unit,
            ours: Vec::new(),
            theirs: Vec::new(),
            raw: Vec::new(),
        }
    }
}

type ArmFn<'a> = Box<dyn Fn() -> Sample + 'a>;
/// A row's arms, each with the slot of the table its samples go to.
type Arms<'a> = Vec<(Slot, ArmFn<'a>)>;

struct Settings {
    quick: bool,
    reps: usize,
    only: Option<String>,
    url: String,
    /// The same server's WebSocket URL (`ws://`), for the WebSocket rows; none leaves them
    /// out.
    ws_url: Option<String>,
    /// Where to write the whole BENCHMARKS.md document.
    write: Option<String>,
    /// The arguments other than `--write`, for the document.
    args: Vec<String>,
}

impl Settings {
    /// Messages for a publish of `size` bytes: `base`, capped by a byte budget.
    fn messages(&self, size: usize) -> usize {
        let (base, budget) = if self.quick {
            (1_000_000, 64 << 20)
        } else {
            (2_000_000, 512 << 20)
        };
        base.min(budget / (size + 32)).max(1000)
    }

    fn pick(&self, quick: usize, full: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }

    fn wanted(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|s| name.contains(s.as_str()))
    }
}

/// Runs the arms `reps` times, reversing their order on odd repetitions.
fn compare(settings: &Settings, name: &str, unit: Unit, arms: Arms<'_>) -> Row {
    let mut rows = compare_rows(settings, vec![(name, unit, arms)]);
    rows.pop().expect("one row")
}

/// [`compare`] for rows that a target compares with each other: each repetition runs every
/// row's arms, the arms of one position back to back (the first row's, then the next's),
/// and reverses the whole order on odd repetitions, so the rows see the same machine
/// whatever else runs on it.
fn compare_rows(settings: &Settings, specs: Vec<(&str, Unit, Arms<'_>)>) -> Vec<Row> {
    let mut rows: Vec<Row> = specs
        .iter()
        .map(|(name, unit, _)| Row::new(name, name, Runtime::MultiThread, *unit))
        .collect();
    let longest = specs
        .iter()
        .map(|(_, _, arms)| arms.len())
        .max()
        .unwrap_or(0);
    let mut arms: Vec<Vec<Option<(Slot, ArmFn<'_>)>>> = specs
        .into_iter()
        .map(|(_, _, arms)| arms.into_iter().map(Some).collect())
        .collect();
    let mut plan = Vec::new();
    for i in 0..longest {
        for (row, row_arms) in arms.iter_mut().enumerate() {
            if let Some((slot, arm)) = row_arms.get_mut(i).and_then(Option::take) {
                plan.push(Planned {
                    rows: vec![row],
                    slot,
                    arm,
                });
            }
        }
    }
    run_plan(settings, &mut rows, &plan);
    rows
}

/// One arm in a run's order: the rows its samples go to (more than one for a raw arm that
/// the runtime rows of a scenario share) and their slot.
struct Planned<'a> {
    rows: Vec<usize>,
    slot: Slot,
    arm: ArmFn<'a>,
}

/// Runs the plan's arms in order `reps` times, the whole order reversed on odd
/// repetitions, and files each sample in its rows.
fn run_plan(settings: &Settings, rows: &mut [Row], plan: &[Planned<'_>]) {
    let started = std::time::Instant::now();
    for rep in 0..settings.reps {
        let order: Vec<&Planned<'_>> = if rep % 2 == 0 {
            plan.iter().collect()
        } else {
            plan.iter().rev().collect()
        };
        for planned in order {
            let sample = (planned.arm)();
            let first = &rows[planned.rows[0]];
            let label = if planned.rows.len() > 1 {
                format!("{} (every runtime's row)", first.scenario)
            } else {
                first.name.clone()
            };
            eprintln!(
                "  {label} [{:?}, rep {}]: {}{}",
                planned.slot,
                rep + 1,
                fmt_value(sample.value, first.unit),
                sample
                    .allocs
                    .map_or(String::new(), |a| format!(", {a:.2} allocs/op")),
            );
            for &r in &planned.rows {
                let row = &mut rows[r];
                match planned.slot {
                    Slot::Ours => row.ours.push(sample),
                    Slot::Theirs => row.theirs.push(sample),
                    Slot::Raw => row.raw.push(sample),
                }
            }
        }
    }
    if !plan.is_empty() {
        eprintln!("  ({:.1} s)", started.elapsed().as_secs_f64());
    }
}

/// A core scenario on every runtime: a row each for tokio multi-thread (named `base`),
/// tokio current-thread and smol ([`Runtime::row_name`]), those that `--only` wants. Ours
/// runs on all three, async-nats on both tokio flavours (it has no smol arm), and the raw
/// arm, which no runtime drives, once per repetition, its samples shared by the rows. One
/// repetition runs the raw arm, then ours and async-nats on each runtime in turn, and the
/// next the reverse.
fn runtime_rows<'a, B, F>(
    s: &'a Settings,
    base: &str,
    unit: Unit,
    body: F,
    raw: Option<ArmFn<'a>>,
) -> Vec<Row>
where
    B: AsyncBody<Sample> + 'a,
    F: Fn() -> B + Copy + 'static,
{
    let runtimes: Vec<Runtime> = Runtime::ALL
        .into_iter()
        .filter(|r| s.wanted(&r.row_name(base)))
        .collect();
    if runtimes.is_empty() {
        return Vec::new();
    }
    let mut rows: Vec<Row> = runtimes
        .iter()
        .map(|r| Row::new(&r.row_name(base), base, *r, unit))
        .collect();
    let mut plan = Vec::new();
    if let Some(arm) = raw {
        plan.push(Planned {
            rows: (0..rows.len()).collect(),
            slot: Slot::Raw,
            arm,
        });
    }
    for (row, runtime) in runtimes.into_iter().enumerate() {
        let arms = match runtime.flavor() {
            Some(flavor) => both_clients(s, flavor, body),
            None => vec![(Slot::Ours, smol_arm(s, body))],
        };
        plan.extend(arms.into_iter().map(|(slot, arm)| Planned {
            rows: vec![row],
            slot,
            arm,
        }));
    }
    run_plan(s, &mut rows, &plan);
    rows
}

fn tokio_arm<'a, B: AsyncBody<Sample> + 'a>(
    url: &'a str,
    arm: Arm,
    flavor: Flavor,
    body: impl Fn() -> B + 'a,
) -> ArmFn<'a> {
    Box::new(move || run_tokio(arm, flavor, url, body()))
}

/// Our client and async-nats, each on a tokio runtime of `flavor` running `body`.
fn both_clients<'a, B, F>(settings: &'a Settings, flavor: Flavor, body: F) -> Vec<(Slot, ArmFn<'a>)>
where
    B: AsyncBody<Sample> + 'a,
    F: Fn() -> B + Copy + 'a,
{
    both_clients_at(&settings.url, flavor, body)
}

/// [`both_clients`] connected to `url` instead of the run's server URL (its WebSocket
/// port).
fn both_clients_at<'a, B, F>(url: &'a str, flavor: Flavor, body: F) -> Vec<(Slot, ArmFn<'a>)>
where
    B: AsyncBody<Sample> + 'a,
    F: Fn() -> B + Copy + 'a,
{
    vec![
        (Slot::Ours, tokio_arm(url, Arm::Ours, flavor, body)),
        (Slot::Theirs, tokio_arm(url, Arm::Theirs, flavor, body)),
    ]
}

/// [`both_clients`] and the raw socket's arm: the three arms most scenarios compare.
fn three_arms<'a, B, F>(
    settings: &'a Settings,
    flavor: Flavor,
    body: F,
    raw: ArmFn<'a>,
) -> Vec<(Slot, ArmFn<'a>)>
where
    B: AsyncBody<Sample> + 'a,
    F: Fn() -> B + Copy + 'a,
{
    let mut arms = both_clients(settings, flavor, body);
    arms.push((Slot::Raw, raw));
    arms
}

/// Our client on smol: its driver and the scenario's own tasks run on smol's executor.
fn smol_arm<B, F>(settings: &Settings, body: F) -> Box<dyn Fn() -> Sample + '_>
where
    B: AsyncBody<Sample>,
    F: Fn() -> B + 'static,
{
    let url = settings.url.clone();
    Box::new(move || {
        scenarios::ON_SMOL.store(true, std::sync::atomic::Ordering::Relaxed);
        let sample = smol::block_on(async {
            let client = nats_client::smol::connect(&url).await.expect("connect");
            body().run(client, &url).await
        });
        scenarios::ON_SMOL.store(false, std::sync::atomic::Ordering::Relaxed);
        sample
    })
}

/// Connections the idle-memory scenario opens (plus one per arm to warm up).
const IDLE_CONNECTIONS: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        memory::child_main(&args[1..]);
    }
    let started = std::time::Instant::now();
    let settings = parse_args();
    // Before the server starts, so it inherits the limit too.
    let files = memory::raise_fd_limit();
    if files < 2 * IDLE_CONNECTIONS as u64 + 100 {
        eprintln!(
            "compare: warning: the open-files limit is {files}; the idle-connection scenario \
             needs about {}: raise the hard limit (`ulimit -Hn`)",
            2 * IDLE_CONNECTIONS + 100
        );
    }
    let mut server = None;
    let (url, ws_url) = if settings.url.is_empty() {
        // The WebSocket port is chosen here, so a port taken between the choice and the
        // start fails the start instead of being retried (unlike the client port).
        let ws_port = nats_tests::free_port();
        let s = nats_tests::NatsServer::builder()
            .jetstream(true)
            .config(format!(
                "websocket {{\n  host: \"127.0.0.1\"\n  port: {ws_port}\n  no_tls: true\n}}\n"
            ))
            .start();
        let url = s.url();
        server = Some(s);
        (url, Some(format!("ws://127.0.0.1:{ws_port}")))
    } else {
        (settings.url.clone(), settings.ws_url.clone())
    };
    let settings = Settings {
        url,
        ws_url,
        ..settings
    };
    eprintln!(
        "compare: {} mode, {} repetition(s), server {}{}",
        if settings.quick { "quick" } else { "full" },
        settings.reps,
        settings.url,
        settings
            .ws_url
            .as_ref()
            .map_or(String::new(), |ws| format!(" and {ws}"))
    );
    let rows = server_scenarios(&settings);
    let micro = micro_benches(&settings);
    let tables = report(&settings, &rows, &micro);
    let targets = targets::table(&settings, &rows, &micro);
    print!("{tables}\n{targets}");
    if let Some(path) = &settings.write {
        let dir = std::path::Path::new(path)
            .parent()
            .unwrap_or(std::path::Path::new(""))
            .join(charts::DIR);
        let charts = charts::write(&dir, &rows);
        let document = document::render(&settings.args, &settings.url, &charts, &tables, &targets);
        std::fs::write(path, document).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        eprintln!("compare: wrote {path}");
    }
    if let Some(mut s) = server {
        s.stop();
    }
    let secs = started.elapsed().as_secs();
    eprintln!("compare: done in {} min {} s", secs / 60, secs % 60);
}

fn parse_args() -> Settings {
    let mut settings = Settings {
        quick: false,
        reps: 0,
        only: None,
        url: String::new(),
        ws_url: None,
        write: None,
        args: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg != "--write" {
            settings.args.push(arg.clone());
        }
        match arg.as_str() {
            "--quick" => settings.quick = true,
            "--reps" | "--url" | "--ws-url" | "--only" => {
                let value = args.next().unwrap_or_default();
                settings.args.push(value.clone());
                match arg.as_str() {
                    "--reps" => settings.reps = value.parse().unwrap_or(0),
                    "--url" => settings.url = value,
                    "--ws-url" => settings.ws_url = Some(value),
                    _ => settings.only = Some(value),
                }
            }
            "--write" => settings.write = args.next(),
            other => {
                eprintln!(
                    "unknown argument {other}\nusage: compare [--quick] [--reps N] [--url URL] [--ws-url URL] [--only SUBSTRING] [--write BENCHMARKS.md]"
                );
                std::process::exit(2);
            }
        }
    }
    if settings.reps == 0 {
        settings.reps = if settings.quick { 1 } else { 5 };
    }
    settings
}

fn server_scenarios(s: &Settings) -> Vec<Row> {
    use Arm::{Ours, Theirs};
    use Flavor::MultiThread;
    let mut rows = Vec::new();
    let url = s.url.as_str();
    let wait = Duration::from_millis(500);

    for size in [16, 128, 1024, 8192] {
        let n = s.messages(size);
        rows.extend(runtime_rows(
            s,
            &format!("publish {}", size_name(size)),
            Unit::Rate,
            move || Publish { size, n },
            Some(Box::new(move || raw::publish(url, size, n))),
        ));
    }
    for size in [16, 1024] {
        let n = s.messages(size);
        rows.extend(runtime_rows(
            s,
            &format!("pub→sub {}", size_name(size)),
            Unit::Rate,
            move || PubSub { size, n, wait },
            Some(Box::new(move || raw::pubsub(url, size, n, wait))),
        ));
    }
    // Its raw arm is the raw pub→sub of the same messages.
    let n16 = s.messages(16);
    rows.extend(runtime_rows(
        s,
        "receive 16 B from a raw publisher",
        Unit::Rate,
        move || Receive {
            size: 16,
            n: n16,
            wait,
        },
        Some(Box::new(move || raw::pubsub(url, 16, n16, wait))),
    ));

    const LATENCY: &str = "request latency p50 (µs)";
    const LATENCY_P99: &str = "request latency p99 (µs)";
    const PLAIN_P99: &str = "plain request p99, own responder (µs)";
    const SERVICE_P99: &str = "service request p99, own service (µs)";
    const LATENCY_SUBS: &str = "request latency p50, 10,000 subscriptions open (µs)";
    const ASYNC_FLOOR: &str = "request latency p50, raw column: two async tasks (µs)";
    const ASYNC_FLOOR_CT: &str =
        "request latency p50, tokio current-thread, raw column: two async tasks (µs)";
    const INFLIGHT: &str = "requests, 64 in flight";
    const INFLIGHT_FLOOR: &str = "requests, 64 in flight, raw column: 64 async tasks";
    const INFLIGHT_FLOOR_CT: &str =
        "requests, 64 in flight, tokio current-thread, raw column: 64 async tasks";
    let on_every_runtime = Runtime::ALL
        .iter()
        .flat_map(|r| [r.row_name(LATENCY), r.row_name(INFLIGHT)]);
    let others = [
        PLAIN,
        SERVICE,
        LATENCY_SUBS,
        ASYNC_FLOOR,
        ASYNC_FLOOR_CT,
        INFLIGHT_FLOOR,
        INFLIGHT_FLOOR_CT,
        WS_REQUEST.ws,
        WS_REQUEST.tcp,
    ]
    .map(String::from);
    if on_every_runtime.chain(others).any(|name| s.wanted(&name)) {
        raw::spawn_responder(url, "bench.req");
    }
    // The request rows share their bodies and raw arms.
    let n = s.pick(5_000, 20_000);
    let latency = move || RequestLatency {
        n,
        subs: 0,
        responder: Responder::Raw,
    };
    let raw_latency =
        move || -> ArmFn<'_> { Box::new(move || raw::request_latency(url, "bench.req", n)) };
    for row in runtime_rows(s, LATENCY, Unit::Micros, latency, Some(raw_latency())) {
        let p99 = p99_row(&row, LATENCY_P99);
        rows.extend([row, p99]);
    }
    // Beside two raw async tasks on the same tokio flavour: the floor of a client built of a
    // caller task and an IO task (the blocking raw arm has one thread and no wake-ups).
    for (name, flavor) in [
        (ASYNC_FLOOR, MultiThread),
        (ASYNC_FLOOR_CT, Flavor::CurrentThread),
    ] {
        if !s.wanted(name) {
            continue;
        }
        let multi_thread = matches!(flavor, MultiThread);
        let mut arms = both_clients(s, flavor, latency);
        arms.push((
            Slot::Raw,
            Box::new(move || raw::request_latency_async(url, "bench.req", n, multi_thread)),
        ));
        let row = compare(s, name, Unit::Micros, arms);
        rows.push(row);
    }
    if s.wanted(LATENCY_SUBS) {
        let body = move || RequestLatency {
            n,
            subs: 10_000,
            responder: Responder::Raw,
        };
        let row = compare(
            s,
            LATENCY_SUBS,
            Unit::Micros,
            both_clients(s, MultiThread, body),
        );
        let p99 = p99_row(&row, "request latency p99, 10,000 subscriptions open (µs)");
        rows.extend([row, p99]);
    }
    // The service request beside a plain request, each answered by a responder of the
    // requesting client's own (ours by ours, async-nats by async-nats), with the raw round
    // trip as the floor; run together, as the target compares the two.
    let own = [
        (PLAIN, PLAIN_P99, Responder::Plain),
        (SERVICE, SERVICE_P99, Responder::Service),
    ];
    let specs: Vec<_> = own
        .iter()
        .filter(|(name, _, _)| s.wanted(name))
        .map(|&(name, _, responder)| {
            let body = move || RequestLatency {
                n,
                subs: 0,
                responder,
            };
            let arms = three_arms(s, MultiThread, body, raw_latency());
            (name, Unit::Micros, arms)
        })
        .collect();
    for row in compare_rows(s, specs) {
        let p99 = own.iter().find(|o| o.0 == row.name).map_or("", |o| o.1);
        let p99 = p99_row(&row, p99);
        rows.extend([row, p99]);
    }
    let n_inflight = s.pick(100_000, 500_000);
    rows.extend(runtime_rows(
        s,
        INFLIGHT,
        Unit::Rate,
        move || RequestInflight {
            n: n_inflight,
            inflight: 64,
        },
        Some(Box::new(move || {
            raw::request_inflight(url, "bench.req", n_inflight, 64)
        })),
    ));
    // Beside raw async tasks of the same number and shape: the floor of 64 requests in
    // flight through one connection on a tokio runtime.
    for (name, flavor) in [
        (INFLIGHT_FLOOR, MultiThread),
        (INFLIGHT_FLOOR_CT, Flavor::CurrentThread),
    ] {
        if !s.wanted(name) {
            continue;
        }
        let multi_thread = matches!(flavor, MultiThread);
        let body = move || RequestInflight {
            n: n_inflight,
            inflight: 64,
        };
        let mut arms = both_clients(s, flavor, body);
        arms.push((
            Slot::Raw,
            Box::new(move || {
                raw::request_inflight_async(url, "bench.req", n_inflight, 64, multi_thread)
            }),
        ));
        rows.push(compare(s, name, Unit::Rate, arms));
    }
    websocket_rows(s, &mut rows, latency);

    for memory in [true, false] {
        let name = format!(
            "JetStream publish 128 B, {} stream, 256 acks in flight",
            if memory { "memory" } else { "file" }
        );
        let (size, window, n) = (128, 256, s.pick(10_000, 100_000));
        rows.extend(runtime_rows(
            s,
            &name,
            Unit::Rate,
            move || JsPublish {
                size,
                n,
                window,
                memory,
            },
            Some(Box::new(move || {
                raw::js_publish(url, size, n, window, memory)
            })),
        ));
    }

    kv_rows(s, &mut rows);
    object_rows(s, &mut rows);

    let name = format!("memory per idle connection ({IDLE_CONNECTIONS} connections)");
    if s.wanted(&name) {
        let child = move |arm| {
            Box::new(move || {
                memory::in_child(ChildScenario::IdleConnections, arm, url, IDLE_CONNECTIONS)
            }) as ArmFn<'_>
        };
        rows.push(compare(
            s,
            &name,
            Unit::Bytes,
            vec![(Slot::Ours, child(Ours)), (Slot::Theirs, child(Theirs))],
        ));
    }
    let n = s.pick(100_000, 1_000_000);
    let name = format!("peak memory, pub→sub {} × 1 KiB", count_name(n));
    if s.wanted(&name) {
        let child = move |arm| {
            Box::new(move || memory::in_child(ChildScenario::PeakPubSub, arm, url, n)) as ArmFn<'_>
        };
        rows.push(compare(
            s,
            &name,
            Unit::Bytes,
            vec![(Slot::Ours, child(Ours)), (Slot::Theirs, child(Theirs))],
        ));
    }

    for tasks in [1, 4, 16] {
        let name = format!("contention: {tasks} task(s) publishing 16 B");
        if !s.wanted(&name) {
            continue;
        }
        let n = s.pick(1_000_000, 2_000_000);
        let body = move || Contention { tasks, n };
        rows.push(compare(
            s,
            &name,
            Unit::Rate,
            both_clients(s, MultiThread, body),
        ));
    }
    rows
}

/// The WebSocket rows, ours and async-nats connected with the server's `ws://` URL: publish
/// 16 B and 1 KiB, and the request latency (`latency`, to the raw responder) with its p99.
/// Each runs together with the same scenario over TCP (both clients again), an arm of one
/// beside the same arm of the other, since a target compares our two figures. Left out
/// when the run has no WebSocket URL.
fn websocket_rows<B, F>(s: &Settings, rows: &mut Vec<Row>, latency: F)
where
    B: AsyncBody<Sample>,
    F: Fn() -> B + Copy + 'static,
{
    let publishes: Vec<_> = WS_PUBLISH
        .iter()
        .filter(|p| s.wanted(p.ws) || s.wanted(p.tcp))
        .collect();
    let request = s.wanted(WS_REQUEST.ws) || s.wanted(WS_REQUEST.tcp);
    if publishes.is_empty() && !request {
        return;
    }
    let Some(ws_url) = s.ws_url.as_deref() else {
        eprintln!("compare: no WebSocket URL (give --ws-url with --url): WebSocket rows left out");
        return;
    };
    use Flavor::MultiThread;
    for publish in publishes {
        let (size, n) = (publish.size, s.messages(publish.size));
        let body = move || Publish { size, n };
        // Each row has its raw arm: pre-masked frames over ws://, pre-encoded bytes over
        // TCP. Their ratio is what the server allows WebSocket on this machine.
        let mut ws_arms = both_clients_at(ws_url, MultiThread, body);
        ws_arms.push((
            Slot::Raw,
            Box::new(move || raw::ws_publish(ws_url, size, n)),
        ));
        let url = s.url.as_str();
        let tcp_arms = three_arms(
            s,
            MultiThread,
            body,
            Box::new(move || raw::publish(url, size, n)),
        );
        rows.extend(compare_rows(
            s,
            vec![
                (publish.ws, Unit::Rate, ws_arms),
                (publish.tcp, Unit::Rate, tcp_arms),
            ],
        ));
    }
    if request {
        let specs = vec![
            (
                WS_REQUEST.ws,
                Unit::Micros,
                both_clients_at(ws_url, MultiThread, latency),
            ),
            (
                WS_REQUEST.tcp,
                Unit::Micros,
                both_clients(s, MultiThread, latency),
            ),
        ];
        let p99 = [WS_REQUEST.ws_p99, WS_REQUEST.tcp_p99];
        for (row, p99) in compare_rows(s, specs).into_iter().zip(p99) {
            let p99 = p99_row(&row, p99);
            rows.extend([row, p99]);
        }
    }
}

/// The key-value rows: sequential puts (memory and file buckets) and gets beside the raw
/// socket's, and a watch fed by a raw writer (file buckets, 128 B values).
fn kv_rows(s: &Settings, rows: &mut Vec<Row>) {
    const SIZE: usize = 128;
    let url = s.url.as_str();
    for memory in [true, false] {
        let name = format!(
            "KV put 128 B, {} bucket, sequential",
            if memory { "memory" } else { "file" }
        );
        if !s.wanted(&name) {
            continue;
        }
        let n = s.pick(5_000, 20_000);
        let body = move || KvPut {
            size: SIZE,
            n,
            memory,
        };
        let raw: ArmFn<'_> = Box::new(move || raw::kv_put(url, SIZE, n, memory));
        rows.push(compare(
            s,
            &name,
            Unit::Rate,
            three_arms(s, Flavor::MultiThread, body, raw),
        ));
    }
    // On every runtime, as the request rows: a get is a request, and its wake-ups differ.
    const GET: &str = "KV get 128 B p50 (µs)";
    let n = s.pick(5_000, 20_000);
    let get = move || KvGet {
        size: SIZE,
        n,
        memory: false,
    };
    let raw: ArmFn<'_> = Box::new(move || raw::kv_get_latency(url, SIZE, n, false));
    for row in runtime_rows(s, GET, Unit::Micros, get, Some(raw)) {
        let p99 = p99_row(&row, "KV get 128 B p99 (µs)");
        rows.extend([row, p99]);
    }
    // Beside two raw async tasks on the same tokio flavour, as the request rows: the floor
    // of an async client's get.
    const GET_FLOOR: &str = "KV get 128 B p50, raw column: two async tasks (µs)";
    const GET_FLOOR_CT: &str =
        "KV get 128 B p50, tokio current-thread, raw column: two async tasks (µs)";
    for (name, flavor) in [
        (GET_FLOOR, Flavor::MultiThread),
        (GET_FLOOR_CT, Flavor::CurrentThread),
    ] {
        if !s.wanted(name) {
            continue;
        }
        let multi_thread = matches!(flavor, Flavor::MultiThread);
        let mut arms = both_clients(s, flavor, get);
        arms.push((
            Slot::Raw,
            Box::new(move || raw::kv_get_latency_async(url, SIZE, n, multi_thread)),
        ));
        rows.push(compare(s, name, Unit::Micros, arms));
    }
    kv_get_interleaved_rows(s, n, rows);
    const WATCH: &str = "KV watch 128 B, entries stored first";
    if s.wanted(WATCH) {
        let n = s.pick(50_000, 200_000);
        let body = move || KvWatch {
            size: SIZE,
            n,
            wait: Duration::from_millis(500),
            memory: false,
        };
        rows.push(compare(
            s,
            WATCH,
            Unit::Rate,
            both_clients(s, Flavor::MultiThread, body),
        ));
    }
}

/// The get target's rows: on each runtime, ours interleaved in chunks with the blocking
/// raw direct get (the target's ceiling) and with one raw async task on the same runtime
/// (what the runtime alone costs), so that each ratio compares gets made in the same
/// seconds ([`interleaved`]). Both rows of a runtime share its runs.
fn kv_get_interleaved_rows(s: &Settings, n: usize, rows: &mut Vec<Row>) {
    for runtime in Runtime::ALL {
        let names = [GET_INTERLEAVED, GET_INTERLEAVED_ONE_TASK].map(|base| runtime.row_name(base));
        if !names.iter().any(|name| s.wanted(name)) {
            continue;
        }
        let [mut blocking, mut one_task] = [GET_INTERLEAVED, GET_INTERLEAVED_ONE_TASK]
            .map(|base| Row::new(&runtime.row_name(base), base, runtime, Unit::Micros));
        let started = std::time::Instant::now();
        for rep in 0..s.reps {
            let run = interleaved::kv_get(&s.url, 128, n, runtime);
            eprintln!(
                "  {} [rep {}]: ours {}, blocking {}, one task {}",
                blocking.name,
                rep + 1,
                fmt_value(run.ours.value, Unit::Micros),
                fmt_value(run.blocking.value, Unit::Micros),
                fmt_value(run.one_task.value, Unit::Micros),
            );
            blocking.ours.push(run.ours);
            blocking.raw.push(run.blocking);
            one_task.ours.push(run.ours);
            one_task.raw.push(run.one_task);
        }
        eprintln!("  ({:.1} s)", started.elapsed().as_secs_f64());
        rows.extend([blocking, one_task]);
    }
}

/// The get target's row ([`kv_get_interleaved_rows`]), on tokio multi-thread; the other
/// runtimes' are named by [`Runtime::row_name`].
pub(crate) const GET_INTERLEAVED: &str =
    "KV get 128 B p50, interleaved with a blocking socket (µs)";
/// Its companion: the same runs, beside one raw async task.
const GET_INTERLEAVED_ONE_TASK: &str = "KV get 128 B p50, interleaved with one async task (µs)";

/// The object-store rows: put and get throughput of one object (256 MiB, 64 MiB in quick
/// mode), and the peak memory growth of a put and of a get, each alone in a child process
/// (1 GiB, 64 MiB in quick mode).
fn object_rows(s: &Settings, rows: &mut Vec<Row>) {
    let url = s.url.as_str();
    let size = s.pick(64 << 20, 256 << 20) as u64;
    let name = format!("object put {}", size_name(size as usize));
    if s.wanted(&name) {
        let body = move || ObjectPut { size };
        let arms = both_clients(s, Flavor::MultiThread, body);
        rows.push(compare(s, &name, Unit::Throughput, arms));
    }
    let name = format!("object get {}", size_name(size as usize));
    if s.wanted(&name) {
        let body = move || ObjectGet { size };
        let arms = both_clients(s, Flavor::MultiThread, body);
        rows.push(compare(s, &name, Unit::Throughput, arms));
    }
    let size = s.pick(64 << 20, 1 << 30);
    for get in [false, true] {
        let name = format!(
            "object {} {}, peak memory growth",
            if get { "get" } else { "put" },
            size_name(size)
        );
        if !s.wanted(&name) {
            continue;
        }
        let child = move |arm| {
            Box::new(move || {
                if get {
                    run_tokio(
                        arm,
                        Flavor::MultiThread,
                        url,
                        ObjectSetUp { size: size as u64 },
                    );
                    memory::in_child(ChildScenario::ObjectGet, arm, url, size)
                } else {
                    memory::in_child(ChildScenario::ObjectPut, arm, url, size)
                }
            }) as ArmFn<'_>
        };
        rows.push(compare(
            s,
            &name,
            Unit::Bytes,
            vec![
                (Slot::Ours, child(Arm::Ours)),
                (Slot::Theirs, child(Arm::Theirs)),
            ],
        ));
    }
}

/// The p99 of a latency row's samples, as a row of its own: `base` is its name on tokio
/// multi-thread, and it runs on the latency row's runtime.
fn p99_row(row: &Row, base: &str) -> Row {
    let p99 = |v: &[Sample]| -> Vec<Sample> {
        v.iter()
            .map(|x| Sample {
                value: x.p99.unwrap_or(0.0),
                ..*x
            })
            .collect()
    };
    Row {
        ours: p99(&row.ours),
        theirs: p99(&row.theirs),
        raw: p99(&row.raw),
        ..Row::new(&row.runtime.row_name(base), base, row.runtime, row.unit)
    }
}

/// Micro bench rows: name, then one result per repetition.
type MicroRow = (String, Vec<micro::Micro>);

fn micro_benches(s: &Settings) -> Vec<MicroRow> {
    if !s.wanted("micro") {
        return Vec::new();
    }
    let budget = Duration::from_millis(if s.quick { 300 } else { 1000 });
    let (stream, messages) = micro::inbound_stream();
    eprintln!(
        "micro: inbound stream of {} bytes, {messages} messages",
        stream.len()
    );
    let mut rows: Vec<MicroRow> = vec![
        ("micro: decode MSG/HMSG stream (ops/s)".into(), Vec::new()),
        (
            "micro: memchr scan for \\n, same bytes (lines/s)".into(),
            Vec::new(),
        ),
        ("micro: encode PUB 16 B (frames/s)".into(), Vec::new()),
        ("micro: encode PUB 1 KiB (frames/s)".into(), Vec::new()),
    ];
    for _ in 0..s.reps {
        rows[0].1.push(micro::decode(&stream, budget));
        rows[1].1.push(micro::memchr_scan(&stream, budget));
        rows[2].1.push(micro::encode(16, budget));
        rows[3].1.push(micro::encode(1024, budget));
    }
    rows
}

fn size_name(size: usize) -> String {
    if size >= 1 << 30 && size.is_multiple_of(1 << 30) {
        format!("{} GiB", size >> 30)
    } else if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{} MiB", size >> 20)
    } else if size >= 1024 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// `100k`, `1M`: a message count for a row name.
fn count_name(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn fmt_bytes(v: f64) -> String {
    if v >= 1048576.0 {
        format!("{:.1} MiB", v / 1048576.0)
    } else {
        format!("{:.1} KiB", v / 1024.0)
    }
}

/// [`fmt_compact`] with the unit spelled out.
fn fmt_value(v: f64, unit: Unit) -> String {
    let compact = fmt_compact(v, unit);
    match unit {
        Unit::Bytes => compact,
        Unit::Micros => format!("{compact} µs"),
        Unit::Rate => format!("{compact}/s"),
        Unit::Throughput => format!("{compact} MB/s"),
    }
}

fn fmt_compact(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => fmt_bytes(v),
        Unit::Micros => format!("{v:.1}"),
        Unit::Rate if v >= 1e6 => format!("{:.2}M", v / 1e6),
        Unit::Rate => format!("{:.0}k", v / 1e3),
        Unit::Throughput => format!("{:.0}", v / 1e6),
    }
}

/// `median (min..max)`, the median alone when there is one sample, `—` when none.
fn summary(samples: &[Sample], unit: Unit) -> (String, f64) {
    let mut values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    if values.is_empty() {
        return ("—".into(), f64::NAN);
    }
    let m = median(&mut values);
    let text = if values.len() == 1 {
        fmt_value(m, unit)
    } else {
        format!(
            "{} ({}..{})",
            fmt_value(m, unit),
            fmt_compact(values[0], unit),
            fmt_compact(values[values.len() - 1], unit)
        )
    };
    (text, m)
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "—".into()
    }
}

fn median_of(samples: &[Sample], f: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().filter_map(f).collect();
    (!v.is_empty()).then(|| median(&mut v))
}

fn report(s: &Settings, rows: &[Row], micro: &[MicroRow]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Mode: {}, {} repetition(s) per arm, arms alternating order. Values are medians \
         (min..max over repetitions). Rates are messages (or requests) per second; ours/raw is \
         the fraction of the raw-socket ceiling (for latency: ours over raw, lower is better). \
         Object rows are in MB/s (10^6 bytes per second), their allocations per chunk.\n",
        if s.quick { "quick" } else { "full" },
        s.reps
    );
    let _ = writeln!(
        out,
        "| scenario | ours | async-nats | ours/async-nats | raw socket | ours/raw | delivered (ours / async-nats / raw) | allocs per op (ours / async-nats) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for row in rows {
        let (ours, o) = summary(&row.ours, row.unit);
        let (theirs, t) = summary(&row.theirs, row.unit);
        let (raw, r) = summary(&row.raw, row.unit);
        let pct = |v: &[Sample]| {
            median_of(v, |x| x.delivered).map_or("—".into(), |d| format!("{:.1}%", d * 100.0))
        };
        let delivered = if row.ours.iter().any(|x| x.delivered.is_some()) {
            format!(
                "{} / {} / {}",
                pct(&row.ours),
                pct(&row.theirs),
                pct(&row.raw)
            )
        } else {
            String::new()
        };
        let allocs =
            |v: &[Sample]| median_of(v, |x| x.allocs).map_or("—".into(), |a| format!("{a:.2}"));
        let allocs = if row.name.contains("p99") {
            String::new()
        } else {
            format!("{} / {}", allocs(&row.ours), allocs(&row.theirs))
        };
        let _ = writeln!(
            out,
            "| {} | {ours} | {theirs} | {} | {raw} | {} | {delivered} | {allocs} |",
            row.name,
            ratio(o, t),
            ratio(o, r),
        );
    }
    if !micro.is_empty() {
        let _ = writeln!(
            out,
            "\nMicro benches of the core (no server, one thread):\n"
        );
        let _ = writeln!(
            out,
            "| bench | ops/s | throughput | allocs per op (decode: per frame) |"
        );
        let _ = writeln!(out, "|---|---|---|---|");
        for (name, results) in micro {
            let ops: Vec<Sample> = results
                .iter()
                .map(|m| Sample {
                    value: m.ops_per_sec,
                    p99: None,
                    delivered: None,
                    allocs: Some(m.allocs),
                })
                .collect();
            let mut bytes: Vec<f64> = results.iter().map(|m| m.bytes_per_sec).collect();
            let mut allocs: Vec<f64> = results.iter().map(|m| m.allocs).collect();
            let _ = writeln!(
                out,
                "| {name} | {} | {:.2} GB/s | {:.3} |",
                summary(&ops, Unit::Rate).0,
                median(&mut bytes) / 1e9,
                median(&mut allocs)
            );
        }
    }
    out
}
