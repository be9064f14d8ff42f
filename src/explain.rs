//! `cairn explain ACTION`: which field of the derivation changed since the
//! action's outputs were last put in the project.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Result, bail};
use cairn_store::Derivation;

use crate::session::Session;
use crate::sources::parse_listing;
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
                let old_listing = previous
                    .and_then(|p| p.sources_listing)
                    .and_then(|d| session.store.read_object(&d).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                let new_listing = session.sources_for(action)?.listing();
                out.push_str(&diff(&old, drv, old_listing.as_deref(), &new_listing));
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

/// Human lines naming every field that differs between two derivations.
pub fn diff(
    old: &Derivation,
    new: &Derivation,
    old_listing: Option<&str>,
    new_listing: &str,
) -> String {
    let mut out = String::new();
    if old.format != new.format {
        let _ = writeln!(
            out,
            "  - derivation format: {} → {}",
            old.format, new.format
        );
    }
    if old.argv != new.argv {
        let _ = writeln!(
            out,
            "  - command changed:\n      was: {}\n      now: {}",
            old.argv.join(" "),
            new.argv.join(" ")
        );
    }
    if old.image != new.image {
        if old.image.reference != new.image.reference {
            let _ = writeln!(
                out,
                "  - image changed: {} → {}",
                old.image.reference, new.image.reference
            );
        } else {
            let _ = writeln!(
                out,
                "  - image changed: {} is now {} (was {})",
                new.image.reference, new.image.identity, old.image.identity
            );
        }
    }
    if old.env != new.env {
        let _ = writeln!(out, "  - environment changed");
    }
    if old.action != new.action {
        let _ = writeln!(out, "  - output patterns changed");
    }
    if old.sources != new.sources {
        match old_listing {
            Some(old_l) => {
                let before: BTreeMap<String, String> = parse_listing(old_l).into_iter().collect();
                let after: BTreeMap<String, String> =
                    parse_listing(new_listing).into_iter().collect();
                for (p, d) in &after {
                    match before.get(p) {
                        None => {
                            let _ = writeln!(out, "  - source file added: {p}");
                        }
                        Some(o) if o != d => {
                            let _ = writeln!(out, "  - source file changed: {p}");
                        }
                        _ => {}
                    }
                }
                for p in before.keys().filter(|p| !after.contains_key(*p)) {
                    let _ = writeln!(out, "  - source file removed: {p}");
                }
                if before == after {
                    let _ = writeln!(out, "  - source files changed (a file's mode changed)");
                }
            }
            None => {
                let _ = writeln!(out, "  - source files changed");
            }
        }
    }
    for (need, digest) in &new.inputs {
        match old.inputs.get(need) {
            Some(o) if o == digest => {}
            Some(_) => {
                let _ = writeln!(out, "  - the outputs of {need} changed");
            }
            None => {
                let _ = writeln!(out, "  - now needs {need}");
            }
        }
    }
    for need in old.inputs.keys().filter(|n| !new.inputs.contains_key(*n)) {
        let _ = writeln!(out, "  - no longer needs {need}");
    }
    if out.is_empty() {
        out.push_str("  (nothing: the derivation is identical; its realisation was removed from the store)\n");
    }
    out
}
