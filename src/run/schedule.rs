//! The scheduler: derivations are computed as soon as their inputs' outputs
//! are known, fresh ones are restored, stale ones run on up to N threads.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Result;
use cairn_store::{Digest, Realisation};

use super::build::{self, Built, Failure, Provenance, Request};
use super::event::{Event, EventSink, OutputFile, Status};
use crate::plan::Plan;
use crate::session::Session;

/// How the scheduler behaves.
pub struct Options<'a> {
    /// Actions to rebuild even if their derivation has a realisation.
    pub forced: &'a HashSet<String>,
    pub jobs: usize,
    pub continue_on_error: bool,
}

/// What happened to one action of the plan.
pub struct ActionOutcome {
    pub status: Status,
    /// The derivation id (what users see as the action's identifier).
    pub id: Option<Digest>,
    /// The key of the realisation whose outputs the action has, once known.
    pub key: Option<Digest>,
    /// The digest of the outputs, once the action has them (ran or cached).
    pub manifest: Option<Digest>,
    /// The realisation, when it was read (not for actions whose outputs the
    /// project already holds: reading it is not needed to know they are fresh).
    pub realisation: Option<Arc<Realisation>>,
    pub message: String,
    pub level4: Vec<(String, String)>,
    pub elapsed: Option<Duration>,
    /// The action's log, if it ran (successfully or not) in this invocation.
    pub log: Option<Vec<u8>>,
    pub failure: Option<Failure>,
}

impl ActionOutcome {
    fn new(status: Status, id: Option<Digest>, message: impl Into<String>) -> ActionOutcome {
        ActionOutcome {
            status,
            id,
            key: None,
            manifest: None,
            realisation: None,
            message: message.into(),
            level4: Vec::new(),
            elapsed: None,
            log: None,
            failure: None,
        }
    }
}

type Done = (String, Digest, Instant, Result<Built>);

