//! Ingest: copying files into the store while hashing them.
//!
//! Each file is read once. Many files are staged in parallel (one core per
//! file); a large file is hashed on every core. A batch is flushed to disk
//! once, then renamed into `objects-v1/`, so no object is ever visible
//! before its content is complete and durable.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::digest::Digest;
use crate::durable;
use crate::error::{Error, IoContext, Result};
use crate::object::{self, Staged};
use crate::store::Store;

/// What ingesting one file gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ingested {
    /// The object's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// `0o755` if the source was executable by its owner, else `0o644`.
    pub mode: u32,
}

impl Store {
    /// Copies the regular file at `path` into the store.
    pub fn ingest_file(&self, path: &Path) -> Result<Ingested> {
        let _shared = self.shared();
        let (staged, mode) = self.stage_path(path, true)?;
        self.commit_one(staged, mode)
    }

    /// Copies many files into the store, in parallel; results are in the
    /// order of `paths`. Nothing is committed unless every file could be read.
    pub fn ingest_files(&self, paths: &[PathBuf]) -> Result<Vec<Ingested>> {
        let _shared = self.shared();
        let per_file_sync = paths.len() <= durable::SYNCFS_THRESHOLD;
        let staged = paths
            .par_iter()
            .map(|p| self.stage_path(p, per_file_sync))
            .collect::<Result<Vec<_>>>()?;
        if !per_file_sync {
            durable::sync_filesystem(&self.tmp_dir())?;
        }
        staged
            .into_par_iter()
            .map(|(s, mode)| self.commit_one(s, mode))
            .collect()
    }

    /// Moves files that the caller wrote into this store's `tmp/` (the
    /// outputs in a finished scratch workspace) into the store without
    /// copying them: each is made read-only, hashed, flushed and renamed
    /// under its digest; one whose content the store already has is removed.
    /// A file outside `tmp/`, with other links, or owned by another user is
    /// copied instead, as [`Store::ingest_files`] does. Results are in the
    /// order of `paths`. The caller guarantees that nothing writes to these
    /// files any more.
    pub fn adopt_files(&self, paths: &[PathBuf]) -> Result<Vec<Ingested>> {
        use std::os::unix::fs::MetadataExt;
        let _shared = self.shared();
        let tmp = self.tmp_dir();
        let per_file_sync = paths.len() <= durable::SYNCFS_THRESHOLD;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        let staged = paths
            .par_iter()
            .map(|p| {
                let (mut file, size, mode) = open_source(p)?;
                let meta = file.metadata().at(p)?;
                if !p.starts_with(&tmp) || meta.nlink() != 1 || meta.uid() != euid {
                    let staged = object::stage_file(&tmp, &mut file, size, per_file_sync)?;
                    return Ok((staged, mode));
                }
                file.set_permissions(std::fs::Permissions::from_mode(object::OBJECT_MODE))
                    .at(p)?;
                let digest = object::hash_path(p, size)?;
                let now = std::fs::symlink_metadata(p).at(p)?;
                if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
                    return Err(Error::NotAFile {
                        path: p.clone(),
                        kind: "file replaced while it was stored",
                    });
                }
                if per_file_sync {
                    file.sync_all().at(p)?;
                }
                let staged = Staged {
                    temp: tempfile::TempPath::try_from_path(p).at(p)?,
                    digest,
                    size,
                };
                Ok((staged, mode))
            })
            .collect::<Result<Vec<_>>>()?;
        if !per_file_sync {
            durable::sync_filesystem(&tmp)?;
        }
        staged
            .into_par_iter()
            .map(|(s, mode)| self.commit_one(s, mode))
            .collect()
    }

    /// Stores `bytes` as an object.
    pub fn ingest_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let _shared = self.shared();
        let staged = object::stage_reader(&self.tmp_dir(), bytes, true)?;
        let digest = staged.digest;
        object::commit(&self.layout, staged)?;
        Ok(digest)
    }

    fn stage_path(&self, path: &Path, sync: bool) -> Result<(Staged, u32)> {
        let (mut file, size, mode) = open_source(path)?;
        let staged = object::stage_file(&self.tmp_dir(), &mut file, size, sync)?;
        Ok((staged, mode))
    }

    fn commit_one(&self, staged: Staged, mode: u32) -> Result<Ingested> {
        let (digest, size) = (staged.digest, staged.size);
        object::commit(&self.layout, staged)?;
        Ok(Ingested { digest, size, mode })
    }
}

/// Opens a source that must be a regular file: a symlink is refused rather
/// than followed (it could point at anything on the host), and a FIFO
/// cannot block the open.
fn open_source(path: &Path) -> Result<(File, u64, u32)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Error::NotAFile {
                path: path.to_path_buf(),
                kind: "symlink",
            });
        }
        Err(e) => return Err(e).at(path),
    };
    let meta = file.metadata().at(path)?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "directory"
        } else {
            "special file"
        };
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
            kind,
        });
    }
    let mode = if meta.permissions().mode() & 0o100 != 0 {
        0o755
    } else {
        0o644
    };
    Ok((file, meta.len(), mode))
}
