//! Advisory `flock` locks: the store-wide lock (shared for ordinary use,
//! exclusive for GC) and per-derivation build locks.
//!
//! `flock` locks belong to an open file description, so they also exclude
//! other handles in the same process, and the kernel drops them when the
//! process dies: a killed run never leaves the store locked. They are
//! unreliable on NFS.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{IoContext, Result};

/// Held while this process builds one derivation; released on drop.
#[derive(Debug)]
pub struct BuildLock {
    file: File,
    path: PathBuf,
    id: Digest,
}

impl BuildLock {
    /// The derivation this lock is for.
    pub fn id(&self) -> Digest {
        self.id
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until the lock file at `path` is held exclusively.
    pub(crate) fn acquire(path: &Path, id: Digest) -> Result<BuildLock> {
        let file = open_lock_file(path)?;
        file.lock().at(path)?;
        Ok(BuildLock {
            file,
            path: path.to_path_buf(),
            id,
        })
    }

    /// Takes the lock if no one holds it.
    pub(crate) fn try_acquire(path: &Path, id: Digest) -> Result<Option<BuildLock>> {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(BuildLock {
                file,
                path: path.to_path_buf(),
                id,
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e).at(path),
        }
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first makes the
        // release independent of any duplicated descriptor.
        let _ = self.file.unlock();
    }
}

/// Opens (creating if needed) a lock file without truncating it.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .at(path)
}

/// Tries to take `file`'s lock exclusively without waiting.
pub(crate) fn try_exclusive(file: &File, path: &Path) -> Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e).at(path),
    }
}
