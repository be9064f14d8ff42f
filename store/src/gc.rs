//! `gc`: mark what the roots reach, plus recently used realisations within
//! the age and size limits, and sweep the rest. Runs with the store held
//! exclusively, so no build can be between writing its objects and its
//! realisation while objects are swept.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::digest::Digest;
use crate::durable;
use crate::error::Result;
use crate::layout::RecordKind;
use crate::lock;
use crate::store::{Store, parse_realisation, read_record};

/// Entries of `tmp/` older than this are leftovers (kept failed workspaces,
/// scratch of a killed process) and are removed.
pub const TMP_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// What GC keeps besides the roots.
#[derive(Clone, Debug, Default)]
pub struct GcOptions {
    /// Also keep unrooted realisations used within this age (by their last
    /// use; an unrealised derivation by its recording time).
    pub max_age: Option<Duration>,
    /// Keep unrooted derivations, most recently used first, only while the
    /// objects kept stay under this many bytes. Roots are always kept.
    /// Without `max_age`, every unrooted derivation is a candidate.
    pub max_size: Option<u64>,
    /// Report what would be removed; remove nothing.
    pub dry_run: bool,
    /// Wait for other processes to close the store instead of failing with `Error::Busy`.
    pub wait: bool,
}

/// What GC did (or, with `dry_run`, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub dry_run: bool,
    /// Live roots, and the names of roots dropped because their project is gone.
    pub roots: u64,
    pub dead_roots: Vec<String>,
    pub kept_derivations: u64,
    pub removed_derivations: u64,
    pub removed_realisations: u64,
    pub kept_objects: u64,
    pub kept_bytes: u64,
    pub removed_objects: u64,
    /// Bytes of objects and records removed.
    pub freed_bytes: u64,
    /// Leftover entries removed from `tmp/` and unused build lock files.
    pub removed_tmp: u64,
}

/// What the mark phase keeps.
#[derive(Default)]
struct Mark {
    /// Realisation keys (and ids of unrealised derivations).
    ids: HashSet<Digest>,
    derivations: HashSet<Digest>,
    objects: HashSet<Digest>,
    bytes: u64,
}

impl Mark {
    fn keep(&mut self, c: &Candidate, sizes: &HashMap<Digest, u64>) {
        self.ids.insert(c.id);
        self.derivations.extend(c.derivation);
        for o in &c.objects {
            if self.objects.insert(*o) {
                self.bytes += sizes.get(o).copied().unwrap_or(0);
            }
        }
    }

    /// Bytes that keeping `c` would add.
    fn extra(&self, c: &Candidate, sizes: &HashMap<Digest, u64>) -> u64 {
        let new: HashSet<&Digest> = c
            .objects
            .iter()
            .filter(|o| !self.objects.contains(o))
            .collect();
        new.into_iter()
            .map(|o| sizes.get(o).copied().unwrap_or(0))
            .sum()
    }
}

struct Candidate {
    id: Digest,
    derivation: Option<Digest>,
    last_used: SystemTime,
    objects: Vec<Digest>,
}

