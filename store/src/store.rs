//! The `Store` handle: opening a store, its locks, and reading and writing
//! derivation and realisation records.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use crate::digest::{Digest, Kind};
use crate::durable;
use crate::error::{Error, IoContext, Result};
use crate::layout::{Layout, RecordKind};
use crate::lock::{self, BuildLock};
use crate::record::{
    Derivation, PATH_SETS_FORMAT, PathSet, PathSets, Realisation, from_toml, to_canonical,
};

/// Records and roots are read-only files, like objects.
pub(crate) const RECORD_MODE: u32 = 0o444;

/// Records bigger than this are refused when read: no legitimate record is.
pub(crate) const MAX_RECORD_SIZE: u64 = 64 << 20;

/// A realisation read less recently than this is marked as used again
/// (its mtime is what GC's age limit looks at).
const TOUCH_AFTER: Duration = Duration::from_secs(3600);

/// An open store. Holds a shared lock on the store's `lock` file for its
/// lifetime, so GC (which needs it exclusively) never runs under it.
#[derive(Debug)]
pub struct Store {
    pub(crate) layout: Layout,
    lock: File,
    /// Excludes this process's own users of the store while GC holds the
    /// exclusive lock: `flock` cannot, since they share one descriptor.
    gate: RwLock<()>,
}

impl Store {
    /// Opens the store at `root`, creating its layout if the directory is
    /// absent or empty. Waits while a GC holds the store exclusively.
    pub fn open(root: impl AsRef<Path>) -> Result<Store> {
        let root = root.as_ref();
        let root = std::path::absolute(root).at(root)?;
        let layout = Layout::open_or_create(&root)?;
        let lock_path = layout.lock_path();
        let lock = lock::open_lock_file(&lock_path)?;
        lock.lock_shared().at(&lock_path)?;
        Ok(Store {
            layout,
            lock,
            gate: RwLock::new(()),
        })
    }

    /// Opens the store at `root` if one is there, creating nothing: for
    /// commands that only look. `None` when the directory is absent or holds
    /// no store yet.
    pub fn open_existing(root: impl AsRef<Path>) -> Result<Option<Store>> {
        let root = root.as_ref();
        if !Layout::exists_at(root) {
            return Ok(None);
        }
        Store::open(root).map(Some)
    }

    /// A directory for helper programs that actions run under (outside
    /// every workspace, on the store's filesystem).
    pub fn tools_dir(&self) -> PathBuf {
        self.layout.tools_dir()
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.layout.tmp_dir()
    }

