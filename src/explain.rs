//! `cairn explain ACTION`: which field of the derivation changed since the
//! action's outputs were last put in the project.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Result, bail};
use cairn_store::Derivation;

use crate::session::Session;
use crate::status::{State, evaluate};

pub fn explain(session: &Session, action: &str) -> Result<ExitCode> {
    if !session.project.actions.contains_key(action) {
        bail!("Action '{action}' not found in project.yaml");
    }
    let evaluated = evaluate(session)?;
    let by_name: BTreeMap<&str, _> = evaluated.iter().map(|e| (e.name.as_str(), e)).collect();
    let e = by_name[action];
    let previous = session.state.actions.get(action);
    let mut out = String::new();
    match (e.state, &e.derivation) {
        (State::Fresh, Some(drv)) => {
            let r = e.realisation.as_ref().expect("fresh means realised");
            let _ = writeln!(
                out,
                "{action} is fresh: derivation {} has outputs in the store (built {} by the {} executor{}).",
                drv.id().short(),
                crate::metalog::iso8601(r.finished_at),
                r.executor,
                r.commit
                    .as_deref()
                    .map(|c| format!(" from commit {}", &c[..c.len().min(12)]))
                    .unwrap_or_default()
            );
            if previous.is_some_and(|p| p.derivation != drv.id()) {
                let _ = writeln!(
                    out,
                    "The project's files come from another derivation; `cairn run {action}` restores these."
                );
            }
        }
        (_, None) => {
            let stale: Vec<&str> = session
                .action(action)
                .needs
                .iter()
                .filter(|n| by_name[n.as_str()].realisation.is_none())
                .map(String::as_str)
                .collect();
            let _ = writeln!(
                out,
                "{action} is {}: its derivation depends on the outputs of {}, which must be rebuilt first.",
                e.state.as_str().replace('_', " "),
                stale.join(", ")
            );
            for n in stale {
                let _ = writeln!(out, "  run `cairn explain {n}` to see why {n} is stale");
            }
        }
        (_, Some(drv)) => match previous.map(|p| session.store.derivation(&p.derivation)) {
            None => {
                let _ = writeln!(out, "{action} has never run in this project.");
            }
            Some(Ok(Some(old))) => {
                let _ = writeln!(
                    out,
                    "{action} is stale: derivation {} (last built) → {} (now). What changed:",
                    old.id().short(),
                    drv.id().short()
                );
                for l in reasons(session, action, &old, drv)? {
                    let _ = writeln!(out, "  - {l}");
                }
            }
            Some(_) => {
                let _ = writeln!(
                    out,
                    "{action} is stale, but its previous derivation is no longer in the store (garbage-collected?)."
                );
            }
        },
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Why `action`, whose outputs in the project come from derivation `old`,
/// is stale with derivation `new`: what changed in the derivation, then
/// what changed among what it observed.
pub fn reasons(
    session: &Session,
    action: &str,
    old: &Derivation,
    new: &Derivation,
) -> Result<Vec<String>> {
    let mut lines = diff(old, new);
    let observed = session
        .state
        .actions
        .get(action)
        .and_then(|p| p.key)
        .and_then(|k| session.store.realisation(&k).ok().flatten());
    match observed {
        Some(r) => {
            let sources = session.sources_for(action)?;
            lines.extend(crate::observe::changes(action, &r.observations, &sources));
        }
        None if old.id() == new.id() => lines.push(
            "what it observed is unknown: its last realisation is no longer in the store".into(),
        ),
        None => {}
    }
    if lines.is_empty() {
        lines.push("nothing it observed: its realisation was removed from the store".into());
    }
    Ok(lines)
}

/// What differs between two derivations, one line per field.
pub fn diff(old: &Derivation, new: &Derivation) -> Vec<String> {
    let mut out = Vec::new();
    if old.format != new.format {
        out.push(format!(
            "derivation format: {} → {}",
            old.format, new.format
        ));
    }
    if old.argv != new.argv {
        out.push(format!(
            "command changed:\n      was: {}\n      now: {}",
            old.argv.join(" "),
            new.argv.join(" ")
        ));
    }
    if old.image != new.image {
        if old.image.reference != new.image.reference {
            out.push(format!(
                "image changed: {} → {}",
                old.image.reference, new.image.reference
            ));
        } else {
            out.push(format!(
                "image changed: {} is now {} (was {})",
                new.image.reference, new.image.identity, old.image.identity
            ));
        }
    }
    if old.env != new.env {
        out.push("environment changed".into());
    }
    if old.action != new.action {
        out.push("output patterns changed".into());
    }
    if old.visible != new.visible {
        out.push("declared inputs ([actions.NAME] inputs in cairn.toml) changed".into());
    }
    for (need, digest) in &new.inputs {
        match old.inputs.get(need) {
            Some(o) if o == digest => {}
            Some(_) => out.push(format!("the outputs of {need} changed")),
            None => out.push(format!("now needs {need}")),
        }
    }
    for need in old.inputs.keys().filter(|n| !new.inputs.contains_key(*n)) {
        out.push(format!("no longer needs {need}"));
    }
    out
}
