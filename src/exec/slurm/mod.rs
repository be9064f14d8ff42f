//! The slurm executor: each stale action is one Slurm batch job. The
//! workspace is prepared on a directory the nodes share, the job's script
//! runs `cairn slurm-job` on the node (which runs the action with the local
//! or docker executor and writes its outcome next to the workspace), and the
//! submitting cairn watches the job with `squeue`/`scontrol` and collects
//! the outputs as for a local run.

mod ending;
pub mod node;
mod sbatch;
mod spec;
mod watch;
mod workspace;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};

use super::docker::DockerExecutor;
use super::local::LocalExecutor;
use super::{DockerOptions, Executor, Job, Outcome, SlurmOptions};
use crate::config::{Config, SlurmConfig, SlurmResources};
use ending::Verdict;
use spec::{JobSpec, NodeExecutor, NodeOutcome};

/// Submits actions as Slurm jobs and waits for them.
pub struct SlurmExecutor {
    settings: SlurmConfig,
    /// `[actions.NAME] slurm = {…}`.
    resources: BTreeMap<String, SlurmResources>,
    node_executor: NodeExecutor,
    /// Computes identities here as the node executor computes them on the
    /// node, so that the derivations are those of a local (or docker) run.
    identities: Box<dyn Executor>,
    images: BTreeMap<String, crate::config::ImageConfig>,
    hidden: Vec<PathBuf>,
    cairn: PathBuf,
    workdir: Option<PathBuf>,
    flags: SlurmOptions,
    docker: DockerOptions,
    host: String,
    watcher: watch::Watcher,
    /// How this run's first `sbatch` went: held while it is tried, so that a
    /// job the cluster refuses stops the run before anything else is queued.
    first: Mutex<Option<std::result::Result<(), String>>>,
    /// Jobs submitted and not yet ended.
    jobs: Mutex<HashSet<String>>,
    cancelled: AtomicBool,
    /// Jobs in the queue, by name, when this run first submitted.
    queued: OnceLock<HashMap<String, Vec<String>>>,
}

impl SlurmExecutor {
    pub fn new(
        config: &Config,
        project_dir: &Path,
        store: &cairn_store::Store,
        docker: &DockerOptions,
        flags: &SlurmOptions,
    ) -> Result<SlurmExecutor> {
        let settings = config.slurm.clone();
        let node_executor = match settings.node_executor.as_deref() {
            None | Some("local") => NodeExecutor::Local,
            Some("docker") => NodeExecutor::Docker,
            Some(other) => bail!(
                "cairn.toml: [slurm] node-executor = {other:?} is not one of \"local\", \"docker\""
            ),
        };
        let hidden = vec![
            std::fs::canonicalize(project_dir).unwrap_or_else(|_| project_dir.to_path_buf()),
            store.root().to_path_buf(),
        ];
        let identities: Box<dyn Executor> = match node_executor {
            NodeExecutor::Local => {
                Box::new(LocalExecutor::new(config.images.clone(), hidden.clone()))
            }
            NodeExecutor::Docker => Box::new(DockerExecutor::new(config.images.clone(), docker)?),
        };
        let cairn = match &settings.cairn {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe().context("finding the running cairn binary")?,
        };
        let workdir = settings.workdir.as_ref().map(PathBuf::from);
        if let Some(w) = &workdir {
            std::fs::create_dir_all(w).with_context(|| {
                format!("cairn.toml: [slurm] workdir = {:?} cannot be created", w)
            })?;
        }
        if let Some(m) = &flags.memory
            && super::engine::parse_size(m).is_none()
        {
            bail!("-m/--memory: {m:?} is not a size (e.g. 4G, 512M)");
        }
        let resources = config
            .actions
            .iter()
            .filter_map(|(a, c)| Some((a.clone(), c.slurm.clone()?)))
            .collect();
        Ok(SlurmExecutor {
            settings,
            resources,
            node_executor,
            identities,
            images: config.images.clone(),
            hidden,
            cairn,
            workdir,
            flags: flags.clone(),
            docker: docker.clone(),
            host: hostname(),
            watcher: watch::Watcher::default(),
            first: Mutex::new(None),
            jobs: Mutex::new(HashSet::new()),
            cancelled: AtomicBool::new(false),
            queued: OnceLock::new(),
        })
    }

