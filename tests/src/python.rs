//! Finding Python and installing nats-py, the other client in the interop tests, and running
//! the scripts in `tests/python/` with it.
//!
//! Invariant: as for nats-server (see `provision`), the cache directory
//! `<target>/nats-py/<version>/` either does not exist or holds a complete install. pip
//! installs into a uniquely named staging directory beside it, which is then renamed into
//! place in one step; when two processes race, one rename wins, the other sees the winner's
//! complete install and discards its own.
//!
//! A test skips, through [`nats_py_or_skip`], only when no Python 3 with a working pip is
//! found; any other failure (pip works but the install fails, say offline) panics.
//!
//! ```no_run
//! use nats_tests::{nats_py_or_skip, script, NatsServer};
//!
//! let Some(py) = nats_py_or_skip() else { return };
//! let server = NatsServer::builder().jetstream(true).start();
//! let url = server.url();
//! let out = py.run_ok(&script("kv_interop.py"), &["write", url.as_str(), "INTEROP"]);
//! println!("{out}");
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::provision::{pip_install_with, target_dir, workspace_root};
use crate::{wait_until, TempDir};

/// The nats-py release the interop scripts are written against, installed from PyPI.
pub const NATS_PY_VERSION: &str = "2.16.0";

/// How long [`NatsPy::run`] lets a script run before killing it.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The interpreters tried, in order.
const PYTHONS: [&str; 2] = ["python3", "python"];

/// A Python interpreter and a directory from which it can import nats-py
/// [`NATS_PY_VERSION`].
#[derive(Debug, Clone)]
pub struct NatsPy {
    python: String,
    site: PathBuf,
}

/// Why nats-py cannot be had: only `NoPip` lets a test skip.
#[derive(Debug, Clone)]
enum Unavailable {
    NoPip(String),
    Failed(String),
}

/// nats-py [`NATS_PY_VERSION`], installing it if needed.
///
/// The interpreter is the first of `python3`, `python` that is Python 3.7 or later. The
/// package is looked for, in order:
/// 1. the environment variable `NATS_PY`: a directory holding the `nats` package (for example
///    made with `pip install --target <dir> nats-py==<NATS_PY_VERSION>`, for offline runs);
/// 2. the cache `<target dir>/nats-py/<NATS_PY_VERSION>/`, where the target dir is
///    `CARGO_TARGET_DIR` or else the workspace's `target/`; when the cache is empty nats-py is
///    installed there with `<python> -m pip install --target <dir> nats-py==<version>`.
///
/// The answer is computed once per process. The error says what was tried and how to fix it.
pub fn nats_py() -> Result<NatsPy, String> {
    match cached() {
        Ok(py) => Ok(py.clone()),
        Err(Unavailable::NoPip(e) | Unavailable::Failed(e)) => Err(e.clone()),
    }
}

/// [`nats_py`] for a test that skips when Python's pip is unusable: then it prints
/// `SKIPPED: nats-py unavailable: <why>` to stderr and returns `None`.
///
/// # Panics
///
/// When pip works but nats-py still cannot be installed or found (no network, a bad `NATS_PY`,
/// a full disk): that is a broken test environment, not a missing optional tool.
pub fn nats_py_or_skip() -> Option<NatsPy> {
    match cached() {
        Ok(py) => Some(py.clone()),
        Err(Unavailable::NoPip(why)) => {
            eprintln!("SKIPPED: nats-py unavailable: {why}");
            None
        }
        Err(Unavailable::Failed(why)) => panic!("{why}"),
    }
}

/// The path of `tests/python/<name>`, a script (or data file) for [`NatsPy::run`].
pub fn script(name: &str) -> PathBuf {
    scripts_dir().join(name)
}

fn scripts_dir() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    if manifest_dir.join("python").is_dir() {
        return manifest_dir.join("python");
    }
    workspace_root().join("tests").join("python")
}

impl NatsPy {
    /// The interpreter (`python3` or `python`, as found on `PATH`).
    pub fn python(&self) -> &str {
        &self.python
    }

