//! Executors: how an action's command runs (on the host, or in Docker).

pub mod local;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

/// One run of one action.
pub struct Job<'a> {
    #[expect(dead_code, reason = "read by the docker executor")]
    pub action: &'a str,
    /// Image name and tag as written in `run:`.
    pub image: &'a str,
    #[expect(dead_code, reason = "read by the docker executor")]
    pub tag: &'a str,
    /// The expanded command; `argv[0]` is `image:tag`.
    pub argv: &'a [String],
    /// The scratch workspace (seen by the action as `/workspace` when sandboxed).
    pub workspace: &'a Path,
    /// A private writable directory outside the workspace (for HOME).
    pub scratch: &'a Path,
    /// The environment of the derivation.
    pub env: &'a BTreeMap<String, String>,
    /// Where the action's stdout and stderr go.
    pub log: &'a Path,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The exit code; 128+N when killed by signal N.
    pub exit_code: i32,
    /// A human explanation of an abnormal end (e.g. out of memory).
    pub message: Option<String>,
}

/// Something that can run actions. Implementations are shared across worker threads.
pub trait Executor: Send + Sync {
    /// `local` or `docker`: recorded in realisations and printed to users.
    fn kind(&self) -> &'static str;
    /// The identity of what runs for `image:tag`, for the derivation.
    fn identity(&self, image: &str, tag: &str) -> Result<String>;
    /// Runs a job to completion.
    fn run(&self, job: &Job) -> Result<Outcome>;
    /// Kills everything this executor has started and not yet reaped.
    fn cancel_all(&self);
    /// A one-line note for the user about how actions are run, if any.
    fn note(&self) -> Option<String> {
        None
    }
}

/// The environment every action sees, whatever the executor. It is part of the
/// derivation, so it holds no host-specific values.
pub fn fixed_env() -> BTreeMap<String, String> {
    [
        ("OPENSAFELY_BACKEND", "expectations"),
        ("TZ", "UTC"),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "C.UTF-8"),
        ("PYTHONHASHSEED", "0"),
        ("SOURCE_DATE_EPOCH", "315532800"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Settings of the docker executor from the command line.
#[derive(Clone, Debug, Default)]
#[expect(dead_code, reason = "read by the docker executor")]
pub struct DockerOptions {
    pub pull: bool,
    pub cpus: f64,
    pub memory: String,
}

/// Chooses the executor: `--executor`, else `[executor] kind`, else `auto`.
pub fn select(
    flag: Option<crate::cli::ExecutorKind>,
    config: &crate::config::Config,
    _project: &crate::project::Project,
    project_dir: &Path,
    store: &cairn_store::Store,
    _docker: &DockerOptions,
) -> Result<Box<dyn Executor>> {
    use crate::cli::ExecutorKind;
    let kind = match (flag, config.executor.kind.as_deref()) {
        (Some(k), _) => k,
        (None, None | Some("auto")) => ExecutorKind::Auto,
        (None, Some("local")) => ExecutorKind::Local,
        (None, Some("docker")) => ExecutorKind::Docker,
        (None, Some(other)) => anyhow::bail!(
            "cairn.toml: [executor] kind = {other:?} is not one of \"auto\", \"local\", \"docker\""
        ),
    };
    let hidden = vec![
        std::fs::canonicalize(project_dir).unwrap_or_else(|_| project_dir.to_path_buf()),
        store.root().to_path_buf(),
    ];
    match kind {
        ExecutorKind::Local | ExecutorKind::Auto => Ok(Box::new(local::LocalExecutor::new(
            config.images.clone(),
            hidden,
        ))),
        ExecutorKind::Docker => anyhow::bail!("the docker executor is not available in this build"),
    }
}
