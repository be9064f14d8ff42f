//! Executors: how an action's command runs (on the host, in Docker, or as
//! a Slurm job).

pub mod docker;
pub(crate) mod engine;
pub mod local;
pub mod slurm;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

/// One run of one action.
pub struct Job<'a> {
    pub action: &'a str,
    /// The derivation's id, short form (names the action's Slurm job).
    pub id: &'a str,
    /// Image name and tag as written in `run:`.
    pub image: &'a str,
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
    /// The tracer (`cairn-trace`) to run the command under, or `None` to run
    /// it untraced.
    pub tracer: Option<&'a Path>,
    /// A directory outside the workspace where the tracer writes `trace`.
    pub trace_dir: &'a Path,
}

/// The name of the trace file in [`Job::trace_dir`].
pub const TRACE_FILE: &str = "trace";

/// The tracer's arguments for a command that sees the workspace at `root`
/// and writes its trace into `out_dir`; the command follows.
pub fn tracer_args(root: &str, out_dir: &str) -> Vec<String> {
    vec![
        "--root".into(),
        root.into(),
        "--out".into(),
        format!("{out_dir}/{TRACE_FILE}"),
        "--".into(),
    ]
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
    /// Whether everything an action starts ends when its command does (a
    /// container, a PID namespace), so that nothing can write to its
    /// outputs afterwards and they may be moved into the store rather than
    /// copied.
    fn contains_actions(&self) -> bool {
        false
    }
    /// A one-line note for the user about how actions are run, if any.
    fn note(&self) -> Option<String> {
        None
    }
    /// Where scratch workspaces must be made, when not in the store's
    /// `tmp/` (a directory that other machines see).
    fn workdir(&self) -> Option<&Path> {
        None
    }
    /// How many actions run at once unless `-j` says otherwise.
    fn default_jobs(&self) -> usize {
        2
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
#[derive(Clone, Debug)]
pub struct DockerOptions {
    /// Pull images the engine does not have.
    pub pull: bool,
    /// `--cpus` per container.
    pub cpus: f64,
    /// `--memory` per container, in docker's syntax (`4G`).
    pub memory: String,
}

impl Default for DockerOptions {
    /// `opensafely run`'s defaults.
    fn default() -> Self {
        DockerOptions {
            pull: false,
            cpus: 2.0,
            memory: "4G".into(),
        }
    }
}

/// Which executor a command asks for (`--executor`, `[executor] kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorChoice {
    /// Docker when an engine answers and has the images, else local.
    Auto,
    Local,
    Docker,
    Slurm,
}

/// Settings of the slurm executor from the command line (`None`: not given).
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    /// `--cpus`, for `--cpus-per-task`.
    pub cpus: Option<f64>,
    /// `-m`, for `--mem`.
    pub memory: Option<String>,
}

/// Chooses the executor: `--executor`, else `[executor] kind`, else `auto`:
/// docker when a Docker engine answers and has every image that the actions
/// `targets` ask for (and what they need) use, local otherwise.
#[allow(clippy::too_many_arguments)] // each executor's own options
pub fn select(
    flag: Option<ExecutorChoice>,
    config: &crate::config::Config,
    project: &crate::project::Project,
    targets: &[String],
    project_dir: &Path,
    store: &cairn_store::Store,
    docker: &DockerOptions,
    slurm: &SlurmOptions,
) -> Result<Box<dyn Executor>> {
    let kind = match (flag, config.executor.kind.as_deref()) {
        (Some(k), _) => k,
        (None, None | Some("auto")) => ExecutorChoice::Auto,
        (None, Some("local")) => ExecutorChoice::Local,
        (None, Some("docker")) => ExecutorChoice::Docker,
        (None, Some("slurm")) => ExecutorChoice::Slurm,
        (None, Some(other)) => anyhow::bail!(
            "cairn.toml: [executor] kind = {other:?} is not one of \"auto\", \"local\", \"docker\", \"slurm\""
        ),
    };
    if kind == ExecutorChoice::Slurm {
        return Ok(Box::new(slurm::SlurmExecutor::new(
            config,
            project_dir,
            store,
            docker,
            slurm,
        )?));
    }
    let local = || {
        let hidden = vec![
            std::fs::canonicalize(project_dir).unwrap_or_else(|_| project_dir.to_path_buf()),
            store.root().to_path_buf(),
        ];
        local::LocalExecutor::new(config.images.clone(), hidden)
    };
    if kind == ExecutorChoice::Local {
        return Ok(Box::new(local()));
    }
    let images = images_used(project, targets);
    let references: Vec<String> = images
        .iter()
        .map(|(i, t)| docker::reference(&config.images, i, t))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let found = match engine::probe(&references)? {
        Ok(found) => found,
        Err(_) if kind == ExecutorChoice::Auto => return Ok(Box::new(local())),
        Err(why) => anyhow::bail!(
            "the docker executor needs a Docker engine, and none answers: {why}.\nStart Docker, or run actions on the host with --executor local"
        ),
    };
    let exec = docker::DockerExecutor::new(config.images.clone(), docker)?;
    let missing = exec.resolve_from(found, &references)?;
    if missing.is_empty() {
        return Ok(Box::new(exec));
    }
    let missing: Vec<(String, String)> = images
        .iter()
        .map(|(i, t)| (format!("{i}:{t}"), exec.reference(i, t)))
        .filter(|(_, r)| missing.contains(r))
        .collect();
    if kind == ExecutorChoice::Auto {
        let names: Vec<&str> = missing.iter().map(|(_, r)| r.as_str()).collect();
        return Ok(Box::new(local().with_note(format!(
            "note: Docker lacks {}: running on the host (--pull fetches images; [executor] kind = \"local\" in cairn.toml makes it the default)",
            names.join(", ")
        ))));
    }
    anyhow::bail!("{}", docker::missing_message(&missing))
}

/// The distinct `(image, tag)` pairs of the actions `targets` need, or of
/// every action when `targets` do not name a plan.
fn images_used(project: &crate::project::Project, targets: &[String]) -> Vec<(String, String)> {
    let actions: Vec<&crate::project::Action> = match crate::plan::Plan::new(project, targets) {
        Ok(plan) => plan.order.iter().map(|a| &project.actions[a]).collect(),
        Err(_) => project.actions.values().collect(),
    };
    let set: std::collections::BTreeSet<(String, String)> = actions
        .into_iter()
        .map(|a| (a.image.clone(), a.tag.clone()))
        .collect();
    set.into_iter().collect()
}
