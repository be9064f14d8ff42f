//! Bringing the project's output files in line with the run's realisations.
//!
//! For every path, the action latest in dependency order wins. Files are only
//! read when their stat data no longer proves what cairn wrote; a user's edit
//! or deletion is undone with a message; outputs that an action's previous
//! realisation produced and its new one does not are removed. Actions that
//! failed keep whatever the project held before.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, Result};
use cairn_store::{OutputEntry, Realisation};
use rayon::prelude::*;

use super::event::{EventSink, Status};
use super::schedule::ActionOutcome;
use crate::metalog::{self, Trailer};
use crate::plan::Plan;
use crate::session::Session;
use crate::statcache::{Stamp, hash_file, now_ns};
use crate::state::{ActionState, FailureState, FileState, ProjectState};

enum Want<'a> {
    Write(&'a str, OutputEntry),
    Keep,
}

/// An output file the project may not hold as recorded.
struct Restore<'a> {
    path: String,
    action: &'a str,
    entry: OutputEntry,
    full: std::path::PathBuf,
    /// The size of what the project has there now, if anything.
    present: Option<u64>,
    /// Whether cairn wrote this very content there before (so a difference
    /// is the user's edit or deletion).
    was_ours: bool,
}

struct Restored {
    /// Whether the project's file had to be read.
    hashed: bool,
    how: How,
}

enum How {
    /// The project's file already held the content.
    AlreadyThere,
    Written,
    /// Highly sensitive content this store does not have.
    Withheld,
    /// The store's copy is corrupt (now quarantined) or missing.
    Damaged(cairn_store::Error),
}

impl Restore<'_> {
    fn run(&self, session: &Session) -> Result<Restored> {
        let same_size = self.present == Some(self.entry.size);
        if same_size && hash_file(&self.full)? == self.entry.object {
            return Ok(Restored {
                hashed: true,
                how: How::AlreadyThere,
            });
        }
        let how = if self.entry.level == cairn_store::HIGHLY_SENSITIVE
            && !session.store.has_object(&self.entry.object)
        {
            How::Withheld
        } else {
            match session.store.materialize_file(&self.entry, &self.full) {
                Ok(()) => How::Written,
                Err(
                    error @ (cairn_store::Error::Corrupt { .. }
                    | cairn_store::Error::MissingObject { .. }),
                ) => How::Damaged(error),
                Err(e) => {
                    return Err(e).with_context(|| format!("writing {}", self.full.display()));
                }
            }
        };
        Ok(Restored {
            hashed: same_size,
            how,
        })
    }
}

/// What reconciling did.
#[derive(Default)]
pub struct Reconciled {
    /// Files whose content had to be read.
    pub hashed: usize,
    /// Outputs that could not be restored because the store's copy is
    /// corrupt (now quarantined) or lost: their actions must run again.
    pub damaged: Vec<Damaged>,
}

/// An output the store could not give back.
pub struct Damaged {
    pub action: String,
    pub path: String,
    pub error: cairn_store::Error,
}