    /// The directory nats-py is imported from (put on `PYTHONPATH`).
    pub fn site_dir(&self) -> &Path {
        &self.site
    }

    /// A command running `script` with nats-py importable: `PYTHONPATH` is the install
    /// directory, and no bytecode is written next to the script.
    pub fn command(&self, script: &Path) -> Command {
        let mut command = Command::new(&self.python);
        command
            .arg(script)
            .env("PYTHONPATH", &self.site)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null());
        command
    }

    /// Runs `script` with `args` and collects its output. A script still running after
    /// [`SCRIPT_TIMEOUT`] is killed and reported as a `TimedOut` error carrying its stderr.
    pub fn run(&self, script: &Path, args: &[&str]) -> std::io::Result<Output> {
        let mut child = self
            .command(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let mut status = None;
        let mut wait_error = None;
        wait_until(SCRIPT_TIMEOUT, || match child.try_wait() {
            Ok(s) => {
                status = s;
                status.is_some()
            }
            Err(e) => {
                wait_error = Some(e);
                true
            }
        });
        if let Some(e) = wait_error {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "{} {} {} ran longer than {SCRIPT_TIMEOUT:?} and was killed; stderr:\n{}",
                    self.python,
                    script.display(),
                    args.join(" "),
                    String::from_utf8_lossy(&stderr).trim_end()
                ),
            ));
        };
        Ok(Output {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        })
    }

    /// Runs `script` with `args` and returns its stdout.
    ///
    /// # Panics
    ///
    /// When the script cannot be run, times out or exits unsuccessfully; the message holds
    /// the command, its exit status, its stderr and its stdout.
    pub fn run_ok(&self, script: &Path, args: &[&str]) -> String {
        let shown = format!("{} {} {}", self.python, script.display(), args.join(" "));
        let output = self
            .run(script, args)
            .unwrap_or_else(|e| panic!("cannot run `{shown}`: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            panic!(
                "`{shown}` failed ({}).\n--- stderr ---\n{}\n--- stdout ---\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end(),
                stdout.trim_end()
            );
        }
        stdout
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

fn cached() -> &'static Result<NatsPy, Unavailable> {
    static FOUND: OnceLock<Result<NatsPy, Unavailable>> = OnceLock::new();
    FOUND.get_or_init(find_or_install)
}

fn find_or_install() -> Result<NatsPy, Unavailable> {
    let python = find_python()?;
    if let Some(dir) = std::env::var_os("NATS_PY").filter(|p| !p.is_empty()) {
        let site = PathBuf::from(dir);
        return if has_nats(&site) {
            Ok(NatsPy { python, site })
        } else {
            Err(Unavailable::Failed(format!(
                "NATS_PY is set to {} but that directory holds no nats package \
                 (nats/js/kv.py). Fix: `{python} -m pip install --target <dir> \
                 nats-py=={NATS_PY_VERSION}` and point NATS_PY at <dir>, or unset it.",
                site.display()
            )))
        };
    }
    let cache = cache_dir();
    if is_complete(&cache) {
        return Ok(NatsPy {
            python,
            site: cache,
        });
    }
    match install(&python, &cache) {
        Ok(()) => Ok(NatsPy {
            python,
            site: cache,
        }),
        Err(e) => {
            let why = format!(
                "installing nats-py=={NATS_PY_VERSION} from PyPI into {} with {python} failed: \
                 {e}",
                cache.display()
            );
            Err(match pip_works(&python) {
                Ok(()) => Unavailable::Failed(format!(
                    "{why}\nFix: check network access to PyPI, or install nats-py=={NATS_PY_VERSION} \
                     with `pip install --target <dir>` and set NATS_PY=<dir>."
                )),
                Err(no_pip) => Unavailable::NoPip(format!(
                    "{no_pip}; {why}. Fix: install pip for {python} (e.g. `{python} -m ensurepip` \
                     or the python3-pip package)."
                )),
            })
        }
    }
}

