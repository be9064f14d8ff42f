//! `cairn status`: whether each action is fresh, stale or never run.

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
    NeverRun,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Fresh => "fresh",
            State::Stale => "stale",
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
        let state = match (&realisation, session.state.actions.contains_key(&name)) {
            (Some(_), _) => State::Fresh,
            (None, true) => State::Stale,
            (None, false) => State::NeverRun,
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
    match format {
        Format::Json => {
            let actions: Vec<_> = evaluated
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "action": e.name,
                        "id": e.id.map(|d| d.short()),
                        "state": e.state.as_str(),
                    })
                })
                .collect();
            println!("{}", serde_json::json!({ "actions": actions }));
        }
        Format::Human => {
            let width = evaluated.iter().map(|e| e.name.len()).max().unwrap_or(0);
            for e in &evaluated {
                let id = e.id.map(|d| d.short()).unwrap_or_else(|| "-".repeat(16));
                println!("{:<width$}  {id}  {}", e.name, e.state.as_str());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
