//! Memory scenarios: resident memory read from /proc, each arm measured in a child process
//! of its own (this binary re-executed with `--child`), so neither arm's peak nor the
//! allocator's retained pages leak into the other's figure; and the file-descriptor limit
//! that 1,000 connections need.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::clients::{run_tokio, Arm, Flavor};
use crate::scenarios::{IdleConnections, PeakObject, PeakPubSub};
use crate::Sample;

/// A `kB` field of /proc/self/status, in bytes (0 when unreadable: not Linux).
fn status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The process's resident memory now (VmRSS).
pub(crate) fn rss_bytes() -> u64 {
    status_bytes("VmRSS")
}

/// The process's peak resident memory so far (VmHWM).
pub(crate) fn peak_rss_bytes() -> u64 {
    status_bytes("VmHWM")
}

/// Resets the peak (VmHWM) to the resident memory now, where the kernel allows it (Linux
/// 4.0 and later: `5` written to /proc/self/clear_refs), and returns the resident memory
/// now (VmRSS). Without the reset the peak still counts from start-up, which for the
/// scenarios that use this is below the figure they measure.
pub(crate) fn reset_peak_rss() -> u64 {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("    cannot reset the peak resident memory: {e}");
    }
    rss_bytes()
}

/// The CPU time the process has used so far, user and system, all threads.
#[allow(unsafe_code)]
pub(crate) fn cpu_time() -> Duration {
    // SAFETY: `rusage` is plain data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage` for the duration of the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Raises the soft limit on open files to the hard limit, so 1,000 client connections (and
/// the server this process starts, which inherits the limit) fit; returns the soft limit
/// now in force.
#[allow(unsafe_code)]
pub(crate) fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid `rlimit`; the call only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    limit.rlim_cur
}

/// The scenarios that run in a child process.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ChildScenario {
    /// Resident memory per idle connection, `n` connections.
    IdleConnections,
    /// Peak resident memory of a pub→sub of `n` × 1 KiB.
    PeakPubSub,
    /// Peak resident memory growth of one object put of `n` bytes.
    ObjectPut,
    /// Peak resident memory growth of one object get of `n` bytes (put beforehand by the
    /// parent: [`crate::scenarios::ObjectSetUp`]).
    ObjectGet,
}

impl ChildScenario {
    fn name(self) -> &'static str {
        match self {
            ChildScenario::IdleConnections => "idle-connections",
            ChildScenario::PeakPubSub => "peak-pubsub",
            ChildScenario::ObjectPut => "object-put",
            ChildScenario::ObjectGet => "object-get",
        }
    }
}

/// Runs one arm of `scenario` in a child process and returns its sample.
pub(crate) fn in_child(scenario: ChildScenario, arm: Arm, url: &str, n: usize) -> Sample {
    let exe = std::env::current_exe().expect("own executable");
    let arm = match arm {
        Arm::Ours => "ours",
        Arm::Theirs => "theirs",
    };
    let output = Command::new(exe)
        .args(["--child", scenario.name(), arm, url, &n.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .expect("run child");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child {} {arm} failed ({}): {text}",
        scenario.name(),
        output.status
    );
    let fields: Vec<Option<f64>> = text
        .split_whitespace()
        .map(|f| f.parse::<f64>().ok())
        .collect();
    let field = |i: usize| fields.get(i).copied().flatten();
    Sample {
        value: field(0).unwrap_or_else(|| panic!("child printed no value: {text}")),
        p99: None,
        delivered: field(1),
        allocs: field(2),
    }
}

/// The child's side: `--child <scenario> <ours|theirs> <url> <n>`; prints
/// `value delivered allocs` (`-` for none) on stdout.
pub(crate) fn child_main(args: &[String]) -> ! {
    let [scenario, arm, url, n] = args else {
        eprintln!("usage: compare --child <scenario> <ours|theirs> <url> <n>");
        std::process::exit(2);
    };
    let arm = if arm == "ours" {
        Arm::Ours
    } else {
        Arm::Theirs
    };
    let n: usize = n.parse().expect("count");
    let sample = match scenario.as_str() {
        "idle-connections" => {
            run_tokio(arm, Flavor::MultiThread, url, IdleConnections { count: n })
        }
        "peak-pubsub" => run_tokio(
            arm,
            Flavor::MultiThread,
            url,
            PeakPubSub {
                size: 1024,
                n,
                wait: Duration::from_millis(500),
            },
        ),
        "object-put" | "object-get" => run_tokio(
            arm,
            Flavor::MultiThread,
            url,
            PeakObject {
                size: n as u64,
                get: scenario == "object-get",
            },
        ),
        other => {
            eprintln!("unknown child scenario {other}");
            std::process::exit(2);
        }
    };
    let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| v.to_string());
    println!(
        "{} {} {}",
        sample.value,
        opt(sample.delivered),
        opt(sample.allocs)
    );
    std::process::exit(0);
}
