//! Materialise: copying objects out of the store into a project.
//!
//! Each file is cloned where the filesystem can (reflink), else copied,
//! into a temp file beside its destination, given its recorded mode and
//! renamed over the destination. Never a hardlink: a script that edits its
//! output in place would then edit the store.

use std::fs::{self, File, Permissions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::object;
use crate::record::{OutputEntry, OutputManifest, check_relative_path};
use crate::store::Store;

impl Store {
    /// Writes the object of `entry` to `dest`, creating parent directories.
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
            return Err(Error::Corrupt {
                actual: object::hash_path(&src_path, len)?,
                path: src_path,
                expected: entry.object,
            });
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
        if reflink_copy::reflink_file(&src, tmp.as_file()).is_err() {
            tmp.as_file().set_len(0).at(tmp.path())?;
            io::copy(&mut src, tmp.as_file_mut()).at(tmp.path())?;
        }
        // The mode is the recorded one (644 or 755): the file belongs to the
        // project and its owner may edit it.
        tmp.as_file()
            .set_permissions(Permissions::from_mode(entry.mode))
            .at(tmp.path())?;
        tmp.persist(dest).map_err(|e| e.error).at(dest)?;
        Ok(())
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
