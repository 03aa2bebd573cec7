//! `cargo xtask <command>`: the project's tasks (see `USAGE`).
//!
//! Invariant: every command runs its child processes from the workspace root, prints each
//! command line before running it, and exits non-zero when any step fails. nats-server is
//! provisioned through `nats_tests` only, so tasks and tests share one install and one
//! pinned version; test children get it through `NATS_SERVER` and never install it again.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use nats_tests::{
    try_nats_server_binary, workspace_root, NatsServer, WebSocket, NATS_SERVER_VERSION,
};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [--no-nextest] [ARGS…]  provision nats-server, run the whole suite (nextest if
                              installed, else cargo test) with ARGS, then the doc tests
  demo [--websocket]          start a nats-server and run the tour example against it;
                              with --websocket, over a ws:// listener of that server
  fmt                         format the workspace in place
  lint                        check formatting, then clippy with warnings as errors
  checks                      rustdoc without warnings, the client crates on the declared
                              MSRV, and the core (no default features) on wasm32
  fuzz <target> [secs]        run a cargo-fuzz target in fuzz/ for secs (default 60)
  bench [--quick] [ARGS…]     provision nats-server, run nats-benches' `compare` in release
                              against it and async-nats, and write BENCHMARKS.md and
                              its charts (bench-charts/*.svg)

test and lint leave out nats-benches, so they never build async-nats.";

/// The benchmark crate: it depends on async-nats, which only `bench` may build.
const BENCH_CRATE: &str = "nats-benches";

type Result<T = (), E = String> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(rest),
        Some("demo") => demo(rest),
        Some("fmt") => cargo(["fmt", "--all"]),
        Some("lint") => lint(),
        Some("checks") => checks(),
        Some("fuzz") => fuzz(rest),
        Some("bench") => bench(rest),
        None | Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The cargo that runs us (so `cargo +toolchain xtask` is respected), else `cargo`.
fn cargo_command() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs `cargo <args>` and fails when it does.
fn cargo<I: IntoIterator<Item = S>, S: Into<OsString>>(args: I) -> Result {
    let mut cmd = cargo_command();
    cmd.args(args.into_iter().map(Into::into));
    run(&mut cmd)
}

fn run(cmd: &mut Command) -> Result {
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("$ {line}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run `{line}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{line}` failed ({status})"))
    }
}

/// Finds or installs nats-server and exports it as `NATS_SERVER` for every child.
fn provision() -> Result<PathBuf> {
    let binary = try_nats_server_binary()?;
    eprintln!("xtask: nats-server: {}", binary.display());
    std::env::set_var("NATS_SERVER", &binary);
    Ok(binary)
}

fn test(args: &[String]) -> Result {
    let (no_nextest, args): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| *a == "--no-nextest");
    provision()?;
    let nextest = no_nextest.is_empty() && has_nextest();
    // The whole workspace but the bench crate, every feature, every failure reported.
    let scope = [
        "--workspace",
        "--exclude",
        BENCH_CRATE,
        "--all-features",
        "--no-fail-fast",
    ];
    let suite = if nextest {
        cargo(
            ["nextest", "run"]
                .into_iter()
                .chain(scope)
                .map(String::from)
                .chain(args.into_iter().cloned()),
        )
    } else {
        eprintln!("xtask: cargo-nextest is not installed; using cargo test");
        cargo(
            // Doc tests are left to the step below, as with nextest.
            ["test"]
                .into_iter()
                .chain(scope)
                .chain(["--lib", "--bins", "--tests"])
                .map(String::from)
                .chain(args.into_iter().cloned()),
        )
    };
    // Doc tests run even when the suite failed, so one run reports everything.
    let doc = cargo([
        "test",
        "--doc",
        "--workspace",
        "--exclude",
        BENCH_CRATE,
        "--all-features",
    ]);
    suite.and(doc)
}

fn has_nextest() -> bool {
    cargo_command()
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn lint() -> Result {
    cargo(["fmt", "--all", "--", "--check"])?;
    cargo([
        "clippy",
        "--workspace",
        "--exclude",
        BENCH_CRATE,
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ])
}

/// The toolchain the client crates declare as their MSRV (`rust-version` in Cargo.toml).
const MSRV: &str = "1.85";
/// The target a browser adapter will build the core for.
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The crates users build; the test, task and bench crates may need newer Rust.
const CLIENT_CRATES: [&str; 2] = ["nats-sansio", "nats-client"];

/// The checks beside the tests: docs, MSRV, wasm. Missing toolchains and targets are
/// installed with rustup (whose proxies `rustup run` needs, not the toolchain in `$CARGO`).
fn checks() -> Result {
    eprintln!("xtask: rustdoc, warnings as errors");
    let mut doc = cargo_command();
    doc.env("RUSTDOCFLAGS", "-D warnings")
        .args(["doc", "--no-deps", "--all-features"]);
    for krate in CLIENT_CRATES {
        doc.args(["-p", krate]);
    }
    run(&mut doc)?;

    eprintln!("xtask: the client crates on Rust {MSRV}");
    run(Command::new("rustup").args(["toolchain", "install", MSRV, "--profile", "minimal"]))?;
    let mut msrv = Command::new("rustup");
    msrv.current_dir(workspace_root())
        .args(["run", MSRV, "cargo", "check", "--all-features"]);
    for krate in CLIENT_CRATES {
        msrv.args(["-p", krate]);
    }
    run(&mut msrv)?;

    eprintln!("xtask: the core without default features on {WASM_TARGET}");
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    cargo([
        "build",
        "-p",
        "nats-sansio",
        "--no-default-features",
        "--target",
        WASM_TARGET,
    ])
}

/// Starts a JetStream-enabled server and runs the tour against it: at its `nats://` URL, or
/// with `--websocket` at the `ws://` URL of a WebSocket listener the server also opens.
fn demo(args: &[String]) -> Result {
    let websocket = match args {
        [] => false,
        [flag] if flag == "--websocket" => true,
        _ => return Err(format!("demo takes only --websocket\n\n{USAGE}")),
    };
    provision()?;
    let mut builder = NatsServer::builder().jetstream(true);
    if websocket {
        builder = builder.websocket(WebSocket::plain());
    }
    let mut server = builder.start();
    let url = if websocket {
        server.ws_url()
    } else {
        server.url()
    };
    eprintln!("xtask: nats-server {NATS_SERVER_VERSION} listening on {url}");
    let result = cargo([
        "run",
        "--release",
        "-p",
        "nats-client",
        "--example",
        "tour",
        "--",
        &url,
    ]);
    server.stop();
    result
}

/// Runs the benchmarks in release against a fresh nats-server (the binary starts it) and
/// has them write BENCHMARKS.md at the workspace root, and its charts in `bench-charts/`
/// beside it.
fn bench(args: &[String]) -> Result {
    provision()?;
    let out = workspace_root().join("BENCHMARKS.md");
    let mut cmd = cargo_command();
    cmd.args([
        "run",
        "--release",
        "-p",
        BENCH_CRATE,
        "--bin",
        "compare",
        "--",
    ])
    .args(args)
    .arg("--write")
    .arg(&out);
    run(&mut cmd)
}

fn fuzz(args: &[String]) -> Result {
    let [target, rest @ ..] = args else {
        return Err(format!("fuzz needs a target name\n\n{USAGE}"));
    };
    let secs: u64 = match rest.first() {
        Some(s) => s
            .parse()
            .map_err(|_| format!("not a number of seconds: {s}"))?,
        None => 60,
    };
    let dir = workspace_root().join("fuzz");
    if !dir.join("Cargo.toml").exists() {
        return Err(format!("{} has no fuzz crate yet", dir.display()));
    }
    // `cargo +nightly` needs rustup's proxy, not the toolchain cargo in $CARGO.
    if !succeeds(Command::new("cargo").args(["+nightly", "--version"]), &dir) {
        return Err("fuzzing needs a nightly toolchain: `rustup toolchain install nightly`".into());
    }
    if !succeeds(Command::new("cargo").args(["fuzz", "--version"]), &dir) {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    run(Command::new("cargo")
        .current_dir(&dir)
        .args(["+nightly", "fuzz", "run", target, "--"])
        .arg(format!("-max_total_time={secs}")))
}

fn succeeds(cmd: &mut Command, dir: &Path) -> bool {
    cmd.current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
