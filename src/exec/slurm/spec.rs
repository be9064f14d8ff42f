//! What passes between the submitting cairn and the job on the node: the
//! job description (`job.json`) and the outcome (`outcome.json`), both
//! next to the workspace on the shared directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;

/// The job description's file name, in the job's scratch directory.
pub const JOB_FILE: &str = "job.json";
/// The outcome's file name, written by the node when the action ended.
pub const OUTCOME_FILE: &str = "outcome.json";
/// Written by the node just before the action starts.
pub const STARTED_FILE: &str = "started";

/// How the node runs the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeExecutor {
    Local,
    Docker,
}

/// Everything the node needs to run one action as the node executor would.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobSpec {
    pub action: String,
    pub image: String,
    pub tag: String,
    pub argv: Vec<String>,
    pub workspace: PathBuf,
    pub scratch: PathBuf,
    pub log: PathBuf,
    pub env: BTreeMap<String, String>,
    pub node_executor: NodeExecutor,
    /// The identity the derivation names, computed on the submitting host.
    pub identity: String,
    /// The host that computed `identity`.
    pub submitted_from: String,
    /// `[images]` of `cairn.toml`: how the node resolves the program.
    pub images: BTreeMap<String, ImageConfig>,
    /// Directories the sandbox hides (the project, the store), where the
    /// node has them.
    pub hidden: Vec<PathBuf>,
    /// Where the tracer writes the trace, when the submitting cairn traces
    /// actions (it reads the trace from there when the job has ended).
    pub trace_dir: Option<PathBuf>,
    /// The tracer the submitting cairn installed, which the node uses when
    /// it sees it (a store on shared storage).
    pub tracer: Option<PathBuf>,
    /// `--cpus` and `--memory` for a docker node executor.
    pub docker_cpus: f64,
    pub docker_memory: String,
}

/// How the action ended on the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeOutcome {
    pub exit_code: i32,
    pub message: Option<String>,
    /// The node it ran on.
    pub node: String,
}

/// Writes `value` as JSON to `path` atomically (temp file, then rename), so a
/// reader on another machine never sees half of it.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(value)?;
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("reading {}", path.display()))
}
