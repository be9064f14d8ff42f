//! The local executor: runs an image's program on the host, sandboxed with
//! bubblewrap when it is installed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};
use cairn_store::Kind;

use super::{Executor, Job, Outcome};
use crate::config::ImageConfig;

/// Where the tracer and its output directory appear inside the sandbox.
const SANDBOX_TRACER: &str = "/.cairn-trace";
const SANDBOX_TRACE_DIR: &str = "/.cairn-trace-out";

/// The program each OpenSAFELY image runs, and the names by which an action's
/// first argument may name that program (dropped, as the images' entrypoint does).
const DEFAULT_PROGRAMS: &[(&str, &str, &[&str])] = &[
    ("python", "python3", &["python", "python3"]),
    ("r", "Rscript", &["Rscript", "R"]),
    ("stata-mp", "stata-mp", &["stata-mp", "stata"]),
    ("cohortextractor", "cohortextractor", &["cohortextractor"]),
    ("jupyter", "jupyter", &["jupyter"]),
];

/// Runs actions as host processes.
pub struct LocalExecutor {
    images: BTreeMap<String, ImageConfig>,
    /// Directories hidden from sandboxed actions (the project, the store).
    hidden: Vec<PathBuf>,
    sandbox: bool,
    /// Why this executor was chosen over docker, when that needs saying.
    chosen: Option<String>,
    identities: Mutex<HashMap<String, String>>,
    running: Mutex<HashSet<i32>>,
}

impl LocalExecutor {
    pub fn new(images: BTreeMap<String, ImageConfig>, hidden: Vec<PathBuf>) -> LocalExecutor {
        LocalExecutor {
            images,
            hidden,
            sandbox: bwrap_works(),
            chosen: None,
            identities: Mutex::new(HashMap::new()),
            running: Mutex::new(HashSet::new()),
        }
    }

    /// Adds a note on why this executor runs the actions.
    pub fn with_note(mut self, note: String) -> LocalExecutor {
        self.chosen = Some(note);
        self
    }

    /// The host command prefix for `image`, with its program resolved on PATH.
    pub(crate) fn command(&self, image: &str) -> Result<Vec<String>> {
        let mut prefix = match self.images.get(image).and_then(|c| c.command.clone()) {
            Some(c) if !c.is_empty() => c,
            Some(_) => bail!("cairn.toml: [images.{image}] command must not be empty"),
            None => match DEFAULT_PROGRAMS.iter().find(|(i, _, _)| *i == image) {
                Some((_, program, _)) => vec![program.to_string()],
                None => bail!(
                    "no program is known for the image `{image}`; map it in cairn.toml:\n\n    [images.{image}]\n    command = [\"/path/to/program\"]"
                ),
            },
        };
        let program = &prefix[0];
        let resolved = which(program).with_context(|| {
            format!(
                "the image `{image}` runs `{program}`, which is not installed (not found on PATH).\n\
                 Install it, map the image to another program in cairn.toml:\n\n    [images.{image}]\n    command = [\"/path/to/program\"]\n\n\
                 or use the docker executor (--executor docker)"
            )
        })?;
        prefix[0] = resolved.to_string_lossy().into_owned();
        Ok(prefix)
    }

    /// The action's arguments, without a first argument that names the
    /// image's own program (`python:latest python x.py` runs like `python:v2 x.py`).
    fn arguments<'a>(&self, image: &str, argv: &'a [String]) -> &'a [String] {
        let args = argv.get(1..).unwrap_or(&[]);
        let mut names: Vec<String> = DEFAULT_PROGRAMS
            .iter()
            .find(|(i, _, _)| *i == image)
            .map(|(_, _, aliases)| aliases.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
        if let Some(cmd) = self.images.get(image).and_then(|c| c.command.as_ref())
            && let Some(first) = cmd.first()
        {
            names.push(basename(first).to_string());
        }
        match args.first() {
            Some(a) if names.iter().any(|n| n == a) => &args[1..],
            _ => args,
        }
    }
}

impl Executor for LocalExecutor {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn identity(&self, image: &str, _tag: &str) -> Result<String> {
        if let Some(pin) = self.images.get(image).and_then(|c| c.identity.clone()) {
            return Ok(pin);
        }
        if let Some(id) = self.identities.lock().unwrap().get(image) {
            return Ok(id.clone());
        }
        let prefix = self.command(image)?;
        let program = std::fs::canonicalize(&prefix[0])?;
        let mut h = Kind::Object.hasher();
        h.update_mmap(&program)
            .with_context(|| format!("hashing {}", program.display()))?;
        // The prefix's own arguments change what runs, so they count too.
        for arg in &prefix[1..] {
            h.update(b"\0");
            h.update(arg.as_bytes());
        }
        let id = format!("blake3:{}", h.finalize().to_hex());
        self.identities
            .lock()
            .unwrap()
            .insert(image.to_string(), id.clone());
        Ok(id)
    }

