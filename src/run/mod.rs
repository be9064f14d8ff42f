//! `cairn run`: plan, build what is stale, restore what is fresh, and put the
//! outputs in the project.

pub mod build;
pub mod event;
mod preflight;
mod reconcile;
mod schedule;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::exec::{DockerOptions, ExecutorChoice, SlurmOptions};
use crate::plan::Plan;
use crate::session::{Session, SessionOptions};

pub use event::{Event, EventSink, OutputFile, Status, Totals};
pub use schedule::ActionOutcome;

/// How many `--commit` builds of a project GC keeps, besides its work tree.
const COMMIT_ROOTS: usize = 5;

/// Which actions run even though their outputs are cached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Force {
    #[default]
    Nothing,
    /// The requested actions (`--force`).
    Targets,
    /// The requested actions and all their dependencies (`-f`).
    WithDependencies,
}

/// Everything a run is asked to do.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub project_dir: PathBuf,
    /// The store directory, if named (else `CAIRN_STORE`, `cairn.toml`, the default).
    pub store: Option<PathBuf>,
    /// Actions to run with what they need (`run_all` for every action).
    pub actions: Vec<String>,
    pub force: Force,
    /// How many actions may run at once (at least 1) [default: the
    /// executor's: 2; 100 for slurm].
    pub jobs: Option<usize>,
    pub continue_on_error: bool,
    /// Report what would run and why; run nothing.
    pub dry_run: bool,
    /// Build from the tree of this git revision instead of the work tree.
    pub commit: Option<String>,
    /// The executor, if chosen (else `[executor] kind`, else auto).
    pub executor: Option<ExecutorChoice>,
    pub docker: DockerOptions,
    /// `--cpus` and `-m` as the slurm executor takes them (`None`: not given).
    pub slurm: SlurmOptions,
    /// Use realisations from the remote cache that no trusted key signed.
    pub trust_unsigned: bool,
    /// Set by the caller to stop the run (running actions are killed).
    pub cancelled: Arc<AtomicBool>,
}