pub fn execute(
    session: &Session,
    plan: &Plan,
    opts: &Options,
    sink: &dyn EventSink,
    cancelled: &AtomicBool,
) -> BTreeMap<String, ActionOutcome> {
    let position: HashMap<&str, usize> = plan
        .order
        .iter()
        .enumerate()
        .map(|(i, a)| (a.as_str(), i))
        .collect();
    let mut waiting: HashMap<&str, usize> = HashMap::new();
    let mut dependants: HashMap<&str, Vec<&str>> = HashMap::new();
    for a in &plan.order {
        let needs: BTreeSet<&str> = session.action(a).needs.iter().map(String::as_str).collect();
        waiting.insert(a, needs.len());
        for n in needs {
            dependants.entry(n).or_default().push(a);
        }
    }
    let mut ready: BTreeSet<(usize, &str)> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(a, _)| (position[a], *a))
        .collect();

    let mut results: BTreeMap<String, ActionOutcome> = BTreeMap::new();
    let mut manifests: HashMap<String, Digest> = HashMap::new();
    let mut realised: HashMap<String, Arc<Realisation>> = HashMap::new();
    let provenance: OnceLock<Provenance> = OnceLock::new();
    let (tx, rx) = mpsc::channel::<Done>();
    let mut stopped = false;
    let mut told_untraced = false;
    let mut forced: HashSet<String> = opts.forced.clone();
    // Withheld actions being rebuilt, and the stale actions waiting for them.
    let mut rebuild_waiters: HashMap<&str, Vec<&str>> = HashMap::new();

    let held = held_outputs(session);
    std::thread::scope(|scope| {
        let mut running = 0usize;
        loop {
            while !stopped && running < opts.jobs.max(1) {
                let Some((_, name)) = ready.pop_first() else {
                    break;
                };
                let prepared = prepare(session, name, &manifests, forced.contains(name), sink);
                let (drv, sources, id) = match prepared {
                    Ok(Prepared::InPlace { id, key, manifest }) => {
                        let msg = "Reusing cached outputs";
                        manifests.insert(name.to_string(), manifest);
                        let mut o = ActionOutcome::new(Status::Cached, Some(id), msg);
                        o.key = Some(key);
                        o.manifest = Some(manifest);
                        let none = Vec::new();
                        finished(sink, name, &o, held.get(name).unwrap_or(&none));
                        results.insert(name.to_string(), o);
                        release(name, &dependants, &mut waiting, &mut ready, &position);
                        continue;
                    }
                    Ok(Prepared::Cached { id, key, r }) => {
                        let (status, msg) = if is_withheld(session, &r) {
                            (
                                Status::Withheld,
                                "Outputs known, but their highly_sensitive content is not in this store",
                            )
                        } else {
                            (Status::Cached, "Reusing cached outputs")
                        };
                        manifests.insert(name.to_string(), r.outputs.digest());
                        let r = Arc::new(r);
                        realised.insert(name.to_string(), r.clone());
                        let mut o = ActionOutcome::new(status, Some(id), msg);
                        o.key = Some(key);
                        o.manifest = Some(r.outputs.digest());
                        o.realisation = Some(r);
                        finished(sink, name, &o, &[]);
                        results.insert(name.to_string(), o);
                        release(name, &dependants, &mut waiting, &mut ready, &position);
                        continue;
                    }
                    Ok(Prepared::Stale(drv, sources)) => {
                        // A stale action needs the content of what it reads:
                        // rebuild inputs whose content is not in the store
                        // first, then come back.
                        let mut withheld: Vec<&str> = Vec::new();
                        for n in session.action(name).needs.iter().collect::<BTreeSet<_>>() {
                            let n = n.as_str();
                            let Some(r) = upstream_realisation(session, n, &results, &mut realised)
                            else {
                                continue;
                            };
                            if results.get(n).is_some_and(|o| o.status == Status::Withheld)
                                || r.outputs
                                    .files
                                    .values()
                                    .any(|e| !session.store.has_object(&e.object))
                            {
                                withheld.push(n);
                            }
                        }
                        if !withheld.is_empty() {
                            for n in withheld {
                                let n = plan.order[position[n]].as_str();
                                results.remove(n);
                                forced.insert(n.to_string());
                                rebuild_waiters.entry(n).or_default().push(name);
                                *waiting.get_mut(name).expect("planned") += 1;
                                ready.insert((position[n], n));
                            }
                            continue;
                        }
                        let id = drv.id();
                        (drv, sources, id)
                    }
                    Err(e) => {
                        let o = ActionOutcome::new(Status::Failed, None, format!("{e:#}"));
                        finished(sink, name, &o, &[]);
                        results.insert(name.to_string(), o);
                        stopped |= !opts.continue_on_error;
                        continue;
                    }
                };
                let provenance = provenance.get_or_init(|| Provenance {
                    commit: session.commit.clone(),
                    dirty: !session.from_commit
                        && session
                            .git
                            .as_ref()
                            .is_some_and(|g| g.is_dirty().unwrap_or(true)),
                });
                let upstream: Vec<Arc<Realisation>> = session
                    .action(name)
                    .needs
                    .iter()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .filter_map(|n| realised.get(n.as_str()).cloned())
                    .collect();
                sink.event(&Event::Started {
                    action: name,
                    id: &id,
                });
                running += 1;
                let tx = tx.clone();
                let force = forced.contains(name);
                scope.spawn(move || {
                    let start = Instant::now();
                    let built = build::build(
                        session,
                        &Request {
                            name,
                            drv: &drv,
                            id,
                            sources: &sources,
                            upstream,
                            force,
                            provenance,
                            cancelled,
                        },
                    );
                    let _ = tx.send((name.to_string(), id, start, built));
                });
            }
            if running == 0 {
                break;
            }
            let (name, id, start, built) = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(done) => done,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if cancelled.load(Ordering::SeqCst) && !stopped {
                        stopped = true;
                        session.executor.cancel_all();
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            running -= 1;
            let elapsed = start.elapsed();
            if let Ok(Built::InputDamaged {
                upstream,
                path,
                error,
            }) = &built
            {
                // The needed action's outputs cannot be trusted: drop its
                // realisation, build it again, then come back to this one.
                let name_ref = plan.order[position[name.as_str()]].as_str();
                let need = session
                    .action(name_ref)
                    .needs
                    .iter()
                    .find(|n| results.get(n.as_str()).and_then(|o| o.key) == Some(*upstream));
                if let Some(n) = need
                    && !forced.contains(n.as_str())
                {
                    let n = plan.order[position[n.as_str()]].as_str();
                    sink.note(&damage_note(path, n, error));
                    if let Err(e) = session.store.quarantine_realisation(upstream) {
                        sink.note(&format!("warning: {e}"));
                    }
                    results.remove(n);
                    realised.remove(n);
                    manifests.remove(n);
                    forced.insert(n.to_string());
                    rebuild_waiters.entry(n).or_default().push(name_ref);
                    *waiting.get_mut(name_ref).expect("planned") += 1;
                    ready.insert((position[n], n));
                    continue;
                }
            }
            let outcome = match built {
                Ok(Built::Ran {
                    realisation,
                    level4,
                    log,
                    untraced,
                    discarded,
                }) => {
                    if !discarded.is_empty() {
                        let shown: Vec<&str> =
                            discarded.iter().take(10).map(String::as_str).collect();
                        let more = match discarded.len() - shown.len() {
                            0 => String::new(),
                            n => format!(" and {n} more"),
                        };
                        sink.note(&format!(
                            "note: {name} wrote files that match none of its output patterns, so they were discarded: {}{more}",
                            shown.join(", ")
                        ));
                    }
                    if let Some(why) = untraced
                        && !told_untraced
                    {
                        told_untraced = true;
                        sink.note(&format!(
                            "note: {name} ran untraced ({why}), so it depends on every file it could see (and so may other actions of this run)"
                        ));
                    }
                    let mut msg = format!("Completed successfully in {}", seconds(elapsed));
                    if !level4.is_empty() {
                        msg = format!(
                            "Completed successfully, but {} file(s) marked as moderately_sensitive were excluded. See job log for details.",
                            level4.len()
                        );
                    }
                    let mut o = ActionOutcome::new(Status::Ran, Some(id), msg);
                    o.key = Some(realisation.key());
                    o.manifest = Some(realisation.outputs.digest());
                    o.realisation = Some(Arc::new(realisation));
                    o.level4 = level4;
                    o.log = Some(log);
                    o
                }
                Ok(Built::Elsewhere(r)) => {
                    let mut o = ActionOutcome::new(
                        Status::Cached,
                        Some(id),
                        "Reusing outputs built meanwhile by another cairn run",
                    );
                    o.key = Some(r.key());
                    o.manifest = Some(r.outputs.digest());
                    o.realisation = Some(Arc::new(r));
                    o
                }
                Ok(Built::Failed(f)) => {
                    let mut o = ActionOutcome::new(Status::Failed, Some(id), f.message.clone());
                    o.log = Some(f.log.clone());
                    o.failure = Some(f);
                    o
                }
                Ok(Built::InputDamaged { path, error, .. }) => ActionOutcome::new(
                    Status::Failed,
                    Some(id),
                    format!("input {path} could not be restored from the store: {error}"),
                ),
                Err(e) => ActionOutcome::new(Status::Failed, Some(id), format!("{e:#}")),
            };
            let mut o = outcome;
            o.elapsed = Some(elapsed);
            finished(sink, &name, &o, &[]);
            let name_ref = plan.order[position[name.as_str()]].as_str();
            if let (Some(m), Some(r)) = (o.manifest, &o.realisation) {
                manifests.insert(name.clone(), m);
                realised.insert(name.clone(), r.clone());
                match rebuild_waiters.remove(name_ref) {
                    Some(waiters) => {
                        let only: HashMap<&str, Vec<&str>> = HashMap::from([(name_ref, waiters)]);
                        release(name_ref, &only, &mut waiting, &mut ready, &position);
                    }
                    None => release(name_ref, &dependants, &mut waiting, &mut ready, &position),
                }
            } else {
                stopped |= !opts.continue_on_error;
            }
            results.insert(name, o);
        }
    });

    // Whatever never started: dependants of a failure, or cut off by a stop.
    for a in &plan.order {
        if results.contains_key(a) {
            continue;
        }
        let failed_need = session
            .action(a)
            .needs
            .iter()
            .any(|n| results.get(n).is_some_and(|o| o.manifest.is_none()));
        let message = if cancelled.load(Ordering::SeqCst) {
            "Cancelled by user"
        } else if failed_need {
            "Not starting as dependency failed"
        } else {
            "Not started: the run stopped at the first failure (use --continue-on-error to run independent actions)"
        };
        let o = ActionOutcome::new(Status::DependencyFailed, None, message);
        finished(sink, a, &o, &[]);
        results.insert(a.clone(), o);
    }
    results
}

