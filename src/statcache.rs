//! A cache of file digests keyed by stat data, so an unchanged project is
//! checked without reading any file content.
//!
//! Racy timestamps: a file written in the same clock tick as the moment its
//! digest was taken could change again without its stat data changing. As in
//! git, such entries are not trusted: an entry is only reused if the file's
//! mtime is at least [`RACY_MARGIN_NS`] older than the moment it was hashed.
//! Racy entries are simply hashed again on the next run.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use cairn_store::{Digest, Kind};
use rayon::prelude::*;

/// Files modified less than this long before they were hashed are re-hashed
/// next time. Two seconds covers the coarsest common filesystem clocks.
pub const RACY_MARGIN_NS: i64 = 2_000_000_000;

/// The stat data that stands for a file's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub mode: u32,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            ino: meta.ino(),
            mode: meta.mode(),
        }
    }

    /// Whether a digest taken at `hashed_at_ns` can stand for this content later.
    pub fn settled(&self, hashed_at_ns: i64) -> bool {
        self.mtime_ns.max(self.ctime_ns) + RACY_MARGIN_NS <= hashed_at_ns
    }

    pub fn executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    stamp: Stamp,
    digest: Digest,
}

/// Digests of files under one root, persisted in `.cairn/statcache`.
pub struct StatCache {
    file: PathBuf,
    entries: HashMap<String, Entry>,
    changed: bool,
    /// How many files had to be read (their stat data proved nothing).
    pub hashed: usize,
}

/// A file's content digest and the stat data it was taken with.
#[derive(Clone, Copy, Debug)]
pub struct Hashed {
    pub digest: Digest,
    pub stamp: Stamp,
}

impl StatCache {
    /// Loads the cache at `file`; a missing or unreadable cache is empty.
    pub fn load(file: &Path) -> StatCache {
        let entries = std::fs::read(file)
            .ok()
            .map(|b| parse(&b))
            .unwrap_or_default();
        StatCache {
            file: file.to_path_buf(),
            entries,
            changed: false,
            hashed: 0,
        }
    }

    /// An empty cache that is never saved.
    pub fn in_memory() -> StatCache {
        StatCache {
            file: PathBuf::new(),
            entries: HashMap::new(),
            changed: false,
            hashed: 0,
        }
    }

    /// The digest of each `root/path`, from the cache where stat data matches,
    /// else by reading the file (in parallel). Order follows `paths`.
    pub fn digests(&mut self, root: &Path, paths: &[String]) -> Result<Vec<Hashed>> {
        self.digests_with_clock(root, paths, now_ns)
    }

    /// [`StatCache::digests`] with the clock that decides what is settled.
    fn digests_with_clock(
        &mut self,
        root: &Path,
        paths: &[String],
        clock: fn() -> i64,
    ) -> Result<Vec<Hashed>> {
        let results: Vec<Result<(Hashed, Option<bool>)>> = paths
            .par_iter()
            .map(|p| {
                let full = root.join(p);
                let meta = std::fs::metadata(&full)
                    .with_context(|| format!("reading {}", full.display()))?;
                let stamp = Stamp::of(&meta);
                if let Some(e) = self.entries.get(p)
                    && e.stamp == stamp
                {
                    return Ok((
                        Hashed {
                            digest: e.digest,
                            stamp,
                        },
                        None,
                    ));
                }
                let hashed_at = clock();
                let digest = hash_file(&full)?;
                Ok((Hashed { digest, stamp }, Some(stamp.settled(hashed_at))))
            })
            .collect();
        let mut out = Vec::with_capacity(paths.len());
        for (p, r) in paths.iter().zip(results) {
            let (h, read) = r?;
            self.hashed += usize::from(read.is_some());
            if read == Some(true) {
                self.entries.insert(
                    p.clone(),
                    Entry {
                        stamp: h.stamp,
                        digest: h.digest,
                    },
                );
                self.changed = true;
            } else if read.is_some() && self.entries.get(p).is_some_and(|e| e.stamp != h.stamp) {
                self.entries.remove(p);
                self.changed = true;
            }
            out.push(h);
        }
        Ok(out)
    }