    /// Submits the job and returns its id. The run's first submission is
    /// made alone: if the cluster refuses it, nothing else is submitted.
    fn submit(&self, args: &[String], script: &Path, action: &str) -> Result<String> {
        let mut first = self.first.lock().unwrap();
        match &*first {
            Some(Err(why)) => bail!("not submitted: sbatch refused this run's first job: {why}"),
            Some(Ok(())) => {
                drop(first);
                self.sbatch(args, script, action)
                    .map_err(anyhow::Error::msg)
            }
            None => {
                let submitted = self.sbatch(args, script, action);
                *first = Some(submitted.as_ref().map(|_| ()).map_err(Clone::clone));
                submitted.map_err(anyhow::Error::msg)
            }
        }
    }

    fn sbatch(
        &self,
        args: &[String],
        script: &Path,
        action: &str,
    ) -> std::result::Result<String, String> {
        let out = Command::new("sbatch")
            .args(args)
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run sbatch ({e}): is Slurm's client installed here?"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let id = stdout.trim().split(';').next().unwrap_or("").to_string();
        if !out.status.success() || id.is_empty() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            return Err(format!(
                "sbatch refused the job of {action}: {}",
                if stderr.is_empty() {
                    stdout.trim()
                } else {
                    stderr
                }
            ));
        }
        // Registered before the cancel flag is read, so that a cancel either
        // sees the job or is seen here.
        self.jobs.lock().unwrap().insert(id.clone());
        if self.cancelled.load(Ordering::SeqCst) {
            scancel(std::slice::from_ref(&id));
        }
        Ok(id)
    }

    /// Cancels jobs named `name` that a cairn run which died left in the
    /// queue. The caller holds the derivation's build lock, so no living
    /// cairn is waiting for them; their results would never be trusted.
    fn cancel_leftovers(&self, name: &str) {
        let queued = self.queued.get_or_init(|| {
            let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
            for (id, n) in watch::queued_by_name() {
                by_name.entry(n).or_default().push(id);
            }
            by_name
        });
        if let Some(ids) = queued.get(name) {
            eprintln!(
                "note: cancelling Slurm job(s) {} ({name}), left in the queue by a cairn run that ended before them",
                ids.join(", ")
            );
            scancel(ids);
        }
    }

    fn write_job(&self, job: &Job) -> Result<PathBuf> {
        let spec = JobSpec {
            action: job.action.to_string(),
            image: job.image.to_string(),
            tag: job.tag.to_string(),
            argv: job.argv.to_vec(),
            workspace: job.workspace.to_path_buf(),
            scratch: job.scratch.to_path_buf(),
            log: job.log.to_path_buf(),
            env: job.env.clone(),
            node_executor: self.node_executor,
            identity: self.identities.identity(job.image, job.tag)?,
            submitted_from: self.host.clone(),
            images: self.images.clone(),
            hidden: self.hidden.clone(),
            trace_dir: job.tracer.map(|_| job.trace_dir.to_path_buf()),
            tracer: job.tracer.map(Path::to_path_buf),
            docker_cpus: self.docker.cpus,
            docker_memory: self.docker.memory.clone(),
        };
        let job_file = job.scratch.join(spec::JOB_FILE);
        spec::write_json(&job_file, &spec)?;
        let script = job.scratch.join("job.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n# cairn: the action {}\nexec {} slurm-job {}\n",
                job.action,
                quote(&self.cairn.to_string_lossy()),
                quote(&job_file.to_string_lossy()),
            ),
        )?;
        Ok(script)
    }
}

