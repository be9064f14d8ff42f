//! `.cairn/request.json`: what the last `cairn run` was asked, for the
//! report's "requested actions" and "force run dependencies".

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The last run's request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Request {
    pub actions: Vec<String>,
    pub force_run_dependencies: bool,
    #[serde(default)]
    pub force: bool,
    /// `--commit`, resolved, when the run built a commit's tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// When it was asked (ISO 8601).
    pub requested_at: String,
}

impl Request {
    fn path(project_dir: &Path) -> PathBuf {
        project_dir.join(".cairn").join("request.json")
    }

    pub fn load(project_dir: &Path) -> Option<Request> {
        let bytes = std::fs::read(Self::path(project_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Saves the request of a run that is starting.
    pub fn record(
        project_dir: &Path,
        actions: &[String],
        force_run_dependencies: bool,
        force: bool,
        commit: Option<String>,
    ) -> Result<()> {
        let request = Request {
            actions: actions.to_vec(),
            force_run_dependencies,
            force,
            commit,
            requested_at: crate::timestamp::iso8601(crate::run::build::unix_now()),
        };
        let path = Self::path(project_dir);
        std::fs::create_dir_all(path.parent().expect("in .cairn"))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&request)?)?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }
}