pub fn reconcile(
    session: &Session,
    plan: &Plan,
    results: &BTreeMap<String, ActionOutcome>,
    state: &mut ProjectState,
    sink: &dyn EventSink,
    cancelled: bool,
) -> Result<Reconciled> {
    let mut hashed = 0;
    let mut damaged = Vec::new();
    let dir = &session.project_dir;
    let mut desired: BTreeMap<String, Want> = BTreeMap::new();
    let mut held: HashMap<&str, Vec<(&String, &FileState)>> = HashMap::new();
    for (p, f) in &state.files {
        held.entry(f.action.as_str()).or_default().push((p, f));
    }
    let held_by = |a: &str| held.get(a).map(Vec::as_slice).unwrap_or(&[]);
    for a in &plan.order {
        let outcome = results.get(a);
        match (
            outcome.and_then(|o| o.realisation.as_deref()),
            outcome.and_then(|o| o.manifest),
        ) {
            (Some(r), _) => {
                for (p, e) in &r.outputs.files {
                    desired.insert(p.clone(), Want::Write(a, e.clone()));
                }
            }
            // The project already holds these outputs: keep them, checked.
            (None, Some(_)) => {
                for (p, f) in held_by(a) {
                    desired.insert((*p).clone(), Want::Write(a, f.entry()));
                }
            }
            (None, None) => {
                for (p, _) in held_by(a) {
                    desired.insert((*p).clone(), Want::Keep);
                }
            }
        }
    }

    // Outputs of planned actions that no planned realisation produces any
    // more, and of actions that project.yaml no longer has (a build of
    // another commit leaves the work tree's actions alone).
    let planned: HashSet<&str> = plan.order.iter().map(String::as_str).collect();
    let removed = |a: &str| !session.from_commit && !session.project.actions.contains_key(a);
    let obsolete: Vec<String> = state
        .files
        .iter()
        .filter(|(p, f)| {
            (planned.contains(f.action.as_str()) || removed(&f.action)) && !desired.contains_key(*p)
        })
        .map(|(p, _)| p.clone())
        .collect();
    let gone: Vec<String> = state
        .actions
        .keys()
        .filter(|a| removed(a))
        .cloned()
        .collect();
    for a in gone {
        state.actions.remove(&a);
        let log = metalog::log_path(dir, &a);
        if log.exists() {
            std::fs::remove_file(&log).with_context(|| format!("removing {}", log.display()))?;
            let shown = metalog::log_path(std::path::Path::new(""), &a);
            sink.note(&format!(
                "removed {}: {a} is no longer in project.yaml",
                shown.display()
            ));
        }
    }
    for p in obsolete {
        let f = state.files.remove(&p).expect("listed above");
        let full = dir.join(&p);
        if full.exists() {
            std::fs::remove_file(&full).with_context(|| format!("removing {}", full.display()))?;
            let why = if removed(&f.action) {
                format!(
                    "no longer an output of {} (it is no longer in project.yaml)",
                    f.action
                )
            } else {
                format!("no longer an output of {}", f.action)
            };
            sink.note(&format!("removed {p}: {why}"));
        }
    }

    // Files whose stat data proves them are settled here; the rest are
    // checked and restored in parallel (each verified on its way out of the
    // store), then recorded in order.
    let mut todo: Vec<Restore> = Vec::new();
    for (p, want) in desired {
        let Want::Write(action, entry) = want else {
            continue;
        };
        let full = dir.join(&p);
        let previous = state.files.get(&p);
        let stamp = std::fs::metadata(&full).ok().map(|m| Stamp::of(&m));
        if let (Some(prev), Some(s)) = (previous, &stamp)
            && prev.object == entry.object
            && prev.proves(s)
        {
            if prev.action != action {
                state.files.get_mut(&p).expect("present").action = action.to_string();
            }
            continue;
        }
        let was_ours = previous.is_some_and(|prev| prev.object == entry.object);
        todo.push(Restore {
            path: p,
            action,
            entry,
            full,
            present: stamp.map(|s| s.size),
            was_ours,
        });
    }
    let done: Vec<Result<Restored>> = todo.par_iter().map(|r| r.run(session)).collect();
    for (r, result) in todo.iter().zip(done) {
        let restored = result?;
        if restored.hashed {
            hashed += 1;
        }
        match restored.how {
            How::Withheld => {
                sink.note(&format!(
                    "{} is withheld: its {} content is not in this store",
                    r.path, r.entry.level
                ));
                continue;
            }
            How::Damaged(error) => {
                damaged.push(Damaged {
                    action: r.action.to_string(),
                    path: r.path.clone(),
                    error,
                });
                continue;
            }
            How::Written if r.was_ours => {
                let what = if r.present.is_some() {
                    "edited"
                } else {
                    "deleted"
                };
                sink.note(&format!(
                    "restored {}: it was {what} since cairn wrote it (outputs of {} come from the store)",
                    r.path, r.action
                ));
            }
            How::Written | How::AlreadyThere => {}
        }
        let recorded_at_ns = now_ns();
        let s = Stamp::of(&std::fs::metadata(&r.full)?);
        state.files.insert(
            r.path.clone(),
            FileState {
                action: r.action.to_string(),
                object: r.entry.object,
                mode: r.entry.mode,
                level: r.entry.level.clone(),
                size: s.size,
                mtime_ns: s.mtime_ns,
                ctime_ns: s.ctime_ns,
                ino: s.ino,
                recorded_at_ns,
            },
        );
    }

    for a in &plan.order {
        let Some(o) = results.get(a) else { continue };
        write_log(session, a, o, state)?;
        record_failure(a, o, state, cancelled);
        if let (Some(r), Some(key)) = (&o.realisation, o.key) {
            let unchanged = state
                .actions
                .get(a)
                .is_some_and(|s| s.key == Some(key) && s.manifest.is_some());
            if !unchanged {
                state.actions.insert(
                    a.clone(),
                    ActionState {
                        derivation: r.derivation,
                        key: Some(key),
                        manifest: Some(r.outputs.digest()),
                        observed: Some(r.observations.path_set()),
                    },
                );
            }
        }
    }
    Ok(Reconciled { hashed, damaged })
}

