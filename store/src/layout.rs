//! The on-disk layout of a store, version 1. This is the only module that
//! builds or parses paths inside the store.
//!
//! ```text
//! VERSION  CACHEDIR.TAG  .gitignore  lock
//! objects-v1/ab/<64 hex>     file contents, read-only, named by digest
//! drv-v1/<64 hex>.toml       derivations, named by id
//! real-v1/<64 hex>.toml      realisations, named by the derivation they realise
//! roots-v1/<name>.toml       GC roots
//! locks-v1/<64 hex>.lock     per-derivation build locks
//! quarantine/                what `verify` moved aside
//! tmp/                       staging on the same filesystem, for atomic renames
//! ```

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

/// The layout version this crate reads and writes.
pub const LAYOUT_VERSION: u32 = 1;

const VERSION: &str = "VERSION";
const CACHEDIR_TAG: &str = "CACHEDIR.TAG";
const GITIGNORE: &str = ".gitignore";
const LOCK: &str = "lock";
const OBJECTS: &str = "objects-v1";
const DRV: &str = "drv-v2";
const REAL: &str = "real-v2";
const PATHS: &str = "paths-v1";
const TOOLS: &str = "tools-v1";
const ROOTS: &str = "roots-v1";
const LOCKS: &str = "locks-v1";
const QUARANTINE: &str = "quarantine";
const TMP: &str = "tmp";

const DIRS: [&str; 8] = [OBJECTS, DRV, PATHS, REAL, ROOTS, LOCKS, QUARANTINE, TMP];

/// Record directories of earlier formats. Their records are never read (their
/// keys mean something else); GC removes them, objects stay.
pub(crate) const OBSOLETE_DIRS: [&str; 2] = ["drv-v1", "real-v1"];

const CACHEDIR_TAG_TEXT: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by cairn.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// The kinds of record kept as TOML files named by a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordKind {
    Derivation,
    /// A derivation's path sets, named by the derivation id.
    PathSets,
    /// Named by the realisation key.
    Realisation,
}

