//! GC roots: named sets of derivation ids that GC keeps, typically one per
//! project (its current realisations). A root that records its project's
//! path is dropped by GC once that directory no longer exists.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::durable;
use crate::error::{Error, IoContext, Result};
use crate::record::{from_toml, to_canonical};
use crate::store::{RECORD_MODE, Store, read_record};

/// The format version of root files.
pub const ROOT_FORMAT: u32 = 1;

/// A GC root as recorded in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    pub format: u32,
    pub name: String,
    /// The project directory this root belongs to, if one was given.
    pub project: Option<PathBuf>,
    /// Realisation keys kept by this root, sorted.
    pub ids: Vec<Digest>,
    /// Unix seconds of the last update.
    pub updated_at: i64,
}

impl Root {
    /// Whether the project this root belongs to is gone.
    pub fn is_dead(&self) -> bool {
        self.project.as_ref().is_some_and(|p| !p.is_dir())
    }
}

impl Store {
    /// Sets (replaces) the GC root `name` to keep `ids`.
    pub fn set_root(&self, name: &str, ids: &[Digest]) -> Result<()> {
        self.write_root(name, None, ids)
    }

    /// Sets the GC root of the project at `project` to keep `ids`, and
    /// records the project's path so GC drops the root once the project is
    /// gone. Returns the root's name (derived from the absolute path).
    pub fn set_project_root(&self, project: &Path, ids: &[Digest]) -> Result<String> {
        let (abs, name) = project_root_name(project)?;
        self.write_root(&name, Some(abs), ids)?;
        Ok(name)
    }

    /// Sets the GC root of a build of the project at `project` from the tree
    /// of `commit` (`cairn run --commit`), beside the project's own root,
    /// which it never replaces. Only the `keep` most recently updated commit
    /// roots of a project are kept: older ones are removed, so their
    /// realisations become collectable. Returns the root's name.
    pub fn set_commit_root(
        &self,
        project: &Path,
        commit: &str,
        ids: &[Digest],
        keep: usize,
    ) -> Result<String> {
        let (abs, base) = project_root_name(project)?;
        let short: String = commit
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        let name = format!("{base}-commit-{short}");
        self.write_root(&name, Some(abs), ids)?;
        let prefix = format!("{base}-commit-");
        let mut commits: Vec<Root> = self
            .roots()?
            .into_iter()
            .filter(|r| r.name.starts_with(&prefix))
            .collect();
        // Newest first; the root just written is always kept.
        commits.sort_by_key(|r| (r.name != name, std::cmp::Reverse(r.updated_at)));
        for old in commits.iter().skip(keep.max(1)) {
            self.remove_root(&old.name)?;
        }
        Ok(name)
    }

    /// Removes the GC root `name`; returns whether it existed.
    pub fn remove_root(&self, name: &str) -> Result<bool> {
        let path = self.layout.root_path(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).at(&path),
        }
    }

    /// Every GC root, by name.
    pub fn roots(&self) -> Result<Vec<Root>> {
        let mut out = Vec::new();
        for (name, path) in self.layout.list_roots()? {
            let Some(text) = read_record(&path)? else {
                continue;
            };
            let root: Root = from_toml(&text).map_err(|e| Error::BadRecord {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if root.name != name {
                return Err(Error::BadRecord {
                    path,
                    reason: format!("root {:?} filed under {name:?}", root.name),
                });
            }
            out.push(root);
        }
        Ok(out)
    }

    fn write_root(&self, name: &str, project: Option<PathBuf>, ids: &[Digest]) -> Result<()> {
        let _shared = self.shared();
        let path = self.layout.root_path(name)?;
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let root = Root {
            format: ROOT_FORMAT,
            name: name.to_string(),
            project,
            ids,
            updated_at: unix_now(),
        };
        durable::write_file(
            &self.tmp_dir(),
            &path,
            to_canonical(&root).as_bytes(),
            RECORD_MODE,
        )
    }
}

/// A project's absolute path and the name of its root (derived from the path).
fn project_root_name(project: &Path) -> Result<(PathBuf, String)> {
    let abs = std::path::absolute(project).at(project)?;
    let mut h = blake3::Hasher::new_derive_key("cairn project root v1");
    h.update(abs.as_os_str().as_encoded_bytes());
    let name = format!("project-{}", &h.finalize().to_hex()[..32]);
    Ok((abs, name))
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
