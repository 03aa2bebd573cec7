//! A uniquely named temporary directory, removed when dropped.
//!
//! Invariant: the directory was created by this value (`create_dir`, never `create_dir_all`
//! on an existing path), so removing it on drop can only delete what this value made.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A directory under [`std::env::temp_dir`] with a unique name; removed, with its contents,
/// on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a new empty directory under the system temp dir, its name starting with
    /// `prefix`.
    ///
    /// # Panics
    ///
    /// If no directory can be created (for example the temp dir is not writable).
    pub fn new(prefix: &str) -> TempDir {
        match TempDir::new_in(&std::env::temp_dir(), prefix) {
            Ok(dir) => dir,
            Err(e) => panic!("cannot create a temporary directory: {e}"),
        }
    }

    /// Creates a new empty directory inside `parent` (which must exist), its name starting
    /// with `prefix`.
    pub fn new_in(parent: &Path, prefix: &str) -> std::io::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut last_err = None;
        for _ in 0..16 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id());
            let path = parent.join(name);
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("no unique name found")))
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives up ownership: the directory is no longer removed on drop. Returns its path.
    pub fn keep(mut self) -> PathBuf {
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.path.as_os_str().is_empty() {
            return; // kept
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
