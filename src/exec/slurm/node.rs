//! The node side of a Slurm job: `cairn slurm-job JOB.json`, started by the
//! job's batch script. It checks that the program it resolves here has the
//! identity the derivation names, runs the action with one call into the
//! node executor (local or docker: the sandbox and everything else that
//! executor does comes with it), and writes the outcome next to the workspace.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use super::spec::{self, JobSpec, NodeExecutor, NodeOutcome};
use crate::exec::docker::DockerExecutor;
use crate::exec::local::LocalExecutor;
use crate::exec::{DockerOptions, Executor, Job};

/// The node executor, concretely: the identity check names its program.
enum Runner {
    Local(LocalExecutor),
    Docker(DockerExecutor),
}

impl Runner {
    fn new(spec: &JobSpec) -> Result<Runner> {
        Ok(match spec.node_executor {
            NodeExecutor::Local => {
                Runner::Local(LocalExecutor::new(spec.images.clone(), spec.hidden.clone()))
            }
            NodeExecutor::Docker => Runner::Docker(DockerExecutor::new(
                spec.images.clone(),
                &DockerOptions {
                    pull: false,
                    cpus: spec.docker_cpus,
                    memory: spec.docker_memory.clone(),
                },
            )?),
        })
    }

    fn executor(&self) -> &dyn Executor {
        match self {
            Runner::Local(e) => e,
            Runner::Docker(e) => e,
        }
    }

    /// What runs `image:tag` here, for messages.
    fn program(&self, image: &str, tag: &str) -> String {
        match self {
            Runner::Local(e) => match e.command(image) {
                Ok(prefix) => format!("the program {}", prefix.join(" ")),
                Err(_) => format!("the program of the image `{image}`"),
            },
            Runner::Docker(e) => format!("the image {}", e.reference(image, tag)),
        }
    }
}

/// Runs the job described in `job_file`. The exit status is the action's
/// (so that Slurm's accounting shows a failed action as a failed job).
pub fn run(job_file: &Path) -> Result<ExitCode> {
    let spec: JobSpec = spec::read_json(job_file)?;
    let node = super::hostname();
    let outcome = match execute(&spec, &node) {
        Ok(o) => o,
        Err(e) => NodeOutcome {
            exit_code: 1,
            message: Some(format!("on node {node}: {e:#}")),
            node: node.clone(),
        },
    };
    if let Some(m) = &outcome.message {
        eprintln!("cairn: {m}");
    }
    spec::write_json(&spec.scratch.join(spec::OUTCOME_FILE), &outcome)?;
    Ok(ExitCode::from(outcome.exit_code.clamp(0, 255) as u8))
}

fn execute(spec: &JobSpec, node: &str) -> Result<NodeOutcome> {
    let runner = Arc::new(Runner::new(spec)?);
    // scancel (and the time limit) send SIGTERM before SIGKILL: stop what
    // the executor started that Slurm cannot see (a container).
    let on_term = runner.clone();
    let _ = ctrlc::set_handler(move || on_term.executor().cancel_all());
    let exec = runner.executor();

    let refused = |why: String| NodeOutcome {
        exit_code: 1,
        message: Some(why),
        node: node.to_string(),
    };
    let identity = match exec.identity(&spec.image, &spec.tag) {
        Ok(id) => id,
        Err(e) => {
            return Ok(refused(format!(
                "on node {node}: the image `{}` cannot run here: {e:#}",
                spec.image
            )));
        }
    };
    if identity != spec.identity {
        return Ok(refused(format!(
            "refused to run on node {node}: {} (for the image `{}:{}`) has the identity {identity} here, \
             but the derivation names {}, computed on {}. Install the same program on the nodes \
             (or map the image to it in cairn.toml with [images.{}] command), or pin its identity",
            runner.program(&spec.image, &spec.tag),
            spec.image,
            spec.tag,
            spec.identity,
            spec.submitted_from,
            spec.image,
        )));
    }

    // Traced as the submitting cairn would trace it, with this cairn's
    // tracer: the one in a store the node shares, else a copy next to the
    // workspace. A tracer that cannot be installed leaves no trace, which the
    // submitting cairn reads as an untraced run.
    let tracer = spec.trace_dir.as_ref().and_then(|_| {
        let tools = match spec.tracer.as_deref().and_then(Path::parent) {
            Some(shared) if shared.is_dir() => shared.to_path_buf(),
            _ => spec.scratch.join("tools"),
        };
        crate::trace::install(&tools)
            .inspect_err(|e| {
                eprintln!("cairn: on node {node}: the tracer could not be installed: {e}")
            })
            .ok()
    });
    let untraced = spec.scratch.join("trace");
    std::fs::write(spec.scratch.join(spec::STARTED_FILE), node)?;
    let outcome = exec.run(&Job {
        action: &spec.action,
        id: "",
        image: &spec.image,
        tag: &spec.tag,
        argv: &spec.argv,
        workspace: &spec.workspace,
        scratch: &spec.scratch,
        env: &spec.env,
        log: &spec.log,
        tracer: tracer.as_deref(),
        trace_dir: spec.trace_dir.as_deref().unwrap_or(&untraced),
    })?;
    Ok(NodeOutcome {
        exit_code: outcome.exit_code,
        message: outcome.message,
        node: node.to_string(),
    })
}
