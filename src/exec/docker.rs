//! The docker executor: each action runs in its image, as `opensafely run`
//! runs it, through the `docker` CLI.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use super::engine::{self, docker};
use super::{DockerOptions, Executor, Job, Outcome};
use crate::config::ImageConfig;

/// The registry and namespace of the OpenSAFELY images.
pub const DEFAULT_REGISTRY: &str = "ghcr.io/opensafely-core";

/// The label every container of one cairn invocation carries.
pub const RUN_LABEL: &str = "cairn.run";

/// Where the tracer and its output directory are mounted in a container.
const CONTAINER_TRACER: &str = "/.cairn/trace";
const CONTAINER_TRACE_DIR: &str = "/.cairn/out";

/// Runs actions in Docker containers.
pub struct DockerExecutor {
    images: BTreeMap<String, ImageConfig>,
    pull: bool,
    cpus: String,
    memory: String,
    memory_bytes: u64,
    /// `uid:gid` the containers run as.
    user: String,
    /// Whose the workspace must be, when cairn (as root) runs actions as
    /// another user.
    owner: Option<(u32, u32)>,
    run_id: String,
    /// Image ids by reference, resolved once per invocation.
    ids: Mutex<HashMap<String, String>>,
    /// Entrypoint and command by image id, inspected once per invocation.
    entrypoints: Mutex<HashMap<String, engine::Entrypoint>>,
    /// The cidfiles and CLI process groups of running containers.
    running: Mutex<HashMap<PathBuf, i32>>,
    /// `docker rm` processes not yet reaped.
    removing: Mutex<Vec<Child>>,
    cancelled: AtomicBool,
}

impl DockerExecutor {
    pub fn new(images: BTreeMap<String, ImageConfig>, opts: &DockerOptions) -> Result<Self> {
        let memory_bytes = engine::parse_size(&opts.memory).with_context(|| {
            format!(
                "-m/--memory: {:?} is not a size (e.g. 4G, 512M)",
                opts.memory
            )
        })?;
        if !(opts.cpus.is_finite() && opts.cpus > 0.0) {
            bail!("--cpus: {} is not a positive number of CPUs", opts.cpus);
        }
        // Docker refuses more CPUs than the host has; a laptop with one core
        // still runs the default of 2 with what it has.
        let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let (user, owner) = user()?;
        Ok(DockerExecutor {
            images,
            pull: opts.pull,
            cpus: format!("{}", opts.cpus.min(host_cpus)),
            memory: opts.memory.clone(),
            memory_bytes,
            user,
            owner,
            run_id: run_id(),
            ids: Mutex::new(HashMap::new()),
            entrypoints: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            removing: Mutex::new(Vec::new()),
            cancelled: AtomicBool::new(false),
        })
    }

    /// The image reference `image:tag` runs as.
    pub fn reference(&self, image: &str, tag: &str) -> String {
        reference(&self.images, image, tag)
    }

    /// Resolves the ids of `references` at once, pulling missing images with
    /// `--pull`. Returns the references still missing.
    pub fn resolve(&self, references: &[String]) -> Result<Vec<String>> {
        self.resolve_from(engine::image_ids(references)?, references)
    }

    /// Like [`DockerExecutor::resolve`], given the ids already found.
    pub fn resolve_from(
        &self,
        mut found: BTreeMap<String, String>,
        references: &[String],
    ) -> Result<Vec<String>> {
        let mut missing: Vec<String> = references
            .iter()
            .filter(|r| !found.contains_key(*r))
            .cloned()
            .collect();
        if self.pull && !missing.is_empty() {
            for r in &missing {
                engine::pull(r)?;
            }
            found.extend(engine::image_ids(&missing)?);
            missing.retain(|r| !found.contains_key(r));
        }
        self.ids.lock().unwrap().extend(found);
        Ok(missing)
    }

