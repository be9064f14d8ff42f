//! `cairn run`: plan, build what is stale, restore what is fresh, and put the
//! outputs in the project.

pub(crate) mod build;
mod reconcile;
mod schedule;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

use crate::cli::{Format, RunArgs};
use crate::metalog;
use crate::plan::Plan;
use crate::session::{Session, SessionOptions};
use crate::ui::{Reporter, Status};

pub use schedule::ActionOutcome;

/// How many `--commit` builds of a project GC keeps, besides its work tree.
const COMMIT_ROOTS: usize = 5;

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let project_dir = args.project.project_dir.clone();
    let _lock = ProjectLock::acquire(&project_dir)?;
    let cancelled = Arc::new(AtomicBool::new(false));
    install_ctrlc(cancelled.clone());
    let mut session = Session::open(SessionOptions {
        project_dir: &project_dir,
        store: args.store.store.as_deref(),
        executor: args.executor,
        actions: &args.actions,
        commit: args.commit.as_deref(),
        docker: {
            let defaults = crate::exec::DockerOptions::default();
            crate::exec::DockerOptions {
                pull: args.pull,
                cpus: args.cpus.unwrap_or(defaults.cpus),
                memory: args.memory.clone().unwrap_or(defaults.memory),
            }
        },
        slurm: crate::exec::SlurmOptions {
            cpus: args.cpus,
            memory: args.memory.clone(),
        },
        read_only: false,
    })?;
    session.remote = Some(crate::cache::sync::RunRemote::new(args.trust_unsigned));
    let plan = Plan::new(&session.project, &args.actions)?;
    let forced: HashSet<String> = if args.force_run_dependencies {
        let mut f: HashSet<String> = plan.order.iter().cloned().collect();
        f.extend(plan.targets.iter().cloned());
        f
    } else if args.force {
        plan.targets.iter().cloned().collect()
    } else {
        HashSet::new()
    };

    if args.dry_run {
        return dry_run(&session, &plan, &forced, args.format);
    }
    // What was asked, for `cairn report`.
    if let Err(e) = crate::report::Request::record(
        &project_dir,
        &args.actions,
        args.force_run_dependencies,
        args.force,
        session
            .from_commit
            .then(|| session.commit.clone())
            .flatten(),
    ) {
        eprintln!("warning: could not save the run's request: {e:#}");
    }

    let mut state = std::mem::take(&mut session.state);
    let roots_before = roots(&state);
    let mut results: BTreeMap<String, ActionOutcome> = BTreeMap::new();
    let mut outputs_hashed = 0;
    let mut reporter;
    // A second round only when the store could not give back an output
    // (corrupt or lost): its realisation is dropped and the action reruns.
    let mut round = 0;
    loop {
        round += 1;
        reporter = Reporter::new(args.format, plan.order.len());
        if round == 1 {
            if let Some(note) = session.executor.note() {
                reporter.note(&note);
            }
            reporter.plan(&plan.order, session.executor.kind());
        }
        session.state = std::mem::take(&mut state);
        let round_results = schedule::execute(
            &session,
            &plan,
            &schedule::Options {
                forced: &forced,
                jobs: args.jobs.unwrap_or_else(|| session.executor.default_jobs()),
                continue_on_error: args.continue_on_error,
            },
            &reporter,
            &cancelled,
        );
        reporter.finish();
        state = std::mem::take(&mut session.state);
        let reconciled =
            reconcile::reconcile(&session, &plan, &round_results, &mut state, &reporter);
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
            reporter.note(&schedule::damage_note(&d.path, &d.action, &d.error));
            if let Some(key) = results.get(&d.action).and_then(|o| o.key)
                && let Err(e) = session.store.quarantine_realisation(&key)
            {
                reporter.note(&format!("warning: {e}"));
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
        reporter.note(&format!(
            "warning: could not register this project's outputs as a GC root: {e}"
        ));
    }

    if let Some(remote) = &session.remote {
        let built: Vec<cairn_store::Realisation> = results
            .values()
            .filter(|o| o.status == Status::Ran)
            .filter_map(|o| o.realisation.as_deref().cloned())
            .collect();
        remote.push(&session, built);
    }
    let ok = results
        .values()
        .all(|o| matches!(o.status, Status::Ran | Status::Cached | Status::Withheld));
    if !reporter.is_json() {
        summary(&session, &plan, &results);
    }
    reporter.done(ok, session.sources_hashed + outputs_hashed);
    Ok(if was_cancelled {
        ExitCode::from(130)
    } else if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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
    format: Format,
) -> Result<ExitCode> {
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
        match format {
            Format::Json => println!(
                "{}",
                serde_json::json!({"event": "dry_run", "action": name, "id": id.map(|d| d.short()), "verdict": verdict})
            ),
            Format::Human => println!(
                "{name} ({}): {verdict}",
                id.map(|d| d.short())
                    .unwrap_or_else(|| "id not yet known".into())
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The closing report, in the shape of `opensafely run`'s.
fn summary(session: &Session, plan: &Plan, results: &BTreeMap<String, ActionOutcome>) {
    let mut cached = 0;
    let mut blocks: Vec<(bool, String)> = Vec::new();
    let mut not_run = Vec::new();
    for a in &plan.order {
        let Some(o) = results.get(a) else { continue };
        match o.status {
            Status::Cached | Status::Withheld => cached += 1,
            Status::DependencyFailed => not_run.push(a.as_str()),
            Status::Ran | Status::Failed => {
                let mut b = format!("=> {a}\n");
                for line in o.message.lines() {
                    b.push_str(&format!("   {line}\n"));
                }
                if let Some(f) = &o.failure
                    && let Some(ws) = &f.workspace
                {
                    b.push_str(&format!("   workspace kept at: {}\n", ws.display()));
                }
                let log = metalog::log_path(Path::new(""), a);
                b.push_str(&format!("\n   log file: {}\n", log.display()));
                if let Some(r) = &o.realisation {
                    b.push_str("   outputs:\n");
                    let rows: Vec<(String, String)> = r
                        .outputs
                        .files
                        .iter()
                        .map(|(p, e)| (p.clone(), e.level.clone()))
                        .collect();
                    for line in metalog::table(&rows, "(no outputs)").lines() {
                        b.push_str(&format!("   {line}\n"));
                    }
                }
                if !o.level4.is_empty() {
                    b.push_str("   invalid moderately_sensitive outputs:\n");
                    for line in metalog::table(&o.level4, "").lines() {
                        b.push_str(&format!("   {line}\n"));
                    }
                }
                if o.status == Status::Failed
                    && let Some(log) = &o.log
                    && !log.is_empty()
                {
                    b.push_str("   logs (truncated):\n");
                    let text = String::from_utf8_lossy(log);
                    let lines: Vec<&str> = text.lines().collect();
                    for line in &lines[lines.len().saturating_sub(32)..] {
                        b.push_str(&format!("     {line}\n"));
                    }
                }
                blocks.push((o.status == Status::Failed, b));
            }
        }
    }
    blocks.sort_by_key(|(failed, _)| *failed);
    for (_, b) in &blocks {
        println!("{b}");
    }
    if cached > 0 {
        println!(
            "=> {cached} action(s) up to date: outputs restored from the store at {}",
            session.store.root().display()
        );
    }
    if !not_run.is_empty() {
        println!("=> not run: {}", not_run.join(", "));
    }
}

/// One `cairn run` at a time per project; a second one waits its turn.
struct ProjectLock {
    _file: File,
}

impl ProjectLock {
    fn acquire(project_dir: &Path) -> Result<ProjectLock> {
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
                eprintln!("waiting for another cairn run in this project to finish…");
                file.lock()?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        Ok(ProjectLock { _file: file })
    }
}

fn install_ctrlc(flag: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: stop waiting for cleanup.
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping running actions…");
    });
}
