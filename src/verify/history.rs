//! `.cairn/verify.json`: the last verify result of each action, for
//! `cairn report`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{ActionResult, FileStatus};
use crate::session::Session;

/// The last verify result of each action.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub actions: BTreeMap<String, Verified>,
}

/// One action's last verify result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verified {
    /// `reproducible`, `differs` or `could not run`.
    pub status: String,
    /// The derivation's short id when it was verified.
    pub id: Option<String>,
    /// The recorded realisation it was compared with (short key).
    pub realisation: Option<String>,
    /// When (ISO 8601).
    pub verified_at: String,
    pub builds: usize,
    pub vary: bool,
    /// The commit verified with `--commit`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The outputs that differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differing: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl History {
    fn path(project_dir: &Path) -> PathBuf {
        project_dir.join(".cairn").join("verify.json")
    }

    /// The saved results (none when there are none, or they are unreadable).
    pub fn load(project_dir: &Path) -> History {
        std::fs::read(Self::path(project_dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Adds `results` to the saved ones.
    pub fn record(session: &Session, results: &[ActionResult], vary: bool) -> Result<()> {
        let dir = &session.project_dir;
        let mut history = Self::load(dir);
        let now = crate::timestamp::iso8601(crate::run::build::unix_now());
        let commit = session
            .from_commit
            .then(|| session.commit.clone())
            .flatten();
        for r in results {
            history.actions.insert(
                r.action.clone(),
                Verified {
                    status: r.status.as_str().to_string(),
                    id: r.id.clone(),
                    realisation: r.realisation.clone(),
                    verified_at: now.clone(),
                    builds: r.builds.len(),
                    vary,
                    commit: commit.clone(),
                    differing: r
                        .files
                        .iter()
                        .filter(|f| f.status != FileStatus::Same)
                        .map(|f| f.path.clone())
                        .collect(),
                    reason: r.reason.clone(),
                },
            );
        }
        let path = Self::path(dir);
        std::fs::create_dir_all(path.parent().expect("in .cairn"))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&history)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}