    fn image_id(&self, image: &str, tag: &str) -> Result<String> {
        let reference = self.reference(image, tag);
        if let Some(id) = self.ids.lock().unwrap().get(&reference) {
            return Ok(id.clone());
        }
        if !self.resolve(std::slice::from_ref(&reference))?.is_empty() {
            bail!(
                "{}",
                missing_message(&[(format!("{image}:{tag}"), reference)])
            );
        }
        Ok(self.ids.lock().unwrap()[&reference].clone())
    }

    /// What the container of `image_id` runs given `args`: the image's
    /// entrypoint followed by them, or, without an entrypoint, them alone
    /// (or the image's command when there are none), as `docker run` does.
    fn entrypoint(&self, image_id: &str, args: &[String]) -> Result<Vec<String>> {
        let known = self.entrypoints.lock().unwrap().get(image_id).cloned();
        let (entrypoint, command) = match known {
            Some(e) => e,
            None => {
                let e = engine::entrypoint(image_id)?;
                self.entrypoints
                    .lock()
                    .unwrap()
                    .insert(image_id.to_string(), e.clone());
                e
            }
        };
        let mut program = entrypoint;
        if args.is_empty() {
            program.extend(command);
        } else {
            program.extend(args.iter().cloned());
        }
        if program.is_empty() {
            bail!(
                "the image {image_id} has no entrypoint and no command, and the action gives none"
            );
        }
        Ok(program)
    }

    /// Removes a finished container without waiting for the engine.
    fn remove_later(&self, container: &str) {
        let mut removing = self.removing.lock().unwrap();
        removing.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        match docker()
            .args(["rm", "--force", "--volumes", container])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => removing.push(child),
            Err(_) => engine::remove(&[container.to_string()]),
        }
    }

    fn label(&self) -> String {
        format!("{RUN_LABEL}={}", self.run_id)
    }
}

impl Executor for DockerExecutor {
    fn kind(&self) -> &'static str {
        "docker"
    }

    fn identity(&self, image: &str, tag: &str) -> Result<String> {
        self.image_id(image, tag)
    }

    fn run(&self, job: &Job) -> Result<Outcome> {
        // The image is named by its id: what runs is what the derivation says,
        // even if the tag moves while cairn runs.
        let image_id = self.image_id(job.image, job.tag)?;
        let log = std::fs::File::create(job.log)
            .with_context(|| format!("creating {}", job.log.display()))?;
        if let Some((uid, gid)) = self.owner {
            chown_tree(job.workspace, uid, gid)?;
        }
        let cidfile = job.scratch.join("container.id");
        let mut cmd = docker();
        cmd.args(["run", "--init", "--network", "none"])
            .arg("--cidfile")
            .arg(&cidfile)
            .args(["--label", &self.label()])
            .arg("--label")
            .arg(format!("cairn.action={}", job.action))
            .args(["--cpus", &self.cpus, "--memory", &self.memory])
            .args(["--user", &self.user, "--env", "HOME=/tmp"])
            .arg("--mount")
            .arg(bind_mount(job.workspace))
            .args(["--workdir", "/workspace"]);
        for (k, v) in job.env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        let args = job.argv.get(1..).unwrap_or(&[]);
        match job.tracer {
            // The tracer is the container's entrypoint and runs the image's
            // own with the action's arguments, as `--init` injects its init.
            Some(tracer) => {
                if let Some((uid, gid)) = self.owner {
                    chown_tree(job.trace_dir, uid, gid)?;
                }
                let program = self.entrypoint(&image_id, args)?;
                cmd.arg("--mount")
                    .arg(format!(
                        "type=bind,source={},target={CONTAINER_TRACER},readonly",
                        tracer.display()
                    ))
                    .arg("--mount")
                    .arg(format!(
                        "type=bind,source={},target={CONTAINER_TRACE_DIR}",
                        job.trace_dir.display()
                    ))
                    .args(["--entrypoint", CONTAINER_TRACER])
                    .arg(&image_id)
                    .args(super::tracer_args("/workspace", CONTAINER_TRACE_DIR))
                    .args(program);
            }
            // The image's entrypoint receives the action's arguments.
            None => {
                cmd.arg(&image_id).args(args);
            }
        }
        cmd.stdout(log.try_clone()?).stderr(log).process_group(0);

        let mut child = {
            // Holding the lock while spawning: a concurrent cancel either
            // sees this container or stops it from starting.
            let mut running = self.running.lock().unwrap();
            if self.cancelled.load(Ordering::SeqCst) {
                return Ok(Outcome {
                    exit_code: 130,
                    message: Some("Job cancelled by user".into()),
                });
            }
            let child = cmd.spawn().context("starting `docker run`")?;
            running.insert(cidfile.clone(), child.id() as i32);
            child
        };
        let status = child.wait();
        self.running.lock().unwrap().remove(&cidfile);
        let status = status.context("waiting for `docker run`")?;
        let container = std::fs::read_to_string(&cidfile).unwrap_or_default();
        let container = container.trim();
        let code = status.code().unwrap_or(-1);
        let message = match code {
            0 => None,
            137 if !container.is_empty() && engine::oom_killed(container) => Some(format!(
                "Job ran out of memory (limit was {})",
                engine::human_size(self.memory_bytes)
            )),
            137 => Some("Job killed by a signal or by memory limits (exit status 137)".into()),
            125 if container.is_empty() => {
                let log = std::fs::read_to_string(job.log).unwrap_or_default();
                Some(format!(
                    "docker could not start the container: {}",
                    engine::last_line(&log)
                ))
            }
            _ => None,
        };
        if !container.is_empty() {
            self.remove_later(container);
        }
        Ok(Outcome {
            exit_code: code,
            message,
        })
    }

    fn contains_actions(&self) -> bool {
        true
    }

    fn cancel_all(&self) {
        let running = self.running.lock().unwrap();
        self.cancelled.store(true, Ordering::SeqCst);
        let mut containers: HashSet<String> = running
            .keys()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        containers.extend(engine::containers_labelled(&self.label()));
        engine::remove(&containers.into_iter().collect::<Vec<_>>());
        // A `docker run` that had not yet created its container when the
        // engine was asked is stopped here; what it left is swept at the end.
        for pgid in running.values() {
            // SAFETY: killpg has no memory-safety preconditions.
            unsafe {
                libc::killpg(*pgid, libc::SIGKILL);
            }
        }
    }

    fn note(&self) -> Option<String> {
        Some(format!(
            "Running actions in Docker as user {} with --cpus {} --memory {} (containers labelled {})",
            self.user,
            self.cpus,
            self.memory,
            self.label()
        ))
    }
}