impl Store {
    /// Removes what no root reaches and the limits do not keep.
    pub fn gc(&self, opts: &GcOptions) -> Result<GcReport> {
        let _exclusive = self.exclusive(opts.wait)?;
        let mut report = GcReport {
            dry_run: opts.dry_run,
            ..GcReport::default()
        };

        let mut rooted = HashSet::new();
        for root in self.roots()? {
            if root.is_dead() {
                if !opts.dry_run {
                    self.remove_root(&root.name)?;
                }
                report.dead_roots.push(root.name);
            } else {
                report.roots += 1;
                rooted.extend(root.ids);
            }
        }

        let drvs = self.layout.list_records(RecordKind::Derivation)?;
        let reals = self.layout.list_records(RecordKind::Realisation)?;
        let path_sets = self.layout.list_records(RecordKind::PathSets)?;
        // One candidate per realisation (by key), keeping its derivation, the
        // derivation's path sets and its objects; a derivation with no
        // realisation is a candidate of its own, with nothing else to keep.
        let mut candidates: HashMap<Digest, Candidate> = HashMap::new();
        let mut realised: HashSet<Digest> = HashSet::new();
        for (key, path) in &reals.found {
            let mut c = Candidate {
                id: *key,
                derivation: None,
                last_used: mtime(path),
                objects: Vec::new(),
            };
            // An unreadable realisation marks nothing; verify reports it.
            if let Ok(Some(text)) = read_record(path)
                && let Ok(r) = parse_realisation(path, key, &text)
            {
                c.derivation = Some(r.derivation);
                c.objects = r.outputs.files.values().map(|e| e.object).collect();
                c.objects.extend(r.log);
                realised.insert(r.derivation);
            }
            candidates.insert(*key, c);
        }
        for (id, path) in &drvs.found {
            if !realised.contains(id) {
                candidates.insert(
                    *id,
                    Candidate {
                        id: *id,
                        derivation: Some(*id),
                        last_used: mtime(path),
                        objects: Vec::new(),
                    },
                );
            }
        }

        let objects = self.layout.list_objects()?;
        let sizes: HashMap<Digest, u64> = objects
            .found
            .iter()
            .map(|(d, p)| (*d, p.symlink_metadata().map(|m| m.len()).unwrap_or(0)))
            .collect();

        let mut mark = Mark::default();
        let mut rest: Vec<&Candidate> = Vec::new();
        for c in candidates.values() {
            if rooted.contains(&c.id) {
                mark.keep(c, &sizes);
            } else {
                rest.push(c);
            }
        }
        if opts.max_age.is_some() || opts.max_size.is_some() {
            let now = SystemTime::now();
            rest.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.id.cmp(&b.id)));
            for c in rest {
                let age = now.duration_since(c.last_used).unwrap_or_default();
                if opts.max_age.is_some_and(|max| age > max) {
                    break;
                }
                // Least recently used go first: stop at the first that does not fit.
                if opts
                    .max_size
                    .is_some_and(|max| mark.bytes + mark.extra(c, &sizes) > max)
                {
                    break;
                }
                mark.keep(c, &sizes);
            }
        }
        let Mark {
            ids: keep_ids,
            derivations: keep_drvs,
            objects: keep_objects,
            bytes,
        } = mark;
        report.kept_derivations = keep_drvs.len() as u64;
        report.kept_bytes = bytes;

        let mut doomed: Vec<PathBuf> = Vec::new();
        for (key, path) in &reals.found {
            if !keep_ids.contains(key) {
                report.removed_realisations += 1;
                report.freed_bytes += size_of(path);
                doomed.push(path.clone());
            }
        }
        for (id, path) in &path_sets.found {
            if !keep_drvs.contains(id) {
                report.freed_bytes += size_of(path);
                doomed.push(path.clone());
            }
        }
        for (id, path) in &drvs.found {
            if !keep_drvs.contains(id) {
                report.removed_derivations += 1;
                report.freed_bytes += size_of(path);
                doomed.push(path.clone());
            }
        }
        // Records of earlier formats are never read again.
        doomed.extend(self.layout.obsolete_dirs());
        for (d, path) in &objects.found {
            if keep_objects.contains(d) {
                report.kept_objects += 1;
            } else {
                report.removed_objects += 1;
                report.freed_bytes += sizes[d];
                doomed.push(path.clone());
            }
        }
        // Realisations, then derivations, then objects: a crash mid-sweep
        // leaves no record naming something removed.
        if !opts.dry_run {
            for path in &doomed {
                durable::remove_any(path)?;
            }
        }
        report.removed_tmp = self.sweep_tmp(opts.dry_run)?;
        Ok(report)
    }

    /// Removes staging leftovers and old scratch directories from `tmp/`,
    /// and build lock files no one holds.
    fn sweep_tmp(&self, dry_run: bool) -> Result<u64> {
        let now = SystemTime::now();
        let mut removed = 0;
        for path in self.layout.list_tmp()? {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            // Staging files only exist inside an operation that holds the
            // gate, which the exclusive lock shuts out: these are leftovers.
            let staging = [".obj-", ".rec-", ".layout-", ".import-"]
                .iter()
                .any(|p| name.starts_with(p));
            let old = now.duration_since(mtime(&path)).unwrap_or_default() > TMP_MAX_AGE;
            if staging || old {
                removed += 1;
                if !dry_run {
                    durable::remove_any(&path)?;
                }
            }
        }
        for path in self.layout.list_build_locks()? {
            let Ok(file) = lock::open_lock_file(&path) else {
                continue;
            };
            if lock::try_exclusive(&file, &path)? {
                removed += 1;
                if !dry_run {
                    durable::remove_any(&path)?;
                }
            }
        }
        Ok(removed)
    }
}

fn mtime(path: &std::path::Path) -> SystemTime {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn size_of(path: &std::path::Path) -> u64 {
    fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0)
}
