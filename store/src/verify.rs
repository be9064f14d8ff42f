//! `verify`: rehash every object, check every record and every reference,
//! and optionally move what is corrupt into `quarantine/`.
//!
//! A highly sensitive output whose object is absent is *withheld* (it was
//! imported from an archive that left it out), not corrupt.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

use rayon::prelude::*;

use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::layout::RecordKind;
use crate::object;
use crate::store::{Store, parse_derivation, parse_path_sets, parse_realisation, read_record};

/// What `verify` may do besides reporting.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Move corrupt objects, bad records, stray files, and realisations that
    /// can no longer be materialised into `quarantine/`. Takes the store
    /// exclusively, so it fails with `Error::Busy` while another process uses it.
    pub quarantine: bool,
}

/// What `verify` found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Objects rehashed, and their total size.
    pub objects: u64,
    pub object_bytes: u64,
    /// Records checked.
    pub derivations: u64,
    pub realisations: u64,
    /// Highly sensitive outputs whose content is not in this store.
    pub withheld: Vec<Withheld>,
    /// Everything wrong.
    pub problems: Vec<Problem>,
    /// Where quarantined files went (with `quarantine`).
    pub quarantined: Vec<PathBuf>,
}

impl VerifyReport {
    /// No problems (withheld content is not a problem).
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A highly sensitive output whose object is absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Withheld {
    pub derivation: Digest,
    pub output: String,
    pub object: Digest,
}

/// One thing wrong with the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// An object whose content does not hash to its name.
    CorruptObject {
        path: PathBuf,
        expected: Digest,
        actual: Digest,
    },
    /// A file that could not be read.
    Unreadable { path: PathBuf, reason: String },
    /// A file whose name has no meaning where it is.
    StrayFile { path: PathBuf },
    /// A record that does not parse, is not canonical, or is filed under the wrong id.
    BadRecord { path: PathBuf, reason: String },
    /// A realisation naming an object that is absent or corrupt.
    MissingObject {
        derivation: Digest,
        output: String,
        object: Digest,
    },
    /// A realisation whose derivation is not recorded.
    MissingDerivation { derivation: Digest },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::CorruptObject {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{}: corrupt object: expected {expected}, content hashes to {actual}",
                path.display()
            ),
            Problem::Unreadable { path, reason } => {
                write!(f, "{}: unreadable: {reason}", path.display())
            }
            Problem::StrayFile { path } => write!(f, "{}: stray file", path.display()),
            Problem::BadRecord { path, reason } => write!(f, "{}: {reason}", path.display()),
            Problem::MissingObject {
                derivation,
                output,
                object,
            } => write!(
                f,
                "realisation {derivation}: output {output:?} needs object {object}, \
                 which is missing or corrupt"
            ),
            Problem::MissingDerivation { derivation } => {
                write!(
                    f,
                    "realisation {derivation}: its derivation is not recorded"
                )
            }
        }
    }
}

impl Store {
    /// Checks the whole store.
    pub fn verify(&self, opts: &VerifyOptions) -> Result<VerifyReport> {
        let _exclusive = if opts.quarantine {
            Some(self.exclusive(false)?)
        } else {
            None
        };
        let mut report = VerifyReport::default();
        let mut to_quarantine: Vec<PathBuf> = Vec::new();

        let objects = self.layout.list_objects()?;
        let checked: Vec<(u64, Option<Problem>)> = objects
            .found
            .par_iter()
            .map(|(expected, path)| check_object(path, *expected))
            .collect();
        let mut bad_objects = HashSet::new();
        for ((digest, path), (size, problem)) in objects.found.iter().zip(checked) {
            report.objects += 1;
            report.object_bytes += size;
            if let Some(p) = problem {
                bad_objects.insert(*digest);
                to_quarantine.push(path.clone());
                report.problems.push(p);
            }
        }
        for path in objects.strays {
            to_quarantine.push(path.clone());
            report.problems.push(Problem::StrayFile { path });
        }

        let drvs = self.layout.list_records(RecordKind::Derivation)?;
        for (id, path) in &drvs.found {
            report.derivations += 1;
            let parsed = read_record(path)
                .and_then(|t| parse_derivation(path, id, t.as_deref().unwrap_or_default()));
            if let Err(e) = parsed {
                to_quarantine.push(path.clone());
                report.problems.push(Problem::BadRecord {
                    path: path.clone(),
                    reason: e.to_string(),
                });
            }
        }
        let reals = self.layout.list_records(RecordKind::Realisation)?;
        for (id, path) in &reals.found {
            report.realisations += 1;
            let r = match read_record(path)
                .and_then(|t| parse_realisation(path, id, t.as_deref().unwrap_or_default()))
            {
                Ok(r) => r,
                Err(e) => {
                    to_quarantine.push(path.clone());
                    report.problems.push(Problem::BadRecord {
                        path: path.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let before = report.problems.len();
            if !self
                .layout
                .record_path(RecordKind::Derivation, &r.derivation)
                .is_file()
            {
                report.problems.push(Problem::MissingDerivation {
                    derivation: r.derivation,
                });
            }
            let logs = r.log.iter().map(|d| ("(log)".to_string(), *d, false));
            let outputs = r
                .outputs
                .files
                .iter()
                .map(|(p, e)| (p.clone(), e.object, e.is_highly_sensitive()));
            for (output, object, sensitive) in outputs.chain(logs) {
                // Checked against the disk now, not the object scan, so a
                // realisation recorded during the scan is judged fairly.
                let present = !bad_objects.contains(&object) && self.has_object(&object);
                if present {
                    continue;
                }
                if sensitive && !bad_objects.contains(&object) {
                    report.withheld.push(Withheld {
                        derivation: *id,
                        output,
                        object,
                    });
                } else {
                    report.problems.push(Problem::MissingObject {
                        derivation: *id,
                        output,
                        object,
                    });
                }
            }
            if report.problems.len() > before {
                to_quarantine.push(path.clone());
            }
        }
        let path_sets = self.layout.list_records(RecordKind::PathSets)?;
        for (id, path) in &path_sets.found {
            let parsed = read_record(path)
                .and_then(|t| parse_path_sets(path, id, t.as_deref().unwrap_or_default()));
            if let Err(e) = parsed {
                to_quarantine.push(path.clone());
                report.problems.push(Problem::BadRecord {
                    path: path.clone(),
                    reason: e.to_string(),
                });
            }
        }
        for path in drvs
            .strays
            .into_iter()
            .chain(reals.strays)
            .chain(path_sets.strays)
        {
            to_quarantine.push(path.clone());
            report.problems.push(Problem::StrayFile { path });
        }

        if opts.quarantine {
            for path in to_quarantine {
                let dest = self.layout.quarantine_path(&path);
                std::fs::rename(&path, &dest).at(&path)?;
                report.quarantined.push(dest);
            }
        }
        Ok(report)
    }
}

fn check_object(path: &std::path::Path, expected: Digest) -> (u64, Option<Problem>) {
    let unreadable = |e: &dyn fmt::Display| Problem::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let meta = match path.symlink_metadata() {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            return (
                0,
                Some(Problem::StrayFile {
                    path: path.to_path_buf(),
                }),
            );
        }
        Err(e) => return (0, Some(unreadable(&e))),
    };
    match object::hash_path(path, meta.len()) {
        Ok(actual) if actual == expected => (meta.len(), None),
        Ok(actual) => (
            meta.len(),
            Some(Problem::CorruptObject {
                path: path.to_path_buf(),
                expected,
                actual,
            }),
        ),
        Err(e) => (meta.len(), Some(unreadable(&e))),
    }
}