impl Drop for DockerExecutor {
    fn drop(&mut self) {
        for mut c in std::mem::take(&mut *self.removing.lock().unwrap()) {
            let _ = c.wait();
        }
        if self.cancelled.load(Ordering::SeqCst) {
            engine::remove(&engine::containers_labelled(&self.label()));
        }
    }
}

/// The image reference for `image:tag`: `[images.NAME] docker` (with the
/// action's tag unless it has its own tag or digest), else the OpenSAFELY
/// registry's.
pub fn reference(images: &BTreeMap<String, ImageConfig>, image: &str, tag: &str) -> String {
    match images.get(image).and_then(|c| c.docker.as_deref()) {
        Some(r) if has_tag_or_digest(r) => r.to_string(),
        Some(r) => format!("{r}:{tag}"),
        None if image.contains('/') => format!("{image}:{tag}"),
        None => format!("{DEFAULT_REGISTRY}/{image}:{tag}"),
    }
}

fn has_tag_or_digest(reference: &str) -> bool {
    reference.contains('@')
        || reference
            .rsplit('/')
            .next()
            .is_some_and(|l| l.contains(':'))
}

/// What to say about images the engine does not have: `(image:tag, reference)`.
pub fn missing_message(missing: &[(String, String)]) -> String {
    let mut m = String::from("these images are not present in the local Docker engine:\n");
    for (name, reference) in missing {
        m.push_str(&format!("  {reference} (for {name})\n"));
    }
    m.push_str("Get them with\n");
    for (_, reference) in missing {
        m.push_str(&format!("  docker pull {reference}\n"));
    }
    m.push_str(
        "or let cairn pull them: `cairn run --pull …`. To use another image, map it in cairn.toml:\n  [images.NAME]\n  docker = \"registry/name\"",
    );
    m
}