    fn run(&self, job: &Job) -> Result<Outcome> {
        let prefix = self.command(job.image)?;
        let args = self.arguments(job.image, job.argv);
        let log = std::fs::File::create(job.log)
            .with_context(|| format!("creating {}", job.log.display()))?;
        let home = job.scratch.join("home");
        std::fs::create_dir_all(&home)?;

        let mut cmd = if self.sandbox {
            let mut c = Command::new("bwrap");
            c.args(sandbox_root()?);
            c.args(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]);
            // The project and the store are hidden behind empty read-only
            // directories: an action sees only its workspace.
            for h in &self.hidden {
                if h.is_dir() {
                    c.arg("--tmpfs").arg(h).arg("--remount-ro").arg(h);
                }
            }
            c.arg("--bind").arg(job.workspace).arg("/workspace");
            if let Some(tracer) = job.tracer {
                c.arg("--ro-bind").arg(tracer).arg(SANDBOX_TRACER);
                c.arg("--bind").arg(job.trace_dir).arg(SANDBOX_TRACE_DIR);
            }
            c.args(["--chdir", "/workspace", "--setenv", "HOME", "/tmp"]);
            c.args([
                "--unshare-net",
                "--unshare-pid",
                "--unshare-ipc",
                "--unshare-uts",
            ]);
            c.args(["--die-with-parent", "--"]);
            if job.tracer.is_some() {
                c.arg(SANDBOX_TRACER)
                    .args(super::tracer_args("/workspace", SANDBOX_TRACE_DIR));
            }
            c.args(&prefix).args(args);
            c
        } else {
            let mut c = match job.tracer {
                Some(tracer) => {
                    let mut c = Command::new(tracer);
                    let root = std::path::absolute(job.workspace)?;
                    let out = std::path::absolute(job.trace_dir)?;
                    c.args(super::tracer_args(
                        &root.to_string_lossy(),
                        &out.to_string_lossy(),
                    ));
                    c.arg(&prefix[0]);
                    c
                }
                None => Command::new(&prefix[0]),
            };
            c.args(&prefix[1..]).args(args);
            c.current_dir(job.workspace).env("HOME", &home);
            c
        };
        cmd.env_clear()
            .envs(job.env)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        if !self.sandbox {
            cmd.env("HOME", &home);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", prefix[0]))?;
        let pid = child.id() as i32;
        self.running.lock().unwrap().insert(pid);
        let status = child.wait();
        // An action ends when its command does, as a container would:
        // whatever it left running in the background is killed, so nothing
        // writes to its outputs once they are collected.
        // SAFETY: killpg has no memory-safety preconditions.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
        self.running.lock().unwrap().remove(&pid);
        let status = status?;
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => Outcome {
                exit_code: code,
                message: None,
            },
            (None, Some(sig)) => Outcome {
                exit_code: 128 + sig,
                message: Some(format!("killed by signal {sig}")),
            },
            _ => Outcome {
                exit_code: -1,
                message: Some("ended abnormally".into()),
            },
        })
    }

    fn contains_actions(&self) -> bool {
        // bwrap's PID namespace ends with the command; a plain process
        // group does not hold what calls setsid.
        self.sandbox
    }

    fn cancel_all(&self) {
        for pgid in self.running.lock().unwrap().iter() {
            // SAFETY: killpg has no memory-safety preconditions.
            unsafe {
                libc::killpg(*pgid, libc::SIGKILL);
            }
        }
    }

    fn note(&self) -> Option<String> {
        let sandbox = (!self.sandbox).then_some(
            "note: bubblewrap (bwrap) is not available, so actions run unsandboxed (with network access); install bubblewrap to isolate them",
        );
        let notes: Vec<&str> = self.chosen.as_deref().into_iter().chain(sandbox).collect();
        (!notes.is_empty()).then(|| notes.join("\n"))
    }
}

/// bwrap arguments making the host's top-level entries visible read-only, on
/// a root of bwrap's own, so that `/workspace` can be created in it.
fn sandbox_root() -> Result<Vec<String>> {
    let mut args = Vec::new();
    for entry in std::fs::read_dir("/").context("listing /")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if matches!(name.as_str(), "proc" | "dev" | "tmp" | "workspace") {
            continue;
        }
        let path = format!("/{name}");
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            args.extend([
                "--symlink".into(),
                target.to_string_lossy().into_owned(),
                path,
            ]);
        } else {
            args.extend(["--ro-bind".into(), path.clone(), path]);
        }
    }
    Ok(args)
}

/// Whether bubblewrap is installed and can create namespaces here.
fn bwrap_works() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        if std::env::var_os("CAIRN_NO_SANDBOX").is_some() {
            return false;
        }
        Command::new("bwrap")
            .args(["--ro-bind", "/", "/", "--unshare-net", "--unshare-pid"])
            .args(["--die-with-parent", "--", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Finds `program` like a shell would (a path containing `/` is used as is).
pub fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_exec(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| is_exec(p))
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec() -> LocalExecutor {
        LocalExecutor::new(BTreeMap::new(), vec![])
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_first_argument_naming_the_program_is_dropped() {
        let e = exec();
        let old = v(&["python:latest", "python", "analysis/x.py"]);
        let new = v(&["python:v2", "analysis/x.py"]);
        assert_eq!(e.arguments("python", &old), &new[1..]);
        assert_eq!(e.arguments("python", &new), &new[1..]);
    }

    #[test]
    fn an_unknown_image_says_how_to_map_it() {
        let err = exec().command("sas").unwrap_err().to_string();
        assert!(err.contains("[images.sas]"), "{err}");
    }

    #[test]
    fn a_missing_program_names_the_image_and_the_fix() {
        let mut images = BTreeMap::new();
        images.insert(
            "stata-mp".to_string(),
            ImageConfig {
                command: Some(v(&["definitely-not-installed-stata"])),
                ..Default::default()
            },
        );
        let err = LocalExecutor::new(images, vec![])
            .command("stata-mp")
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("stata-mp") && msg.contains("not installed"),
            "{msg}"
        );
    }
}