/// Tells `sink` how `name` ended; `held` lists its outputs when the
/// outcome has no realisation to read them from.
fn finished(sink: &dyn EventSink, name: &str, o: &ActionOutcome, held: &[OutputFile]) {
    let outputs = match &o.realisation {
        Some(r) => r
            .outputs
            .files
            .iter()
            .map(|(path, e)| OutputFile {
                path: path.clone(),
                size: e.size,
                level: e.level.clone(),
            })
            .collect(),
        None => held.to_vec(),
    };
    sink.event(&Event::Finished {
        action: name,
        id: o.id.as_ref(),
        status: o.status,
        message: &o.message,
        elapsed: o.elapsed,
        outputs: &outputs,
    });
}

/// The outputs the project holds, by action, from its state: gathered in one
/// pass (a scan per action would cost actions × files on a no-op run).
fn held_outputs(session: &Session) -> HashMap<&str, Vec<OutputFile>> {
    let mut held: HashMap<&str, Vec<OutputFile>> = HashMap::new();
    for (path, f) in &session.state.files {
        held.entry(f.action.as_str()).or_default().push(OutputFile {
            path: path.clone(),
            size: f.size,
            level: f.level.clone(),
        });
    }
    held
}

/// Whether some highly_sensitive output of `r` has no content in the store
/// (it came from an archive or remote that withheld it).
fn is_withheld(session: &Session, r: &Realisation) -> bool {
    r.outputs
        .files
        .values()
        .any(|e| e.level == "highly_sensitive" && !session.store.has_object(&e.object))
}

