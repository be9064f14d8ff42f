//! Objects: staging content into `tmp/` while hashing it, committing staged
//! content under its digest, and rehashing what is stored.
//!
//! Content is hashed as it is written to the staging file, or (for large
//! files) the staging copy itself is hashed after the copy, so the digest is
//! always the digest of the bytes that will be renamed into `objects-v1/`,
//! even if the source changes meanwhile.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use tempfile::TempPath;

use crate::digest::{Digest, Kind};
use crate::durable;
use crate::error::{IoContext, Result};
use crate::layout::Layout;

/// Files at least this big are copied by the kernel and hashed on all cores;
/// smaller ones are hashed on one core while copied (BLAKE3's own advice:
/// multithreading does not pay below ~128 KiB).
pub(crate) const LARGE: u64 = 4 << 20;

/// Buffer size for streaming copies.
pub(crate) const BUF: usize = 256 << 10;

/// Objects are read-only: a script that edits a materialised copy in place
/// cannot reach them, and neither can a stray `chmod`-less write.
pub(crate) const OBJECT_MODE: u32 = 0o444;

/// Content written to `tmp/` and hashed, not yet visible in the store.
pub(crate) struct Staged {
    pub temp: TempPath,
    pub digest: Digest,
    pub size: u64,
}

/// Streams `reader` into a staging file, hashing as it goes.
/// With `sync`, the file is flushed to disk before it is closed.
pub(crate) fn stage_reader(tmp_dir: &Path, mut reader: impl Read, sync: bool) -> Result<Staged> {
    let mut file = durable::temp_file(tmp_dir, ".obj-", OBJECT_MODE)?;
    let mut hasher = Kind::Object.hasher();
    let mut buf = vec![0u8; BUF];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).at(file.path()),
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).at(file.path())?;
        size += n as u64;
    }
    finish(file, hasher.finalize().into(), size, sync)
}

/// Stages an already opened regular file of `size` bytes.
pub(crate) fn stage_file(tmp_dir: &Path, src: &mut File, size: u64, sync: bool) -> Result<Staged> {
    if size < LARGE {
        return stage_reader(tmp_dir, src, sync);
    }
    let mut file = durable::temp_file(tmp_dir, ".obj-", OBJECT_MODE)?;
    // A clone costs nothing where the filesystem can; otherwise the kernel
    // copies (copy_file_range), so the bytes never pass through user space.
    let size = match reflink_copy::reflink_file(src, file.as_file()) {
        Ok(()) => file.as_file().metadata().at(file.path())?.len(),
        Err(_) => {
            file.as_file().set_len(0).at(file.path())?;
            copy_with_writeback(src, file.as_file_mut()).at(file.path())?
        }
    };
    let digest = hash_path(file.path(), size)?;
    finish(file, digest, size, sync)
}

/// Copies `src` to `dst` in the kernel (`copy_file_range`), a slice at a
/// time, starting the writeback of each slice as soon as it is copied: the
/// disk then works while the rest is copied and hashed, and the final
/// `fsync` has little left to wait for.
fn copy_with_writeback(src: &mut File, dst: &mut File) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    const SLICE: usize = 32 << 20;
    let mut copied = 0u64;
    loop {
        // SAFETY: both descriptors are open for the call; null offsets make
        // the kernel use and advance the files' own offsets.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                SLICE,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if copied == 0 {
                // No kernel copy between these files (another filesystem
                // type, an old kernel): stream through user space instead.
                return io::copy(src, dst);
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(copied);
        }
        copied += n as u64;
        durable::start_writeback(dst);
    }
}

fn finish(file: tempfile::NamedTempFile, digest: Digest, size: u64, sync: bool) -> Result<Staged> {
    if sync {
        file.as_file().sync_all().at(file.path())?;
    }
    // Closing the descriptor keeps batches of thousands under the fd limit.
    Ok(Staged {
        temp: file.into_temp_path(),
        digest,
        size,
    })
}

/// The object digest of the file at `path`, hashed the way ingest hashes:
/// on every core when it is large. What `b3sum` would print, but under the
/// object context.
pub fn hash_file(path: &Path) -> Result<Digest> {
    let size = std::fs::metadata(path).at(path)?.len();
    hash_path(path, size)
}

/// The object digest of the file at `path`, whose size is `size`.
pub(crate) fn hash_path(path: &Path, size: u64) -> Result<Digest> {
    let mut hasher = Kind::Object.hasher();
    if size >= LARGE {
        hasher.update_mmap_rayon(path).at(path)?;
    } else {
        let f = File::open(path).at(path)?;
        hasher.update_reader(f).at(path)?;
    }
    Ok(hasher.finalize().into())
}

/// The object digest of the file at `path`, on this thread alone: for a
/// thread that must not wait on rayon's pool (its caller may be a pool
/// thread blocked on it).
pub(crate) fn hash_path_here(path: &Path) -> Result<Digest> {
    let mut hasher = Kind::Object.hasher();
    hasher.update_mmap(path).at(path)?;
    Ok(hasher.finalize().into())
}

/// Makes staged content visible under its digest. Returns whether it was
/// new. The caller has made the staged data durable first.
pub(crate) fn commit(layout: &Layout, staged: Staged) -> Result<bool> {
    let dest = layout.object_path(&staged.digest);
    if let Ok(meta) = dest.symlink_metadata()
        && meta.is_file()
        && meta.len() == staged.size
    {
        // Same name, same size: the same content (verify checks the rest).
        // A wrong size is a damaged object, which the rename below repairs.
        return Ok(false);
    }
    match staged.temp.persist(&dest) {
        Ok(()) => Ok(true),
        Err(e) if e.error.kind() == io::ErrorKind::NotFound => {
            let parent = dest.parent().expect("objects have a fan-out parent");
            std::fs::create_dir_all(parent).at(parent)?;
            e.path.persist(&dest).map_err(|e| e.error).at(&dest)?;
            Ok(true)
        }
        Err(e) => Err(e.error).at(&dest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_and_small_paths_hash_alike() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(LARGE as usize + 12345))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let src = dir.path().join("big");
        std::fs::write(&src, &data).unwrap();
        let mut f = File::open(&src).unwrap();
        let big = stage_file(dir.path(), &mut f, data.len() as u64, false).unwrap();
        let small = stage_reader(dir.path(), &data[..], false).unwrap();
        assert_eq!(big.digest, Kind::Object.digest(&data));
        assert_eq!(small.digest, big.digest);
        assert_eq!(big.size, data.len() as u64);
        assert_eq!(std::fs::read(&big.temp).unwrap(), data);
    }
}