/// Paths of one store.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens the layout at `root`, creating it if the directory is absent or
    /// empty. Refuses another layout version and directories that are not stores.
    pub(crate) fn open_or_create(root: &Path) -> Result<Layout> {
        fs::create_dir_all(root).at(root)?;
        let layout = Layout {
            root: root.to_path_buf(),
        };
        let version_path = layout.root.join(VERSION);
        match fs::read_to_string(&version_path) {
            Ok(found) => {
                if found.trim() != LAYOUT_VERSION.to_string() {
                    return Err(Error::LayoutVersion {
                        root: layout.root.clone(),
                        found: found.trim().to_string(),
                        expected: LAYOUT_VERSION,
                    });
                }
                // Directories may have been removed by hand; recreating them is cheap.
                layout.create_dirs(false)?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => layout.create(&version_path)?,
            Err(e) => return Err(e).at(&version_path),
        }
        Ok(layout)
    }

    /// Whether a complete store layout (its `VERSION` file) is at `root`.
    pub(crate) fn exists_at(root: &Path) -> bool {
        root.join(VERSION).is_file()
    }

    fn create(&self, version_path: &Path) -> Result<()> {
        // A half-created store (a crash before VERSION was written) holds only
        // our own names; anything else means the user pointed us at the wrong place.
        for entry in fs::read_dir(&self.root).at(&self.root)? {
            let name = entry.at(&self.root)?.file_name();
            let name = name.to_string_lossy();
            let ours = DIRS.contains(&name.as_ref())
                || name == TOOLS
                || [CACHEDIR_TAG, GITIGNORE, LOCK].contains(&name.as_ref());
            if !ours {
                return Err(Error::NotAStore {
                    root: self.root.clone(),
                    entry: name.into_owned(),
                });
            }
        }
        self.create_dirs(true)?;
        self.write_small(&self.root.join(CACHEDIR_TAG), CACHEDIR_TAG_TEXT)?;
        self.write_small(&self.root.join(GITIGNORE), "*\n")?;
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.lock_path())
            .at(&self.lock_path())?;
        // VERSION last: its presence says the layout is complete.
        self.write_small(version_path, &format!("{LAYOUT_VERSION}\n"))
    }

    fn create_dirs(&self, fanout: bool) -> Result<()> {
        for dir in DIRS {
            let p = self.root.join(dir);
            fs::create_dir_all(&p).at(&p)?;
        }
        if fanout {
            for byte in 0..=255u8 {
                let p = self.objects_dir().join(format!("{byte:02x}"));
                fs::create_dir_all(&p).at(&p)?;
            }
        }
        Ok(())
    }

    /// Writes a small file atomically through `tmp/`.
    fn write_small(&self, path: &Path, text: &str) -> Result<()> {
        let mut f = tempfile::Builder::new()
            .prefix(".layout-")
            .tempfile_in(self.tmp_dir())
            .at(&self.tmp_dir())?;
        f.write_all(text.as_bytes()).at(f.path())?;
        f.as_file().sync_all().at(f.path())?;
        f.persist(path).map_err(|e| e.error).at(path).map(|_| ())
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK)
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP)
    }

    /// Where helper programs cairn installs (its tracer) live, named by
    /// their hash. Not in `tmp/`: a run may be using them while GC sweeps.
    pub(crate) fn tools_dir(&self) -> PathBuf {
        self.root.join(TOOLS)
    }

    pub(crate) fn quarantine_dir(&self) -> PathBuf {
        self.root.join(QUARANTINE)
    }

    pub(crate) fn objects_dir(&self) -> PathBuf {
        self.root.join(OBJECTS)
    }

    /// `objects-v1/ab/<hex>`: two hex digits of fan-out keep directories small.
    pub(crate) fn object_path(&self, d: &Digest) -> PathBuf {
        let hex = d.to_hex();
        self.objects_dir().join(&hex[..2]).join(hex)
    }

    pub(crate) fn records_dir(&self, kind: RecordKind) -> PathBuf {
        self.root.join(match kind {
            RecordKind::Derivation => DRV,
            RecordKind::PathSets => PATHS,
            RecordKind::Realisation => REAL,
        })
    }

    /// Record directories of earlier formats that are present.
    pub(crate) fn obsolete_dirs(&self) -> Vec<PathBuf> {
        OBSOLETE_DIRS
            .iter()
            .map(|d| self.root.join(d))
            .filter(|p| p.is_dir())
            .collect()
    }

    pub(crate) fn record_path(&self, kind: RecordKind, id: &Digest) -> PathBuf {
        self.records_dir(kind).join(format!("{}.toml", id.to_hex()))
    }

    pub(crate) fn roots_dir(&self) -> PathBuf {
        self.root.join(ROOTS)
    }

    /// The file of the GC root `name`; the name must be a plain file name.
    pub(crate) fn root_path(&self, name: &str) -> Result<PathBuf> {
        let ok = !name.is_empty()
            && name.len() <= 128
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return Err(Error::InvalidName {
                what: "root name",
                name: name.to_string(),
            });
        }
        Ok(self.roots_dir().join(format!("{name}.toml")))
    }

    pub(crate) fn locks_dir(&self) -> PathBuf {
        self.root.join(LOCKS)
    }

    pub(crate) fn build_lock_path(&self, id: &Digest) -> PathBuf {
        self.locks_dir().join(format!("{}.lock", id.to_hex()))
    }

    /// Every file under `objects-v1/`: those named like objects, and strays.
    pub(crate) fn list_objects(&self) -> Result<Listing> {
        let mut listing = Listing::default();
        let dir = self.objects_dir();
        for fan in read_dir_sorted(&dir)? {
            let fan_name = file_name(&fan);
            if !fan.is_dir() || fan_name.len() != 2 {
                listing.strays.push(fan);
                continue;
            }
            for path in read_dir_sorted(&fan)? {
                match Digest::from_hex(&file_name(&path)) {
                    Some(d) if d.to_hex()[..2] == fan_name => listing.found.push((d, path)),
                    _ => listing.strays.push(path),
                }
            }
        }
        Ok(listing)
    }

    /// Every file in a record directory: those named `<hex>.toml`, and strays.
    pub(crate) fn list_records(&self, kind: RecordKind) -> Result<Listing> {
        let mut listing = Listing::default();
        for path in read_dir_sorted(&self.records_dir(kind))? {
            let name = file_name(&path);
            match name.strip_suffix(".toml").and_then(Digest::from_hex) {
                Some(d) => listing.found.push((d, path)),
                None => listing.strays.push(path),
            }
        }
        Ok(listing)
    }

    /// Root files, as (name, path).
    pub(crate) fn list_roots(&self) -> Result<Vec<(String, PathBuf)>> {
        Ok(read_dir_sorted(&self.roots_dir())?
            .into_iter()
            .filter_map(|p| {
                let name = file_name(&p).strip_suffix(".toml")?.to_string();
                self.root_path(&name).ok().map(|_| (name, p))
            })
            .collect())
    }

    /// Every entry directly under `tmp/`.
    pub(crate) fn list_tmp(&self) -> Result<Vec<PathBuf>> {
        read_dir_sorted(&self.tmp_dir())
    }

    /// Every build lock file, with the derivation it locks.
    pub(crate) fn list_build_locks(&self) -> Result<Vec<PathBuf>> {
        read_dir_sorted(&self.locks_dir())
    }

    /// A fresh name in `quarantine/` for a file moved aside by `verify`.
    pub(crate) fn quarantine_path(&self, original: &Path) -> PathBuf {
        let base = original
            .strip_prefix(&self.root)
            .unwrap_or(original)
            .to_string_lossy()
            .replace('/', "_");
        let dir = self.quarantine_dir();
        let mut candidate = dir.join(&base);
        let mut n = 1;
        while candidate.symlink_metadata().is_ok() {
            candidate = dir.join(format!("{base}.{n}"));
            n += 1;
        }
        candidate
    }
}

