//! Building one action: a fresh workspace, the executor, output collection,
//! and the realisation written to the store.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use anyhow::{Context, Result};
use cairn_store::{
    Derivation, Digest, OutputEntry, OutputManifest, REALISATION_FORMAT, Realisation,
};

use crate::exec::Job;
use crate::outputs::{self, ActionPatterns};
use crate::project::PrivacyLevel;
use crate::session::Session;
use crate::sources::SourceTree;
use crate::statcache::{Stamp, now_ns};

/// Where a build came from: the commit and whether the work tree was dirty.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    pub commit: Option<String>,
    pub dirty: bool,
}

/// What building an action produced.
pub enum Built {
    /// It ran and its outputs are in the store.
    Ran {
        realisation: Realisation,
        level4: Vec<(String, String)>,
        log: Vec<u8>,
        /// Why it ran untraced, if it did.
        untraced: Option<String>,
        /// Files it wrote that match no output pattern (discarded).
        discarded: Vec<String>,
    },
    /// Another process built the same derivation while this one waited.
    Elsewhere(Realisation),
    Failed(Failure),
    /// An output of an action it needs could not be restored into the
    /// workspace: its object is corrupt (and now quarantined) or lost. That
    /// realisation must be built again before this action can run.
    InputDamaged {
        upstream: Digest,
        path: String,
        error: cairn_store::Error,
    },
}

/// Why an action failed, and what was kept for the user.
#[derive(Debug, Default)]
pub struct Failure {
    pub message: String,
    pub exit_code: Option<i32>,
    /// The scratch workspace, kept for inspection.
    pub workspace: Option<PathBuf>,
    pub log: Vec<u8>,
}

/// Everything a worker needs to build one action.
pub struct Request<'a> {
    pub name: &'a str,
    pub drv: &'a Derivation,
    pub id: Digest,
    pub sources: &'a SourceTree,
    /// Realisations of the actions in `needs`.
    pub upstream: Vec<Arc<Realisation>>,
    pub force: bool,
    pub provenance: &'a Provenance,
    pub cancelled: &'a AtomicBool,
}

pub fn build(session: &Session, req: &Request) -> Result<Built> {
    let store = &session.store;
    let _lock = store.build_lock(&req.id)?;
    if !req.force
        && let Some((_, r)) = session.lookup(&req.id, req.sources)?
    {
        return Ok(Built::Elsewhere(r));
    }
    let Executed {
        scratch,
        workspace: ws,
        log_path,
        trace_dir,
        started_at,
        finished_at,
        log,
        collected,
        level4,
    } = match execute(session, req, &Workspace::default())? {
        Ok(executed) => executed,
        Err(built) => return Ok(built),
    };
    let tracer = session.tracer();
    // The outputs and the log enter the store in one batch: moved out of
    // the scratch workspace when the executor guarantees that nothing the
    // action started is still running, copied otherwise.
    let mut paths: Vec<PathBuf> = collected.files.keys().map(|p| ws.join(p)).collect();
    paths.push(log_path.clone());
    let mut ingested = if session.executor.contains_actions() {
        store.adopt_files(&paths)
    } else {
        store.ingest_files(&paths)
    }
    .with_context(|| format!("storing the outputs of {}", req.name))?;
    let log_object = ingested.pop().expect("the log was stored").digest;
    let files = collected
        .files
        .iter()
        .zip(ingested)
        .map(|((path, level), i)| {
            (
                path.clone(),
                OutputEntry {
                    object: i.digest,
                    size: i.size,
                    mode: i.mode,
                    level: level.as_str().to_string(),
                },
            )
        })
        .collect();
    // What the action looked at: from its trace, valued from the sources it
    // started with; every source when it could not be traced.
    let trace = match tracer {
        Ok(_) => crate::trace::load(&trace_dir.join(crate::exec::TRACE_FILE)),
        Err(why) => crate::trace::Trace {
            untraced: Some(why.to_string()),
            events: Vec::new(),
        },
    };
    let observations = match &trace.untraced {
        Some(_) => crate::observe::everything(req.sources),
        None => {
            let inputs: HashSet<&str> = req
                .upstream
                .iter()
                .flat_map(|r| r.outputs.files.keys().map(String::as_str))
                .collect();
            let patterns = ActionPatterns::new(session.action(req.name))?;
            let covered = |p: &str| inputs.contains(p) || patterns.level_of(p).is_some();
            crate::observe::reduce(&trace, req.sources, &covered)
        }
    };
    let realisation = Realisation {
        format: REALISATION_FORMAT,
        derivation: req.id,
        observations,
        outputs: OutputManifest { files },
        exit_code: 0,
        started_at,
        finished_at,
        log: Some(log_object),
        executor: session.executor.kind().to_string(),
        host: hostname(),
        commit: req.provenance.commit.clone(),
        dirty: req.provenance.dirty,
        cairn_version: env!("CARGO_PKG_VERSION").to_string(),
        signatures: Vec::new(),
    };
    if req.cancelled.load(Ordering::SeqCst) {
        return Ok(Built::Failed(Failure {
            message: "Cancelled by user".into(),
            ..Failure::default()
        }));
    }
    store.put_derivation(req.drv)?;
    store.put_realisation(&realisation)?;
    discard(scratch);
    Ok(Built::Ran {
        realisation,
        level4,
        log,
        untraced: trace.untraced,
        discarded: collected
            .strays
            .into_iter()
            .filter(|p| !p.contains("__pycache__/"))
            .collect(),
    })
}