impl RunOptions {
    /// A run of `actions` in `project_dir` with every other option at its default.
    pub fn new(project_dir: impl Into<PathBuf>, actions: &[&str]) -> RunOptions {
        RunOptions {
            project_dir: project_dir.into(),
            store: None,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            force: Force::Nothing,
            jobs: None,
            continue_on_error: false,
            dry_run: false,
            commit: None,
            executor: None,
            docker: DockerOptions::default(),
            slurm: SlurmOptions::default(),
            trust_unsigned: false,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// What a run did.
#[derive(Default)]
pub struct RunReport {
    /// The plan's actions in dependency order.
    pub order: Vec<String>,
    /// What happened to each action of the plan.
    pub outcomes: BTreeMap<String, ActionOutcome>,
    pub totals: Totals,
    pub cancelled: bool,
    /// The store the outputs came from.
    pub store: PathBuf,
}

/// Runs what `opts` asks, reporting to `sink`. An `Err` is a run that could
/// not start (no project, no store, an unknown action, …) or a failure to
/// write the project; failed actions are in the report.
pub fn run(opts: &RunOptions, sink: &dyn EventSink) -> Result<RunReport> {
    let clock = Instant::now();
    let project_dir = opts.project_dir.clone();
    let _lock = ProjectLock::acquire(&project_dir, sink)?;
    let cancelled = &opts.cancelled;
    let mut session = Session::open(SessionOptions {
        project_dir: &project_dir,
        store: opts.store.as_deref(),
        executor: opts.executor,
        actions: &opts.actions,
        commit: opts.commit.as_deref(),
        docker: opts.docker.clone(),
        slurm: opts.slurm.clone(),
        read_only: false,
    })?;
    for w in std::mem::take(&mut session.warnings) {
        sink.note(&w);
    }
    session.remote = Some(crate::cache::sync::RunRemote::new(opts.trust_unsigned));
    let plan = Plan::new(&session.project, &opts.actions)?;
    preflight::check(&session, &plan)?;
    let forced: HashSet<String> = match opts.force {
        Force::WithDependencies => {
            let mut f: HashSet<String> = plan.order.iter().cloned().collect();
            f.extend(plan.targets.iter().cloned());
            f
        }
        Force::Targets => plan.targets.iter().cloned().collect(),
        Force::Nothing => HashSet::new(),
    };

    if opts.dry_run {
        dry_run(&session, &plan, &forced, sink)?;
        return Ok(RunReport {
            order: plan.order.clone(),
            totals: Totals {
                ok: true,
                elapsed: clock.elapsed(),
                ..Totals::default()
            },
            store: session.store.root().to_path_buf(),
            ..RunReport::default()
        });
    }
    // What was asked, for `cairn report`.
    if let Err(e) = crate::report::Request::record(
        &project_dir,
        &opts.actions,
        opts.force == Force::WithDependencies,
        opts.force == Force::Targets,
        session
            .from_commit
            .then(|| session.commit.clone())
            .flatten(),
    ) {
        sink.note(&format!("warning: could not save the run's request: {e:#}"));
    }

    let mut state = std::mem::take(&mut session.state);
    let roots_before = roots(&state);
    let mut results: BTreeMap<String, ActionOutcome> = BTreeMap::new();
    let mut outputs_hashed = 0;
    // A second round only when the store could not give back an output
    // (corrupt or lost): its realisation is dropped and the action reruns.
    let mut round = 0;
    loop {
        round += 1;
        if round == 1
            && let Some(note) = session.executor.note()
        {
            sink.note(&note);
        }
        sink.event(&Event::Plan {
            actions: &plan.order,
            executor: session.executor.kind(),
            round,
        });
        session.state = std::mem::take(&mut state);
        let round_results = schedule::execute(
            &session,
            &plan,
            &schedule::Options {
                forced: &forced,
                jobs: opts.jobs.unwrap_or_else(|| session.executor.default_jobs()),
                continue_on_error: opts.continue_on_error,
            },
            sink,
            cancelled,
        );
        sink.event(&Event::RoundEnded);
        state = std::mem::take(&mut session.state);
        let reconciled = reconcile::reconcile(
            &session,
            &plan,
            &round_results,
            &mut state,
            sink,
            cancelled.load(Ordering::SeqCst),
        );
        merge_rounds(&mut results, round_results);
        let reconciled = match reconciled {
            Ok(r) => r,
            Err(e) => {
                build::finish_discards();
                state.save(&session.project_dir)?;
                return Err(e);
            }
        };
        outputs_hashed += reconciled.hashed;
        if reconciled.damaged.is_empty() || round == 3 || cancelled.load(Ordering::SeqCst) {
            break;
        }
        for d in &reconciled.damaged {
            sink.note(&schedule::damage_note(&d.path, &d.action, &d.error));
            if let Some(key) = results.get(&d.action).and_then(|o| o.key)
                && let Err(e) = session.store.quarantine_realisation(&key)
            {
                sink.note(&format!("warning: {e}"));
            }
        }
    }
    build::finish_discards();
    state.save(&session.project_dir)?;
    let was_cancelled = cancelled.load(Ordering::SeqCst);
    let roots_after = roots(&state);
    // A build of another commit gets a root of its own: the work tree's
    // root keeps what the work tree's last run produced.
    let rooted = match (&session.commit, session.from_commit) {
        (Some(commit), true) => session
            .store
            .set_commit_root(&session.project_dir, commit, &roots_after, COMMIT_ROOTS)
            .map(drop),
        _ if roots_after != roots_before => session
            .store
            .set_project_root(&session.project_dir, &roots_after)
            .map(drop),
        _ => Ok(()),
    };
    if let Err(e) = rooted {
        sink.note(&format!(
            "warning: could not register this project's outputs as a GC root: {e}"
        ));
    }

    if let Some(remote) = &session.remote {
        let built: Vec<cairn_store::Realisation> = results
            .values()
            .filter(|o| o.status == Status::Ran)
            .filter_map(|o| o.realisation.as_deref().cloned())
            .collect();
        remote.push(&session, built, sink);
    }
    let mut totals = Totals {
        ok: true,
        files_hashed: session.sources_hashed + outputs_hashed,
        ..Totals::default()
    };
    for o in results.values() {
        match o.status {
            Status::Ran => totals.ran += 1,
            Status::Cached => totals.cached += 1,
            Status::Withheld => totals.withheld += 1,
            Status::Failed => totals.failed += 1,
            Status::DependencyFailed => totals.dependency_failed += 1,
        }
    }
    totals.ok = totals.failed == 0 && totals.dependency_failed == 0;
    totals.elapsed = clock.elapsed();
    sink.event(&Event::Done(&totals));
    Ok(RunReport {
        order: plan.order.clone(),
        outcomes: results,
        totals,
        cancelled: was_cancelled,
        store: session.store.root().to_path_buf(),
    })
}

/// Folds a round's outcomes into the run's: an action that ran in an
/// earlier round and is merely reused in a later one keeps its outcome.
fn merge_rounds(
    results: &mut BTreeMap<String, ActionOutcome>,
    round: BTreeMap<String, ActionOutcome>,
) {
    for (a, o) in round {
        let keep_earlier = o.status == Status::Cached
            && results
                .get(&a)
                .is_some_and(|prev| prev.status == Status::Ran && prev.id == o.id);
        if !keep_earlier {
            results.insert(a, o);
        }
    }
}

/// The realisations the project's outputs come from: what GC must keep.
fn roots(state: &crate::state::ProjectState) -> Vec<cairn_store::Digest> {
    state.actions.values().filter_map(|a| a.key).collect()
}

/// Prints what would run and why, without running anything.
fn dry_run(
    session: &Session,
    plan: &Plan,
    forced: &HashSet<String>,
    sink: &dyn EventSink,
) -> Result<()> {
    let mut manifests = HashMap::new();
    for name in &plan.order {
        let (verdict, id) = match session.inputs_of(name, &manifests) {
            None => (
                "would run after its dependencies (its derivation depends on their new outputs)"
                    .to_string(),
                None,
            ),
            Some(inputs) => {
                let sources = session.sources_for(name)?;
                let drv = session.derivation(name, inputs)?;
                let id = drv.id();
                match session.lookup(&id, &sources)?.map(|(_, r)| r) {
                    Some(r) if !forced.contains(name) => {
                        manifests.insert(name.clone(), r.outputs.digest());
                        ("fresh: would restore cached outputs".to_string(), Some(id))
                    }
                    Some(_) => ("would run: forced".to_string(), Some(id)),
                    None => {
                        let old = match session.state.actions.get(name) {
                            Some(p) => session.store.derivation(&p.derivation)?,
                            None => None,
                        };
                        let why = match (session.state.actions.get(name), old) {
                            (None, _) => "never run".to_string(),
                            (Some(_), Some(old)) => {
                                crate::explain::reasons(session, name, &old, &drv)?.join("; ")
                            }
                            (Some(_), None) => {
                                "its previous derivation is no longer in the store".to_string()
                            }
                        };
                        (format!("would run: {why}"), Some(id))
                    }
                }
            }
        };
        sink.event(&Event::DryRun {
            action: name,
            id: id.as_ref(),
            verdict: &verdict,
        });
    }
    Ok(())
}

/// One `cairn run` at a time per project; a second one waits its turn.
struct ProjectLock {
    _file: File,
}

impl ProjectLock {
    fn acquire(project_dir: &Path, sink: &dyn EventSink) -> Result<ProjectLock> {
        let dir = project_dir.join(".cairn");
        if !project_dir.join("project.yaml").exists() {
            // Let the project loader report the missing file.
            return Ok(ProjectLock {
                _file: File::open("/dev/null")?,
            });
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                sink.note("waiting for another cairn run in this project to finish…");
                file.lock()?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        Ok(ProjectLock { _file: file })
    }
}