/// The realisation of `name`, which has outputs: from `realised`, or read
/// from the store now (actions the project already held were not read).
fn upstream_realisation<'r>(
    session: &Session,
    name: &str,
    results: &BTreeMap<String, ActionOutcome>,
    realised: &'r mut HashMap<String, Arc<Realisation>>,
) -> Option<&'r Arc<Realisation>> {
    if !realised.contains_key(name) {
        let key = results.get(name)?.key?;
        let r = session.store.realisation(&key).ok()??;
        realised.insert(name.to_string(), Arc::new(r));
    }
    realised.get(name)
}

enum Prepared<'s> {
    /// The project already holds this realisation's outputs.
    InPlace {
        id: Digest,
        key: Digest,
        manifest: Digest,
    },
    Cached {
        id: Digest,
        key: Digest,
        r: Realisation,
    },
    Stale(
        cairn_store::Derivation,
        std::borrow::Cow<'s, crate::sources::SourceTree>,
    ),
}

fn prepare<'s>(
    session: &'s Session,
    name: &str,
    manifests: &HashMap<String, Digest>,
    forced: bool,
    sink: &dyn EventSink,
) -> Result<Prepared<'s>> {
    let inputs = session
        .inputs_of(name, manifests)
        .expect("an action is ready only when its needs have outputs");
    let sources = session.sources_for(name)?;
    let drv = session.derivation(name, inputs)?;
    let id = drv.id();
    if forced {
        return Ok(Prepared::Stale(drv, sources));
    }
    // What the project holds, proved current from the state alone: the same
    // derivation, and the paths it looked at still hold what they held.
    if let Some(s) = session.state.actions.get(name)
        && s.derivation == id
        && let (Some(key), Some(manifest), Some(observed)) = (s.key, s.manifest, &s.observed)
        && cairn_store::realisation_key(&id, &crate::observe::observe(&sources, observed)) == key
        && session.store.has_realisation(&key)
    {
        return Ok(Prepared::InPlace { id, key, manifest });
    }
    if let Some((key, r)) = session.lookup(&id, &sources)? {
        return Ok(Prepared::Cached { id, key, r });
    }
    if let Some(remote) = &session.remote
        && let Some((key, r)) = remote.fetch(session, &drv, &sources, sink)
    {
        return Ok(Prepared::Cached { id, key, r });
    }
    Ok(Prepared::Stale(drv, sources))
}

fn release<'a>(
    name: &'a str,
    dependants: &HashMap<&'a str, Vec<&'a str>>,
    waiting: &mut HashMap<&'a str, usize>,
    ready: &mut BTreeSet<(usize, &'a str)>,
    position: &HashMap<&'a str, usize>,
) {
    for d in dependants.get(name).map(Vec::as_slice).unwrap_or(&[]) {
        let n = waiting.get_mut(d).expect("dependant is planned");
        *n -= 1;
        if *n == 0 {
            ready.insert((position[d], d));
        }
    }
}

/// What the user is told when an output in the store turns out corrupt or
/// lost: which file, what was wrong, and that its action runs again.
pub fn damage_note(path: &str, action: &str, error: &cairn_store::Error) -> String {
    let what = match error {
        cairn_store::Error::Corrupt {
            path: moved,
            expected,
            actual,
        } => format!(
            "its stored copy is corrupt (object {expected} now hashes to {actual}; moved to {})",
            moved.display()
        ),
        cairn_store::Error::MissingObject { digest, .. } => {
            format!("its stored copy (object {digest}) is missing from the store")
        }
        other => other.to_string(),
    };
    format!("warning: {path}: {what}; running {action} again")
}

pub fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