/// The first of [`PYTHONS`] that runs and is Python 3.7 or later (what nats-py requires).
fn find_python() -> Result<String, Unavailable> {
    let mut tried = Vec::new();
    for python in PYTHONS {
        let status = Command::new(python)
            .args(["-c", "import sys; sys.exit(sys.version_info < (3, 7))"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => return Ok(python.to_owned()),
            Ok(s) => tried.push(format!("{python} is not Python 3.7+ ({s})")),
            Err(e) => tried.push(format!("cannot run {python}: {e}")),
        }
    }
    Err(Unavailable::NoPip(format!(
        "no Python 3.7+ found ({}). Fix: install Python 3 with pip.",
        tried.join("; ")
    )))
}

fn pip_works(python: &str) -> Result<(), String> {
    let output = Command::new(python)
        .args(["-m", "pip", "--version"])
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`{python} -m pip --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run {python}: {e}")),
    }
}

fn cache_dir() -> PathBuf {
    target_dir().join("nats-py").join(NATS_PY_VERSION)
}

/// Whether `dir` holds an importable nats package with its KV module.
fn has_nats(dir: &Path) -> bool {
    dir.join("nats").join("js").join("kv.py").is_file()
}

/// Whether `dir` holds the complete pip install of [`NATS_PY_VERSION`].
fn is_complete(dir: &Path) -> bool {
    has_nats(dir)
        && dir
            .join(format!("nats_py-{NATS_PY_VERSION}.dist-info"))
            .is_dir()
}

fn install(python: &str, cache: &Path) -> Result<(), String> {
    let parent = cache.parent().ok_or("the cache path has no parent")?;
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let staging = TempDir::new_in(parent, &format!(".install-{NATS_PY_VERSION}")).map_err(|e| {
        format!(
            "cannot create a staging directory in {}: {e}",
            parent.display()
        )
    })?;
    eprintln!(
        "nats-tests: installing nats-py {NATS_PY_VERSION} from PyPI into {}",
        cache.display()
    );
    pip_install_with(
        python,
        staging.path(),
        &format!("nats-py=={NATS_PY_VERSION}"),
    )?;
    if !is_complete(staging.path()) {
        return Err(format!(
            "pip succeeded but {} holds no nats-py {NATS_PY_VERSION}",
            staging.path().display()
        ));
    }
    match std::fs::rename(staging.path(), cache) {
        Ok(()) => {}
        // Another process finished first; its install is complete, ours is dropped.
        Err(_) if is_complete(cache) => {}
        Err(e) => return Err(format!("cannot move the install into place: {e}")),
    }
    if is_complete(cache) {
        Ok(())
    } else {
        Err("the installed package vanished".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_per_version_under_the_target_dir() {
        let cache = cache_dir();
        assert!(cache.starts_with(target_dir()), "{}", cache.display());
        assert!(cache.ends_with(Path::new("nats-py").join(NATS_PY_VERSION)));
    }

    #[test]
    fn an_install_is_complete_only_with_the_package_and_its_version_metadata() {
        let dir = TempDir::new("nats-py-cache");
        assert!(!is_complete(dir.path()));
        let js = dir.path().join("nats").join("js");
        std::fs::create_dir_all(&js).unwrap();
        std::fs::write(js.join("kv.py"), "").unwrap();
        assert!(has_nats(dir.path()));
        assert!(!is_complete(dir.path()), "no dist-info yet");
        std::fs::create_dir(dir.path().join("nats_py-0.0.1.dist-info")).unwrap();
        assert!(!is_complete(dir.path()), "another version's metadata");
        std::fs::create_dir(
            dir.path()
                .join(format!("nats_py-{NATS_PY_VERSION}.dist-info")),
        )
        .unwrap();
        assert!(is_complete(dir.path()));
    }

    #[test]
    fn scripts_are_found_in_tests_python() {
        let path = script("kv_interop.py");
        assert!(path.is_file(), "{}", path.display());
        assert!(script("kv_interop_expected.json").is_file());
    }
}
