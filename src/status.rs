//! `cairn status`: for each action, whether it is fresh, stale (and the
//! first cause), failed (and when), or never run; how long it last ran; and
//! outputs edited or deleted in the project since cairn wrote them.

use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;

use anyhow::Result;
use cairn_store::{Derivation, Digest, Realisation};

use crate::cli::Format;
use crate::session::Session;

/// An action's state, as `cairn status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Its derivation has a realisation: a run would restore its outputs.
    Fresh,
    /// It ran before, but its derivation (or an upstream one) changed.
    Stale,
    /// Its last attempt failed, and nothing cached stands in for it.
    Failed,
    NeverRun,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Fresh => "fresh",
            State::Stale => "stale",
            State::Failed => "failed",
            State::NeverRun => "never_run",
        }
    }
}

/// One action, evaluated against the store.
pub struct Evaluated {
    pub name: String,
    pub derivation: Option<Derivation>,
    pub id: Option<Digest>,
    pub realisation: Option<Realisation>,
    pub state: State,
}

/// Evaluates every action in dependency order. A derivation is only known
/// when every action it needs has a realisation.
pub fn evaluate(session: &Session) -> Result<Vec<Evaluated>> {
    let all: BTreeSet<&str> = session.project.actions.keys().map(String::as_str).collect();
    let order = crate::plan::topological(&session.project, &all);
    let mut manifests = HashMap::new();
    let mut out = Vec::with_capacity(order.len());
    for name in order {
        let (derivation, realisation) = match session.inputs_of(&name, &manifests) {
            Some(inputs) => {
                let sources = session.sources_for(&name)?;
                let drv = session.derivation(&name, inputs)?;
                let r = session.lookup(&drv.id(), &sources)?.map(|(_, r)| r);
                (Some(drv), r)
            }
            None => (None, None),
        };
        if let Some(r) = &realisation {
            manifests.insert(name.clone(), r.outputs.digest());
        }
        let state = match (
            &realisation,
            session.state.failures.contains_key(&name),
            session.state.actions.contains_key(&name),
        ) {
            (Some(_), _, _) => State::Fresh,
            (None, true, _) => State::Failed,
            (None, false, true) => State::Stale,
            (None, false, false) => State::NeverRun,
        };
        out.push(Evaluated {
            id: derivation.as_ref().map(Derivation::id),
            name,
            derivation,
            realisation,
            state,
        });
    }
    Ok(out)
}

/// The first cause of `name` not being fresh, walking up through the
/// actions it needs to the one that changed (as `cairn explain` gives it).
pub fn first_cause(
    session: &Session,
    by_name: &HashMap<&str, &Evaluated>,
    name: &str,
) -> Result<Option<String>> {
    let e = by_name[name];
    if e.state == State::Fresh {
        return Ok(None);
    }
    if let Some(f) = session.state.failures.get(name)
        && e.state == State::Failed
    {
        let first = f.message.lines().next().unwrap_or("");
        return Ok(Some(format!("failed: {first}")));
    }
    let Some(drv) = &e.derivation else {
        // Its derivation waits on needs without outputs: the first of them
        // in file order is where to look.
        for n in &session.action(name).needs {
            let up = by_name[n.as_str()];
            if up.realisation.is_none() {
                let why = first_cause(session, by_name, n)?
                    .unwrap_or_else(|| up.state.as_str().replace('_', " "));
                return Ok(Some(format!("{n}: {why}")));
            }
        }
        return Ok(None);
    };
    let Some(previous) = session.state.actions.get(name) else {
        return Ok(Some("never run".into()));
    };
    Ok(Some(
        match session.store.derivation(&previous.derivation)? {
            Some(old) => crate::explain::reasons(session, name, &old, drv)?
                .into_iter()
                .next()
                .unwrap_or_default(),
            None => "its previous derivation is no longer in the store".into(),
        },
    ))
}