    /// Forgets entries for paths not in `keep` (deleted files).
    pub fn retain(&mut self, keep: &std::collections::HashSet<&str>) {
        let before = self.entries.len();
        self.entries.retain(|k, _| keep.contains(k.as_str()));
        self.changed |= self.entries.len() != before;
    }

    /// Writes the cache back if it changed (atomically; errors are not fatal
    /// to a run, so they are returned for the caller to report).
    pub fn save(&mut self) -> Result<()> {
        if !self.changed || self.file.as_os_str().is_empty() {
            return Ok(());
        }
        let dir = self.file.parent().expect("cache file has a parent");
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        let mut buf = Vec::with_capacity(self.entries.len() * 128);
        let mut keys: Vec<_> = self.entries.keys().collect();
        keys.sort();
        for k in keys {
            let e = &self.entries[k];
            let s = e.stamp;
            writeln!(
                buf,
                "{} {} {} {} {} {} {}",
                s.size,
                s.mtime_ns,
                s.ctime_ns,
                s.ino,
                s.mode,
                e.digest.to_hex(),
                escape(k)
            )?;
        }
        tmp.write_all(&buf)?;
        tmp.persist(&self.file)?;
        self.changed = false;
        Ok(())
    }
}

/// BLAKE3 (object context) of a file's content, read once.
pub fn hash_file(path: &Path) -> Result<Digest> {
    let mut h = Kind::Object.hasher();
    let f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    h.update_reader(f)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(h.finalize().into())
}

fn escape(p: &str) -> String {
    p.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse(bytes: &[u8]) -> HashMap<String, Entry> {
    let text = String::from_utf8_lossy(bytes);
    let mut map = HashMap::new();
    for line in text.lines() {
        let mut it = line.splitn(7, ' ');
        let mut num = || it.next().and_then(|s| s.parse::<i64>().ok());
        let (Some(size), Some(mtime_ns), Some(ctime_ns), Some(ino), Some(mode)) =
            (num(), num(), num(), num(), num())
        else {
            continue;
        };
        let (Some(digest), Some(path)) = (it.next().and_then(Digest::from_hex), it.next()) else {
            continue;
        };
        map.insert(
            unescape(path),
            Entry {
                stamp: Stamp {
                    size: size as u64,
                    mtime_ns,
                    ctime_ns,
                    ino: ino as u64,
                    mode: mode as u32,
                },
                digest,
            },
        );
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock a minute ahead: every file written by the test looks settled.
    fn later() -> i64 {
        now_ns() + 60 * 1_000_000_000
    }

    #[test]
    fn settled_files_are_cached_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "one").unwrap();
        let cache_file = dir.path().join(".cairn/statcache");
        let mut c = StatCache::load(&cache_file);
        let first = c
            .digests_with_clock(dir.path(), &["a".into()], later)
            .unwrap()[0]
            .digest;
        c.save().unwrap();
        let c2 = StatCache::load(&cache_file);
        assert_eq!(c2.entries["a"].digest, first);
    }

    #[test]
    fn a_changed_file_is_rehashed() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "one").unwrap();
        let mut c = StatCache::in_memory();
        let d1 = c
            .digests_with_clock(dir.path(), &["a".into()], later)
            .unwrap()[0]
            .digest;
        std::fs::write(&a, "two!").unwrap();
        let d2 = c
            .digests_with_clock(dir.path(), &["a".into()], later)
            .unwrap()[0]
            .digest;
        assert_ne!(d1, d2);
    }

    #[test]
    fn racy_entries_are_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "fresh").unwrap();
        let mut c = StatCache::in_memory();
        c.digests(dir.path(), &["a".into()]).unwrap();
        assert!(
            c.entries.is_empty(),
            "a just-written file must not be trusted"
        );
    }

    #[test]
    fn paths_with_spaces_and_newlines_round_trip() {
        let p = "dir/a b\nc\\d";
        assert_eq!(unescape(&escape(p)), p);
    }
}