/// How a scratch workspace is laid out. `cairn verify --vary` changes what an
/// action must not depend on: where the workspace is on the host and the
/// order in which its entries are created.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The scratch directory's name starts with this.
    pub prefix: String,
    /// Directories between the scratch directory and `workspace`.
    pub nested: PathBuf,
    /// Create the sources and inputs in reverse order.
    pub reverse_order: bool,
}

impl Default for Workspace {
    fn default() -> Workspace {
        Workspace {
            prefix: "build".into(),
            nested: PathBuf::new(),
            reverse_order: false,
        }
    }
}

/// An action that ran to completion with its outputs collected in its
/// scratch workspace, nothing recorded yet.
pub struct Executed {
    /// Removed when dropped (or handed to [`discard`]).
    pub scratch: tempfile::TempDir,
    pub workspace: PathBuf,
    pub log_path: PathBuf,
    pub trace_dir: PathBuf,
    pub started_at: i64,
    pub finished_at: i64,
    pub log: Vec<u8>,
    pub collected: outputs::Collected,
    pub level4: Vec<(String, String)>,
}

/// Prepares a fresh workspace (sources and the outputs of `needs`), runs the
/// action under the tracer and collects its outputs, recording nothing.
/// `Err` is how it ended otherwise (failed, or an input damaged).
pub fn execute(
    session: &Session,
    req: &Request,
    layout: &Workspace,
) -> Result<std::result::Result<Executed, Built>> {
    let store = &session.store;
    let action = session.action(req.name);
    let prefix = format!("{}-{}-", layout.prefix, req.id.short());
    // An executor that runs actions elsewhere (Slurm) has them in a
    // directory its nodes share.
    let scratch = match session.executor.workdir() {
        Some(dir) => tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(dir)
            .with_context(|| format!("making a workspace in {}", dir.display()))?,
        None => store.scratch_dir(&prefix)?,
    };
    let ws = scratch.path().join(&layout.nested).join("workspace");
    std::fs::create_dir_all(&ws)?;

    if layout.reverse_order {
        req.sources.copy_into_reversed(&ws)?;
    } else {
        req.sources.copy_into(&ws)?;
    }
    let mut inputs: Vec<(&Arc<Realisation>, &String, &OutputEntry)> = req
        .upstream
        .iter()
        .flat_map(|up| up.outputs.files.iter().map(move |(p, e)| (up, p, e)))
        .collect();
    if layout.reverse_order {
        inputs.reverse();
    }
    for (up, path, entry) in inputs {
        if !store.has_object(&entry.object) {
            return Ok(Err(Built::Failed(Failure {
                message: format!(
                    "input {path} is withheld: its content ({}) is not in this store; rerun the action that makes it with --force",
                    entry.level
                ),
                ..Failure::default()
            })));
        }
        match store.materialize_file(entry, &ws.join(path)) {
            Ok(()) => {}
            Err(
                error @ (cairn_store::Error::Corrupt { .. }
                | cairn_store::Error::MissingObject { .. }),
            ) => {
                return Ok(Err(Built::InputDamaged {
                    upstream: up.key(),
                    path: path.clone(),
                    error,
                }));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let placed = stamps(&ws)?;

    let log_path = scratch.path().join("action.log");
    let trace_dir = scratch.path().join("trace");
    std::fs::create_dir_all(&trace_dir)?;
    let tracer = session.tracer();
    let started_at = unix_now();
    let outcome = session.executor.run(&Job {
        action: req.name,
        id: &req.id.short(),
        image: &action.image,
        tag: &action.tag,
        argv: &action.argv,
        workspace: &ws,
        scratch: scratch.path(),
        env: &session.env,
        log: &log_path,
        tracer: tracer.ok(),
        trace_dir: &trace_dir,
    })?;
    let finished_at = unix_now();
    let log = std::fs::read(&log_path).unwrap_or_default();

    if req.cancelled.load(Ordering::SeqCst) {
        return Ok(Err(Built::Failed(Failure {
            message: "Cancelled by user".into(),
            exit_code: Some(outcome.exit_code),
            log,
            ..Failure::default()
        })));
    }
    if outcome.exit_code != 0 {
        let mut message = "Job exited with an error".to_string();
        if let Some(m) = &outcome.message {
            message.push_str(": ");
            message.push_str(m);
        }
        return Ok(Err(Built::Failed(Failure {
            message,
            exit_code: Some(outcome.exit_code),
            workspace: Some(scratch.keep().join(&layout.nested).join("workspace")),
            log,
        })));
    }

    let patterns = ActionPatterns::new(action)?;
    let collected = outputs::collect(&ws, &patterns, &|p| {
        placed
            .get(p)
            .is_some_and(|s| std::fs::metadata(ws.join(p)).is_ok_and(|m| Stamp::of(&m) == *s))
    })?;
    if !collected.unmatched.is_empty() {
        let mut message = String::from("No outputs found matching patterns:");
        for p in &collected.unmatched {
            message.push_str("\n - ");
            message.push_str(p);
        }
        if !collected.strays.is_empty() {
            message.push_str("\nDid you mean to match one of these files instead?");
            for f in &collected.strays {
                message.push_str("\n - ");
                message.push_str(f);
            }
        }
        return Ok(Err(Built::Failed(Failure {
            message,
            exit_code: Some(0),
            workspace: Some(scratch.keep().join(&layout.nested).join("workspace")),
            log,
        })));
    }

    let mut level4 = Vec::new();
    for (path, level) in &collected.files {
        if *level == PrivacyLevel::ModeratelySensitive
            && let Some(problem) = outputs::level4_problem(&ws.join(path))?
        {
            level4.push((path.clone(), problem));
        }
    }
    Ok(Ok(Executed {
        scratch,
        workspace: ws,
        log_path,
        trace_dir,
        started_at,
        finished_at,
        log,
        collected,
        level4,
    }))
}

/// The thread removing finished scratch workspaces, and how to reach it.
type Discarder = (mpsc::Sender<tempfile::TempDir>, std::thread::JoinHandle<()>);
static DISCARDER: Mutex<Option<Discarder>> = Mutex::new(None);

/// Removes a finished scratch workspace off the critical path: deleting
/// thousands of files can take as long as running a short action.
fn discard(dir: tempfile::TempDir) {
    let mut discarder = DISCARDER.lock().unwrap();
    let (tx, _) = discarder.get_or_insert_with(|| {
        let (tx, rx) = mpsc::channel::<tempfile::TempDir>();
        (
            tx,
            std::thread::spawn(move || rx.into_iter().for_each(drop)),
        )
    });
    if let Err(unsent) = tx.send(dir) {
        drop(unsent.0);
    }
}

/// Waits until every discarded scratch workspace is removed.
pub fn finish_discards() {
    let discarder = DISCARDER.lock().unwrap().take();
    if let Some((tx, thread)) = discarder {
        drop(tx);
        let _ = thread.join();
    }
}

/// Stat data of every file under `root`, by relative path.
fn stamps(root: &Path) -> Result<HashMap<String, Stamp>> {
    let mut out = HashMap::new();
    for f in outputs::list_files(root)? {
        let m = std::fs::metadata(root.join(&f))?;
        out.insert(f, Stamp::of(&m));
    }
    Ok(out)
}

pub fn unix_now() -> i64 {
    now_ns() / 1_000_000_000
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