impl Executor for SlurmExecutor {
    fn kind(&self) -> &'static str {
        "slurm"
    }

    fn identity(&self, image: &str, tag: &str) -> Result<String> {
        self.identities.identity(image, tag)
    }

    fn run(&self, job: &Job) -> Result<Outcome> {
        let cancelled = || Outcome {
            exit_code: 130,
            message: Some("Cancelled by user".into()),
        };
        if self.cancelled.load(Ordering::SeqCst) {
            return Ok(cancelled());
        }
        let name = format!("cairn-{}-{}", job.action, job.id);
        self.cancel_leftovers(&name);
        let script = self.write_job(job)?;
        let args = sbatch::arguments(
            &self.settings,
            self.resources.get(job.action),
            &self.flags,
            &name,
            job.log,
            job.scratch,
        );
        let placed = workspace::snapshot(job.workspace)?;
        let mut lost: Option<String> = None;
        for _attempt in 0..2 {
            let id = self.submit(&args, &script, job.action)?;
            let end = self.watcher.wait(&id);
            self.jobs.lock().unwrap().remove(&id);
            let by_us = self.cancelled.load(Ordering::SeqCst);
            let node: Option<NodeOutcome> =
                spec::read_json(&job.scratch.join(spec::OUTCOME_FILE)).ok();
            let log_tail = tail(job.log);
            match ending::judge(&id, &end, node, &log_tail, by_us) {
                Verdict::Done(outcome) => {
                    return Ok(match lost {
                        Some(l) if outcome.exit_code != 0 => Outcome {
                            message: Some(format!(
                                "{} (after resubmitting: {l})",
                                outcome.message.as_deref().unwrap_or("failed")
                            )),
                            ..outcome
                        },
                        _ => outcome,
                    });
                }
                Verdict::Resubmit(why) if by_us => {
                    let _ = why;
                    return Ok(cancelled());
                }
                Verdict::Resubmit(why) => {
                    if let Some(first) = lost {
                        return Ok(Outcome {
                            exit_code: 1,
                            message: Some(format!(
                                "{why}, after it was resubmitted once ({first})"
                            )),
                        });
                    }
                    if let Err(e) = workspace::reset(job.workspace, &placed) {
                        return Ok(Outcome {
                            exit_code: 1,
                            message: Some(format!("{why}, and cannot be resubmitted: {e:#}")),
                        });
                    }
                    for f in [spec::OUTCOME_FILE, spec::STARTED_FILE] {
                        let _ = std::fs::remove_file(job.scratch.join(f));
                    }
                    eprintln!("note: {why}: resubmitting {} once", job.action);
                    lost = Some(why);
                }
            }
        }
        unreachable!("the second loss returns")
    }

    fn cancel_all(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let jobs: Vec<String> = self.jobs.lock().unwrap().iter().cloned().collect();
        scancel(&jobs);
    }

    fn note(&self) -> Option<String> {
        let s = &self.settings;
        let mut note = String::from("Running actions as Slurm jobs");
        if let Some(p) = &s.partition {
            note.push_str(&format!(" in partition {p}"));
        }
        note.push_str(&format!(
            " ({} on the nodes, workspaces in {})",
            match self.node_executor {
                NodeExecutor::Local => "local executor",
                NodeExecutor::Docker => "docker executor",
            },
            self.workdir
                .as_deref()
                .map_or_else(|| "the store's tmp/".into(), |w| w.display().to_string())
        ));
        Some(note)
    }

    fn workdir(&self) -> Option<&Path> {
        self.workdir.as_deref()
    }

    fn default_jobs(&self) -> usize {
        100
    }
}

/// `scancel` of `ids`, best effort.
fn scancel(ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let _ = Command::new("scancel")
        .args(ids)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last 8 KiB of a log.
fn tail(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(8192)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// `s` quoted for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