/// `uid:gid` for `--user`: `$CAIRN_DOCKER_USER`, else the calling user; and
/// whose the workspace must be if cairn, as root, runs actions as another.
fn user() -> Result<(String, Option<(u32, u32)>)> {
    // SAFETY: these calls cannot fail and have no preconditions.
    let (euid, uid, gid) = unsafe { (libc::geteuid(), libc::getuid(), libc::getgid()) };
    let Some(spec) = std::env::var_os("CAIRN_DOCKER_USER").filter(|s| !s.is_empty()) else {
        return Ok((format!("{uid}:{gid}"), None));
    };
    let spec = spec.to_string_lossy().into_owned();
    let parse = |s: &str| s.parse::<u32>().ok();
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (parse(u), parse(g)),
        None => (parse(&spec), parse(&spec)),
    };
    let (Some(u), Some(g)) = (u, g) else {
        bail!("CAIRN_DOCKER_USER={spec:?} is not UID or UID:GID (numbers)");
    };
    let owner = (euid == 0 && u != 0).then_some((u, g));
    Ok((format!("{u}:{g}"), owner))
}

/// Hands every file under `root` (and `root`) to `uid:gid`.
fn chown_tree(root: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(root, Some(uid), Some(gid))
        .with_context(|| format!("handing {} to {uid}:{gid}", root.display()))?;
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            chown_tree(&entry.path(), uid, gid)?;
        } else {
            std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// `--mount` for the workspace, quoted for docker's CSV syntax if needed.
fn bind_mount(workspace: &Path) -> String {
    let source = workspace.to_string_lossy();
    let source = if source.contains([',', '"']) {
        format!("\"source={}\"", source.replace('"', "\"\""))
    } else {
        format!("source={source}")
    };
    format!("type=bind,{source},target=/workspace")
}

/// A fresh identifier for this invocation's containers.
fn run_id() -> String {
    let mut h = cairn_store::Kind::Object.hasher();
    h.update(&std::process::id().to_le_bytes());
    h.update(&crate::statcache::now_ns().to_le_bytes());
    cairn_store::Digest::from(h.finalize()).short()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(name: &str, docker: &str) -> BTreeMap<String, ImageConfig> {
        BTreeMap::from([(
            name.to_string(),
            ImageConfig {
                docker: Some(docker.to_string()),
                ..Default::default()
            },
        )])
    }

    #[test]
    fn references() {
        let none = BTreeMap::new();
        for (images, image, tag, expected) in [
            (&none, "python", "v2", "ghcr.io/opensafely-core/python:v2"),
            (&none, "ghcr.io/x/y", "v1", "ghcr.io/x/y:v1"),
            (
                &images("python", "my/python"),
                "python",
                "v2",
                "my/python:v2",
            ),
            (
                &images("python", "localhost:5000/python"),
                "python",
                "v2",
                "localhost:5000/python:v2",
            ),
            (
                &images("python", "my/python:3.12"),
                "python",
                "v2",
                "my/python:3.12",
            ),
            (
                &images("r", "my/r@sha256:abc"),
                "r",
                "v1",
                "my/r@sha256:abc",
            ),
        ] {
            assert_eq!(reference(images, image, tag), expected);
        }
    }

    #[test]
    fn a_missing_image_says_how_to_get_it() {
        let m = missing_message(&[(
            "python:v2".into(),
            "ghcr.io/opensafely-core/python:v2".into(),
        )]);
        assert!(
            m.contains("docker pull ghcr.io/opensafely-core/python:v2") && m.contains("--pull"),
            "{m}"
        );
    }

    #[test]
    fn workspaces_with_commas_are_quoted() {
        assert_eq!(
            bind_mount(Path::new("/s/a,b")),
            "type=bind,\"source=/s/a,b\",target=/workspace"
        );
        assert_eq!(
            bind_mount(Path::new("/s/ws")),
            "type=bind,source=/s/ws,target=/workspace"
        );
    }
}