/// What `cairn status` says about one action beyond its state.
struct Row {
    cause: Option<String>,
    failed_at: Option<i64>,
    runtime: Option<i64>,
    edited: Vec<String>,
    deleted: Vec<String>,
}

fn row(session: &Session, by_name: &HashMap<&str, &Evaluated>, e: &Evaluated) -> Result<Row> {
    let cause = match e.state {
        State::Stale | State::Failed => first_cause(session, by_name, &e.name)?,
        _ => None,
    };
    let last = match &e.realisation {
        Some(r) => Some(r.clone()),
        None => session
            .state
            .actions
            .get(&e.name)
            .and_then(|a| a.key)
            .and_then(|k| session.store.realisation(&k).ok().flatten()),
    };
    let (mut edited, mut deleted) = (Vec::new(), Vec::new());
    for (path, f) in session
        .state
        .files
        .iter()
        .filter(|(_, f)| f.action == e.name)
    {
        let full = session.project_dir.join(path);
        match std::fs::symlink_metadata(&full) {
            Err(_) => deleted.push(path.clone()),
            Ok(m) if f.proves(&crate::statcache::Stamp::of(&m)) => {}
            Ok(_) => {
                // The stat data changed: only the content can tell a touch
                // from an edit.
                if crate::statcache::hash_file(&full).ok() != Some(f.object) {
                    edited.push(path.clone());
                }
            }
        }
    }
    Ok(Row {
        cause,
        failed_at: session.state.failures.get(&e.name).map(|f| f.at),
        runtime: last.map(|r| r.finished_at - r.started_at),
        edited,
        deleted,
    })
}

pub fn status(session: &Session, format: Format) -> Result<ExitCode> {
    let mut evaluated = evaluate(session)?;
    // Report in file order.
    let index: HashMap<&str, usize> = session
        .project
        .actions
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    evaluated.sort_by_key(|e| index[e.name.as_str()]);
    let by_name: HashMap<&str, &Evaluated> =
        evaluated.iter().map(|e| (e.name.as_str(), e)).collect();
    let rows: Vec<Row> = evaluated
        .iter()
        .map(|e| row(session, &by_name, e))
        .collect::<Result<_>>()?;
    match format {
        Format::Json => {
            let actions: Vec<_> = evaluated
                .iter()
                .zip(&rows)
                .map(|(e, r)| {
                    serde_json::json!({
                        "action": e.name,
                        "id": e.id.map(|d| d.short()),
                        "state": e.state.as_str(),
                        "cause": r.cause,
                        "failed_at": r.failed_at.map(crate::metalog::iso8601),
                        "runtime_s": r.runtime,
                        "edited": r.edited,
                        "deleted": r.deleted,
                    })
                })
                .collect();
            println!("{}", serde_json::json!({ "actions": actions }));
        }
        Format::Human => {
            let width = evaluated.iter().map(|e| e.name.len()).max().unwrap_or(0);
            for (e, r) in evaluated.iter().zip(&rows) {
                let id = e.id.map(|d| d.short()).unwrap_or_else(|| "-".repeat(16));
                let state = e.state.as_str().replace('_', " ");
                let runtime = r.runtime.map(|s| format!("{s}s")).unwrap_or("-".into());
                let mut detail = match (e.state, &r.cause, r.failed_at) {
                    (State::Failed, cause, Some(at)) => format!(
                        "{} at {}",
                        cause.as_deref().unwrap_or("failed"),
                        crate::metalog::iso8601(at),
                    ),
                    (_, Some(cause), _) => cause.clone(),
                    _ => String::new(),
                };
                if !detail.is_empty() {
                    detail = format!("  {detail}");
                }
                println!("{:<width$}  {id}  {state:<9}  {runtime:>5}{detail}", e.name);
                for p in &r.edited {
                    println!("    {p}: edited since cairn wrote it (the next run restores it)");
                }
                for p in &r.deleted {
                    println!("    {p}: deleted since cairn wrote it (the next run restores it)");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