    /// Held by every operation that writes, so an in-process GC waits for it.
    pub(crate) fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the store exclusively: upgrades this handle's `flock` and shuts
    /// out this process's other threads. Dropping the guard returns to shared.
    pub(crate) fn exclusive(&self, wait: bool) -> Result<Exclusive<'_>> {
        let guard = self.gate.write().unwrap_or_else(|e| e.into_inner());
        let path = self.layout.lock_path();
        if wait {
            self.lock.lock().at(&path)?;
        } else if !lock::try_exclusive(&self.lock, &path)? {
            // Linux drops the shared lock when a non-blocking upgrade fails.
            self.lock.lock_shared().at(&path)?;
            return Err(Error::Busy {
                root: self.root().to_path_buf(),
            });
        }
        Ok(Exclusive {
            store: self,
            _guard: guard,
        })
    }

    /// Whether the object is in the store.
    pub fn has_object(&self, d: &Digest) -> bool {
        self.object_path(d).is_file()
    }

    /// Where the object with digest `d` lives (whether or not it is present).
    pub fn object_path(&self, d: &Digest) -> PathBuf {
        self.layout.object_path(d)
    }

    /// The content of an object, checked against its digest.
    pub fn read_object(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.object_path(d);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::MissingObject { digest: *d, path });
            }
            Err(e) => return Err(e).at(&path),
        };
        let actual = Kind::Object.digest(&bytes);
        if actual != *d {
            return Err(Error::Corrupt {
                path,
                expected: *d,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Records a derivation; returns its id. Recording it again is a no-op.
    pub fn put_derivation(&self, drv: &Derivation) -> Result<Digest> {
        let _shared = self.shared();
        let id = drv.id();
        let path = self.layout.record_path(RecordKind::Derivation, &id);
        drv.validate().map_err(|reason| Error::BadRecord {
            path: path.clone(),
            reason,
        })?;
        if !path.is_file() {
            durable::write_file(
                &self.tmp_dir(),
                &path,
                drv.to_canonical().as_bytes(),
                RECORD_MODE,
            )?;
        }
        Ok(id)
    }

    /// The derivation with this id, if recorded; checked against its id.
    pub fn derivation(&self, id: &Digest) -> Result<Option<Derivation>> {
        let path = self.layout.record_path(RecordKind::Derivation, id);
        let Some(text) = read_record(&path)? else {
            return Ok(None);
        };
        parse_derivation(&path, id, &text).map(Some)
    }

    /// Records (or atomically replaces) the realisation `r`, under its key
    /// ([`Realisation::key`]), and puts its path set first among its
    /// derivation's. Every object it names must be in the store, except the
    /// objects of highly sensitive outputs, which may be withheld.
    pub fn put_realisation(&self, r: &Realisation) -> Result<()> {
        let _shared = self.shared();
        let path = self.layout.record_path(RecordKind::Realisation, &r.key());
        r.validate().map_err(|reason| Error::BadRecord {
            path: path.clone(),
            reason,
        })?;
        for (output, entry) in &r.outputs.files {
            if !entry.is_highly_sensitive() && !self.has_object(&entry.object) {
                return Err(Error::DanglingReference {
                    derivation: r.derivation,
                    output: output.clone(),
                    object: entry.object,
                });
            }
        }
        if let Some(log) = r.log
            && !self.has_object(&log)
        {
            return Err(Error::DanglingReference {
                derivation: r.derivation,
                output: "(log)".into(),
                object: log,
            });
        }
        // The objects were flushed before their renames; this barrier makes
        // the renames durable before the record that names them can be.
        durable::sync_filesystem(&self.tmp_dir())?;
        durable::write_file(
            &self.tmp_dir(),
            &path,
            r.to_canonical().as_bytes(),
            RECORD_MODE,
        )?;
        self.add_path_set(&r.derivation, r.observations.path_set())
    }

    /// The path sets recorded for derivation `drv`, most recent first.
    pub fn path_sets(&self, drv: &Digest) -> Result<Vec<PathSet>> {
        Ok(self
            .path_sets_record(drv)?
            .map(|p| p.sets)
            .unwrap_or_default())
    }

    pub(crate) fn path_sets_record(&self, drv: &Digest) -> Result<Option<PathSets>> {
        let path = self.layout.record_path(RecordKind::PathSets, drv);
        let Some(text) = read_record(&path)? else {
            return Ok(None);
        };
        parse_path_sets(&path, drv, &text).map(Some)
    }

    /// Puts `set` first among derivation `drv`'s path sets. Two writers at
    /// once may lose one's update: that loses a cache hit, never correctness.
    pub fn add_path_set(&self, drv: &Digest, set: PathSet) -> Result<()> {
        let mut record = match self.path_sets_record(drv) {
            Ok(Some(r)) => r,
            // An unreadable record is replaced: it only speeds up lookups.
            Ok(None) | Err(_) => PathSets {
                format: PATH_SETS_FORMAT,
                derivation: *drv,
                sets: Vec::new(),
            },
        };
        if record.promote(set) {
            self.write_path_sets(&record)?;
        }
        Ok(())
    }

    /// Merges path sets from elsewhere (an archive, a remote) into the
    /// derivation's, the local ones first.
    pub fn merge_path_sets(&self, other: &PathSets) -> Result<()> {
        let mut record = self
            .path_sets_record(&other.derivation)
            .ok()
            .flatten()
            .unwrap_or(PathSets {
                format: PATH_SETS_FORMAT,
                derivation: other.derivation,
                sets: Vec::new(),
            });
        let before = record.clone();
        record.merge(other);
        if record != before {
            self.write_path_sets(&record)?;
        }
        Ok(())
    }

    fn write_path_sets(&self, record: &PathSets) -> Result<()> {
        let path = self
            .layout
            .record_path(RecordKind::PathSets, &record.derivation);
        record.validate().map_err(|reason| Error::BadRecord {
            path: path.clone(),
            reason,
        })?;
        durable::write_file(
            &self.tmp_dir(),
            &path,
            to_canonical(record).as_bytes(),
            RECORD_MODE,
        )
    }

    /// The realisation filed under key `id`, if recorded. Reading it marks
    /// it as recently used, which GC's age limit respects.
    pub fn realisation(&self, id: &Digest) -> Result<Option<Realisation>> {
        let r = self.realisation_untouched(id)?;
        if r.is_some() {
            touch(&self.layout.record_path(RecordKind::Realisation, id));
        }
        Ok(r)
    }

    /// Whether a realisation is filed under key `id`, without reading it.
    pub fn has_realisation(&self, id: &Digest) -> bool {
        self.layout
            .record_path(RecordKind::Realisation, id)
            .is_file()
    }

    pub(crate) fn realisation_untouched(&self, id: &Digest) -> Result<Option<Realisation>> {
        let path = self.layout.record_path(RecordKind::Realisation, id);
        let Some(text) = read_record(&path)? else {
            return Ok(None);
        };
        parse_realisation(&path, id, &text).map(Some)
    }

    /// Blocks until this process holds derivation `id`'s build lock.
    pub fn build_lock(&self, id: &Digest) -> Result<BuildLock> {
        BuildLock::acquire(&self.layout.build_lock_path(id), *id)
    }

    /// Takes derivation `id`'s build lock if no one holds it.
    pub fn try_build_lock(&self, id: &Digest) -> Result<Option<BuildLock>> {
        BuildLock::try_acquire(&self.layout.build_lock_path(id), *id)
    }

    /// A fresh directory under `tmp/`, on the same filesystem as the objects,
    /// removed when the returned value is dropped (unless kept with `keep()`).
    pub fn scratch_dir(&self, prefix: &str) -> Result<tempfile::TempDir> {
        let tmp = self.tmp_dir();
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&tmp)
            .at(&tmp)
    }
}

/// The store held exclusively; returns to shared when dropped.
pub(crate) struct Exclusive<'a> {
    store: &'a Store,
    _guard: RwLockWriteGuard<'a, ()>,
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        let _ = self.store.lock.lock_shared();
    }
}

