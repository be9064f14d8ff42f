//! Materialise: copying objects out of the store into a project.
//!
//! Each file is cloned where the filesystem can (reflink), else copied,
//! into a temp file beside its destination, given its recorded mode and
//! renamed over the destination. Never a hardlink: a script that edits its
//! output in place would then edit the store.

use std::fs::{self, File, Permissions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rayon::prelude::*;

use crate::digest::{Digest, Kind};
use crate::error::{Error, IoContext, Result};
use crate::layout::RecordKind;
use crate::object;
use crate::record::{OutputEntry, OutputManifest, check_relative_path};
use crate::store::Store;

impl Store {
    /// Writes the object of `entry` to `dest`, creating parent directories,
    /// and proves that what was written is the object: small files are
    /// hashed as they pass through one buffer; large ones are cloned, or
    /// copied by the kernel, while the object is hashed. An object whose content no longer matches its
    /// name is moved to `quarantine/` and never reaches `dest`
    /// ([`Error::Corrupt`]); `dest` is then left as it was.
    pub fn materialize_file(&self, entry: &OutputEntry, dest: &Path) -> Result<()> {
        let src_path = self.object_path(&entry.object);
        let mut src = match File::open(&src_path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::MissingObject {
                    digest: entry.object,
                    path: src_path,
                });
            }
            Err(e) => return Err(e).at(&src_path),
        };
        let len = src.metadata().at(&src_path)?.len();
        if len != entry.size {
            // Cheap to notice, and worth naming the actual content.
            let actual = object::hash_path(&src_path, len)?;
            return Err(self.quarantine_corrupt(&src_path, entry.object, actual));
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent).at(parent)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".cairn-")
            .tempfile_in(parent)
            .at(parent)?;
        let actual = if len < object::LARGE {
            copy_hashing(&mut src, tmp.as_file_mut()).at(tmp.path())?
        } else if reflink_copy::reflink_file(&src, tmp.as_file()).is_ok() {
            // The clone shares the object's blocks: reading them once proves both.
            object::hash_path(&src_path, len)?
        } else {
            // The kernel copies while another thread hashes the object: both
            // read the same cached pages, and the copy is kept only if the
            // object is what its name says.
            // The hashing thread uses no rayon: this one may be a rayon
            // worker (restores run in parallel), and it blocks on the join.
            std::thread::scope(|s| -> Result<Digest> {
                let hashing = s.spawn(|| object::hash_path_here(&src_path));
                tmp.as_file().set_len(0).at(tmp.path())?;
                io::copy(&mut src, tmp.as_file_mut()).at(tmp.path())?;
                hashing.join().expect("hashing thread panicked")
            })?
        };
        if actual != entry.object {
            return Err(self.quarantine_corrupt(&src_path, entry.object, actual));
        }
        // The mode is the recorded one (644 or 755): the file belongs to the
        // project and its owner may edit it.
        tmp.as_file()
            .set_permissions(Permissions::from_mode(entry.mode))
            .at(tmp.path())?;
        tmp.persist(dest).map_err(|e| e.error).at(dest)?;
        Ok(())
    }

    /// Moves a corrupt object aside and returns the error that names it.
    /// If moving fails the error is still returned: the caller never uses
    /// the content either way.
    pub(crate) fn quarantine_corrupt(
        &self,
        path: &Path,
        expected: Digest,
        actual: Digest,
    ) -> Error {
        let dest = self.layout.quarantine_path(path);
        let moved = fs::create_dir_all(self.layout.quarantine_dir())
            .and_then(|()| fs::rename(path, &dest))
            .is_ok();
        Error::Corrupt {
            path: if moved { dest } else { path.to_path_buf() },
            expected,
            actual,
        }
    }

    /// Moves the realisation of derivation `id` to `quarantine/`: one of its
    /// objects is corrupt or lost, so it can no longer be restored and the
    /// action must be built again. Returns where it went, or `None` if there
    /// was no such realisation.
    pub fn quarantine_realisation(&self, id: &Digest) -> Result<Option<std::path::PathBuf>> {
        let path = self.layout.record_path(RecordKind::Realisation, id);
        if !path.is_file() {
            return Ok(None);
        }
        let dir = self.layout.quarantine_dir();
        fs::create_dir_all(&dir).at(&dir)?;
        let dest = self.layout.quarantine_path(&path);
        match fs::rename(&path, &dest) {
            Ok(()) => Ok(Some(dest)),
            // Another process moved it first.
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at(&path),
        }
    }

    /// Writes every file of `manifest` under `dest_root`, in parallel.
    /// Paths that would leave `dest_root` are refused before anything is written.
    pub fn materialize(&self, manifest: &OutputManifest, dest_root: &Path) -> Result<()> {
        for path in manifest.files.keys() {
            check_relative_path(path).map_err(|reason| Error::UnsafePath {
                path: path.clone(),
                reason,
            })?;
        }
        manifest
            .files
            .par_iter()
            .try_for_each(|(path, entry)| self.materialize_file(entry, &dest_root.join(path)))
    }
}

/// Copies `src` to `dst` through one buffer, hashing what passes.
fn copy_hashing(src: &mut File, dst: &mut File) -> io::Result<Digest> {
    let mut hasher = Kind::Object.hasher();
    let mut buf = vec![0u8; object::BUF];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
    }
    Ok(hasher.finalize().into())
}
