//! Atomic, durable writes: a temp file in `tmp/`, flushed to disk, then
//! renamed into place. Every write into the store goes through here.
//!
//! One `fsync` per small file would dominate the cost of ingesting or
//! importing thousands of files, so batches flush with a single `syncfs(2)`
//! of the store's filesystem instead, before any of their renames.

use std::fs::{self, File, Permissions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tempfile::NamedTempFile;

use crate::error::{IoContext, Result};

/// Above this many files, one `syncfs` is cheaper than an `fsync` each.
pub(crate) const SYNCFS_THRESHOLD: usize = 8;

/// A new temp file in `tmp_dir`, created with `mode`.
pub(crate) fn temp_file(tmp_dir: &Path, prefix: &str, mode: u32) -> Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(tmp_dir)
        .at(tmp_dir)
}

/// Flushes everything written to the filesystem holding `dir` (data and metadata).
pub(crate) fn sync_filesystem(dir: &Path) -> Result<()> {
    let f = File::open(dir).at(dir)?;
    // SAFETY: syncfs only reads the descriptor, which `f` keeps open.
    let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).at(dir);
    }
    Ok(())
}

/// Asks the kernel to start writing `file`'s dirty pages to disk, without
/// waiting: the `syncfs` or `fsync` that later makes them durable then has
/// less left to wait for. Best effort, so errors are ignored.
pub(crate) fn start_writeback(file: &File) {
    // SAFETY: sync_file_range only reads the descriptor, which `file` keeps open.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).at(dir)
}

/// Writes `bytes` to `dest` atomically and durably, replacing any old file.
pub(crate) fn write_file(tmp_dir: &Path, dest: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = temp_file(tmp_dir, ".rec-", mode)?;
    f.write_all(bytes).at(f.path())?;
    f.as_file().sync_all().at(f.path())?;
    f.persist(dest).map_err(|e| e.error).at(dest)?;
    if let Some(parent) = dest.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Removes a file or a whole directory tree, making read-only entries
/// removable first (`remove_dir_all` handles that on Linux already).
pub(crate) fn remove_any(path: &Path) -> Result<()> {
    let meta = match path.symlink_metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at(path),
    };
    if meta.is_dir() {
        fs::remove_dir_all(path).at(path)
    } else {
        match fs::remove_file(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r.at(path),
        }
    }
}