/// Reads a record file; `None` if absent. Refuses absurdly large files.
pub(crate) fn read_record(path: &Path) -> Result<Option<String>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at(path),
    };
    let mut text = String::new();
    let n = file
        .take(MAX_RECORD_SIZE + 1)
        .read_to_string(&mut text)
        .map_err(|e| Error::BadRecord {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if n as u64 > MAX_RECORD_SIZE {
        return Err(Error::BadRecord {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_RECORD_SIZE} bytes"),
        });
    }
    Ok(Some(text))
}

/// Parses a derivation and checks that it hashes to `id`.
pub(crate) fn parse_derivation(path: &Path, id: &Digest, text: &str) -> Result<Derivation> {
    let bad = |reason: String| Error::BadRecord {
        path: path.to_path_buf(),
        reason,
    };
    let drv: Derivation = from_toml(text).map_err(|e| bad(e.to_string()))?;
    drv.validate().map_err(bad)?;
    let actual = drv.id();
    if actual != *id {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            expected: *id,
            actual,
        });
    }
    Ok(drv)
}

/// Parses a realisation and checks that its key is `key`.
pub(crate) fn parse_realisation(path: &Path, key: &Digest, text: &str) -> Result<Realisation> {
    let bad = |reason: String| Error::BadRecord {
        path: path.to_path_buf(),
        reason,
    };
    let r: Realisation = from_toml(text).map_err(|e| bad(e.to_string()))?;
    r.validate().map_err(bad)?;
    let actual = r.key();
    if actual != *key {
        return Err(bad(format!("has key {actual} but is filed under {key}")));
    }
    Ok(r)
}

/// Parses a derivation's path sets and checks whose they are.
pub(crate) fn parse_path_sets(path: &Path, drv: &Digest, text: &str) -> Result<PathSets> {
    let bad = |reason: String| Error::BadRecord {
        path: path.to_path_buf(),
        reason,
    };
    let p: PathSets = from_toml(text).map_err(|e| bad(e.to_string()))?;
    p.validate().map_err(bad)?;
    if p.derivation != *drv {
        return Err(bad(format!(
            "path sets of {} filed under {drv}",
            p.derivation
        )));
    }
    Ok(p)
}

/// Marks a record as used now, unless it was recently. Best effort: a
/// failure only makes GC's age limit see an older time.
fn touch(path: &Path) {
    let Ok(file) = File::open(path) else { return };
    let now = SystemTime::now();
    let recent = file
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| now.duration_since(t).unwrap_or_default() < TOUCH_AFTER);
    if !recent {
        let _ = file.set_modified(now);
    }
}