/// Files found under a directory of the store.
#[derive(Default, Debug)]
pub(crate) struct Listing {
    /// Files named like the directory's items, with the digest their name states.
    pub found: Vec<(Digest, PathBuf)>,
    /// Files that have no business there.
    pub strays: Vec<PathBuf>,
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).at(dir),
    };
    for entry in entries {
        out.push(entry.at(dir)?.path());
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_layout_and_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let l = Layout::open_or_create(&root).unwrap();
        for name in [VERSION, CACHEDIR_TAG, LOCK, OBJECTS, DRV, REAL, TMP] {
            assert!(root.join(name).exists(), "{name} missing");
        }
        assert!(root.join("objects-v1/ff").is_dir());
        let tag = fs::read_to_string(root.join(CACHEDIR_TAG)).unwrap();
        assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"));
        assert_eq!(fs::read_to_string(root.join(VERSION)).unwrap(), "1\n");
        let d = crate::Kind::Object.digest(b"x");
        let p = l.object_path(&d);
        assert_eq!(p.parent().unwrap().file_name().unwrap(), &d.to_hex()[..2]);
        Layout::open_or_create(&root).unwrap();
    }

    #[test]
    fn refuses_another_version() {
        let dir = tempfile::tempdir().unwrap();
        Layout::open_or_create(dir.path()).unwrap();
        fs::write(dir.path().join(VERSION), "2\n").unwrap();
        let err = Layout::open_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, Error::LayoutVersion { ref found, .. } if found == "2"));
        assert!(err.to_string().contains("layout version \"2\""), "{err}");
    }

    #[test]
    fn refuses_a_directory_that_is_not_a_store() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("thesis.docx"), "x").unwrap();
        let err = Layout::open_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, Error::NotAStore { .. }), "{err}");
        assert!(!dir.path().join(OBJECTS).exists());
    }

    #[test]
    fn root_names_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::open_or_create(dir.path()).unwrap();
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(l.root_path(bad).is_err(), "{bad:?} accepted");
        }
        assert!(l.root_path("proj-1.x_y").is_ok());
    }
}