/// Remembers `a`'s failure (for `cairn status`), or forgets it once `a` has
/// outputs again. Only the latest failed workspace of an action is kept.
/// An action stopped because the run was cancelled did not fail: nothing is
/// recorded for it (and its workspace is not kept).
fn record_failure(a: &str, o: &ActionOutcome, state: &mut ProjectState, cancelled: bool) {
    let workspace = o.failure.as_ref().and_then(|f| f.workspace.clone());
    if cancelled && o.status == Status::Failed {
        if let Some(ws) = workspace {
            let _ = std::fs::remove_dir_all(ws.parent().unwrap_or(&ws));
        }
        return;
    }
    let obsolete = match o.status {
        Status::Failed => state.failures.insert(
            a.to_string(),
            FailureState {
                at: super::build::unix_now(),
                message: o.message.clone(),
                workspace: workspace.clone(),
            },
        ),
        _ if o.manifest.is_some() => state.failures.remove(a),
        _ => None,
    };
    if let Some(old) = obsolete.and_then(|f| f.workspace)
        && Some(&old) != workspace.as_ref()
    {
        // The kept directory is `<scratch>/workspace`: remove the scratch.
        let _ = std::fs::remove_dir_all(old.parent().unwrap_or(&old));
    }
}

/// Writes `metadata/<action>.log` when the action ran or failed now, or when
/// the project's log is not the one of the realisation now in place.
fn write_log(session: &Session, a: &str, o: &ActionOutcome, state: &ProjectState) -> Result<()> {
    let action = session.action(a);
    let image = format!("{}:{}", action.image, action.tag);
    let image_id = session
        .executor
        .identity(&action.image, &action.tag)
        .unwrap_or_default();
    let path = metalog::log_path(&session.project_dir, a);
    // Outputs the project already held: their log is in place, or is
    // rewritten from the realisation.
    let loaded;
    let realisation = match (&o.realisation, o.manifest, o.key) {
        (Some(r), _, _) => Some(r),
        (None, Some(_), Some(_)) if path.exists() => return Ok(()),
        (None, Some(_), Some(key)) => {
            loaded = session.store.realisation(&key)?.map(std::sync::Arc::new);
            loaded.as_ref()
        }
        _ => None,
    };
    match (realisation, o.status) {
        (Some(r), status) => {
            let current = state
                .actions
                .get(a)
                .is_some_and(|s| s.derivation == r.derivation);
            if status == Status::Cached && current && path.exists() {
                return Ok(());
            }
            let log = match &o.log {
                Some(l) => l.clone(),
                None => r
                    .log
                    .and_then(|d| session.store.read_object(&d).ok())
                    .unwrap_or_default(),
            };
            let trailer = success_trailer(r, &o.message, &image, &image_id, &o.level4);
            metalog::write(&session.project_dir, a, &log, &trailer)
        }
        (None, Status::Failed) => {
            let now = super::build::unix_now();
            let failure = o.failure.as_ref();
            let trailer = Trailer {
                status: &o.message,
                derivation: o.id.as_ref(),
                image: &image,
                image_id: &image_id,
                executor: session.executor.kind(),
                exit_code: failure.and_then(|f| f.exit_code),
                created_at: now - o.elapsed.map(|d| d.as_secs() as i64).unwrap_or(0),
                completed_at: now,
                commit: session.commit.as_deref(),
                dirty: false,
                outputs: Vec::new(),
                level4: Vec::new(),
                workspace: failure.and_then(|f| f.workspace.as_deref()),
            };
            let log = o.log.clone().unwrap_or_default();
            metalog::write(&session.project_dir, a, &log, &trailer)
        }
        _ => Ok(()),
    }
}

fn success_trailer<'a>(
    r: &'a Realisation,
    status: &'a str,
    image: &'a str,
    image_id: &'a str,
    level4: &[(String, String)],
) -> Trailer<'a> {
    Trailer {
        status,
        derivation: Some(&r.derivation),
        image,
        image_id,
        executor: &r.executor,
        exit_code: Some(r.exit_code),
        created_at: r.started_at,
        completed_at: r.finished_at,
        commit: r.commit.as_deref(),
        dirty: r.dirty,
        outputs: r
            .outputs
            .files
            .iter()
            .map(|(p, e)| (p.clone(), e.level.clone()))
            .collect(),
        level4: level4.to_vec(),
        workspace: None,
    }
}
