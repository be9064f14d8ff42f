//! What cairn last did in this project: `.cairn/state.json`.
//!
//! It records, for each action, the derivation whose outputs are in the
//! project, and for each materialised output file the object written and the
//! stat data it had right after, so later runs can tell (without reading
//! content) whether the user edited or deleted it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cairn_store::Digest;
use serde::{Deserialize, Serialize};

use crate::statcache::Stamp;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProjectState {
    #[serde(default)]
    pub actions: BTreeMap<String, ActionState>,
    #[serde(default)]
    pub files: BTreeMap<String, FileState>,
    /// Actions whose last attempt failed (cleared when they next succeed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, FailureState>,
    /// What was loaded: an unchanged state is not rewritten (comparing is
    /// much cheaper than serializing thousands of files to compare bytes).
    #[serde(skip)]
    loaded: Option<Loaded>,
}

#[derive(Debug, Default)]
struct Loaded {
    actions: BTreeMap<String, ActionState>,
    files: BTreeMap<String, FileState>,
    failures: BTreeMap<String, FailureState>,
}

/// The realisation whose outputs an action has in the project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionState {
    pub derivation: Digest,
    /// The realisation's key (derivation and observation set).
    #[serde(default)]
    pub key: Option<Digest>,
    /// The digest of that realisation's output manifest.
    #[serde(default)]
    pub manifest: Option<Digest>,
    /// The paths the action looked at, so a later run can value them
    /// against the sources and prove the realisation current without
    /// reading the store.
    #[serde(default)]
    pub observed: Option<cairn_store::PathSet>,
}

/// The last failed attempt of an action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureState {
    /// When it failed (seconds since the epoch).
    pub at: i64,
    pub message: String,
    /// The scratch workspace kept for inspection: only the latest failure's
    /// is kept, an earlier one is removed when a new one is recorded.
    #[serde(default)]
    pub workspace: Option<PathBuf>,
}

/// A materialised output file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileState {
    pub action: String,
    pub object: Digest,
    /// Permission bits and privacy level, as in the realisation.
    #[serde(default = "default_mode")]
    pub mode: u32,
    #[serde(default)]
    pub level: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    /// When the stat data was taken (for the racy-timestamp rule).
    pub recorded_at_ns: i64,
}

fn default_mode() -> u32 {
    0o644
}

impl FileState {
    /// The realisation's entry this file was written from.
    pub fn entry(&self) -> cairn_store::OutputEntry {
        cairn_store::OutputEntry {
            object: self.object,
            size: self.size,
            mode: self.mode,
            level: self.level.clone(),
        }
    }

    /// Whether `stamp` proves the file still holds `object` without reading it.
    pub fn proves(&self, stamp: &Stamp) -> bool {
        stamp.size == self.size
            && stamp.mtime_ns == self.mtime_ns
            && stamp.ctime_ns == self.ctime_ns
            && stamp.ino == self.ino
            && stamp.settled(self.recorded_at_ns)
    }
}

impl ProjectState {
    pub fn path(project_dir: &Path) -> PathBuf {
        project_dir.join(".cairn").join("state.json")
    }

    /// Loads the state; a missing file is an empty state. A corrupt one is
    /// also treated as empty (everything will be re-checked), with a warning.
    pub fn load(project_dir: &Path) -> ProjectState {
        let path = Self::path(project_dir);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<ProjectState>(&bytes) {
                Ok(mut state) => {
                    state.loaded = Some(Loaded {
                        actions: state.actions.clone(),
                        files: state.files.clone(),
                        failures: state.failures.clone(),
                    });
                    state
                }
                Err(e) => {
                    eprintln!(
                        "warning: ignoring unreadable {} ({e}); outputs will be re-checked",
                        path.display()
                    );
                    ProjectState::default()
                }
            },
            Err(_) => ProjectState::default(),
        }
    }

    /// Writes the state atomically, if it changed.
    pub fn save(&self, project_dir: &Path) -> Result<()> {
        if self.loaded.as_ref().is_some_and(|l| {
            l.actions == self.actions && l.files == self.files && l.failures == self.failures
        }) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(self)?;
        let path = Self::path(project_dir);
        let dir = path.parent().expect("state file has a parent");
        std::fs::create_dir_all(dir)?;
        ensure_gitignore(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// `.cairn/` holds only caches and state of this machine: keep it out of git.
fn ensure_gitignore(dir: &Path) -> Result<()> {
    let gi = dir.join(".gitignore");
    if !gi.exists() {
        std::fs::write(&gi, "*\n")?;
    }
    Ok(())
}
