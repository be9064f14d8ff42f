//! An action's provenance as `cairn show` prints it: its derivation, what
//! it observed, and the realisation (where, when, from which commit, with
//! which outputs), for people and as JSON.

use std::fmt::Write as _;

use anyhow::Result;
use cairn_store::{Derivation, Realisation, Visible};
use serde_json::{Value, json};

use crate::status::Evaluated;
use crate::timestamp::{duration, iso8601};

/// The realisation shown for an action: the current one, or (for a stale
/// action) the one whose outputs the project last received.
pub struct Shown<'a> {
    pub evaluated: &'a Evaluated,
    pub realisation: Option<(Realisation, bool)>,
}

/// The realisation to show for `e`: its current one, else the last one
/// recorded in the project's state (not current).
pub fn realisation_of(
    session: &crate::session::Session,
    e: &Evaluated,
) -> Result<Option<(Realisation, bool)>> {
    if let Some(r) = &e.realisation {
        return Ok(Some((r.clone(), true)));
    }
    let last = session.state.actions.get(&e.name).and_then(|a| a.key);
    Ok(match last {
        Some(key) => session.store.realisation(&key)?.map(|r| (r, false)),
        None => None,
    })
}

pub fn json(shown: &Shown) -> Value {
    let e = shown.evaluated;
    json!({
        "action": e.name,
        "id": e.id.map(|d| d.short()),
        "state": e.state.as_str(),
        "derivation": e.derivation.as_ref().map(derivation_json),
        "observations": shown.realisation.as_ref().map(|(r, _)| observations_json(r)),
        "realisation": shown.realisation.as_ref().map(|(r, current)| realisation_json(r, *current)),
    })
}

fn derivation_json(d: &Derivation) -> Value {
    let outputs: Vec<Value> = d
        .action
        .outputs
        .iter()
        .flat_map(|(level, named)| {
            named.iter().map(
                move |(label, pattern)| json!({"level": level, "name": label, "pattern": pattern}),
            )
        })
        .collect();
    json!({
        "id": d.id().to_hex(),
        "short": d.id().short(),
        "format": d.format,
        "argv": d.argv,
        "image": {"reference": d.image.reference, "identity": d.image.identity},
        "env": d.env,
        "visible": match &d.visible { Visible::All(_) => json!("all"), Visible::Declared(p) => json!(p) },
        "outputs": outputs,
        "inputs": d.inputs.iter().map(|(a, m)| (a.clone(), json!({"manifest": m.to_hex()}))).collect::<serde_json::Map<_, _>>(),
    })
}

fn observations_json(r: &Realisation) -> Value {
    let o = &r.observations;
    json!({
        "untraced": o.untraced,
        "read": o.read.iter().map(|(p, v)| (p.clone(), json!(v.to_string()))).collect::<serde_json::Map<_, _>>(),
        "listed": o.listed.iter().map(|(p, v)| (p.clone(), json!(v.to_string()))).collect::<serde_json::Map<_, _>>(),
    })
}

fn realisation_json(r: &Realisation, current: bool) -> Value {
    let outputs: Vec<Value> = r
        .outputs
        .files
        .iter()
        .map(|(p, e)| {
            json!({"path": p, "level": e.level, "size": e.size, "hash": e.object.to_hex(), "mode": format!("{:o}", e.mode)})
        })
        .collect();
    json!({
        "key": r.key().to_hex(),
        "short": r.key().short(),
        "current": current,
        "commit": r.commit,
        "dirty": r.dirty,
        "executor": r.executor,
        "host": r.host,
        "cairn_version": r.cairn_version,
        "started_at": iso8601(r.started_at),
        "finished_at": iso8601(r.finished_at),
        "runtime_seconds": r.finished_at - r.started_at,
        "exit_code": r.exit_code,
        "log": r.log.map(|d| d.to_hex()),
        "signatures": [],
        "outputs": outputs,
    })
}

/// The readable form.
pub fn text(shown: &Shown) -> String {
    let e = shown.evaluated;
    let mut out = String::new();
    let id = e.id.map(|d| d.short()).unwrap_or_else(|| "-".repeat(16));
    let _ = writeln!(out, "action      {}", e.name);
    let _ = writeln!(out, "id          {id}");
    let _ = writeln!(out, "state       {}", e.state.as_str());
    match &e.derivation {
        Some(d) => derivation_text(&mut out, d),
        None => out.push_str(
            "\nderivation  not yet known (an action it needs has no outputs for its current inputs)\n",
        ),
    }
    match &shown.realisation {
        Some((r, current)) => {
            observations_text(&mut out, r);
            realisation_text(&mut out, r, *current);
        }
        None => {
            let _ = writeln!(
                out,
                "\nrealisation none: {} is {}",
                e.name,
                e.state.as_str()
            );
        }
    }
    out
}

fn derivation_text(out: &mut String, d: &Derivation) {
    let _ = writeln!(out, "\nderivation  {}", d.id().to_hex());
    let _ = writeln!(out, "  command   {}", d.argv.join(" "));
    let _ = writeln!(
        out,
        "  image     {} = {}",
        d.image.reference, d.image.identity
    );
    let env: Vec<String> = d.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(out, "  env       {}", env.join(" "));
    let visible = match &d.visible {
        Visible::All(_) => "all sources".to_string(),
        Visible::Declared(p) => p.join(", "),
    };
    let _ = writeln!(out, "  visible   {visible}");
    for (level, named) in &d.action.outputs {
        for (label, pattern) in named {
            let _ = writeln!(out, "  output    {pattern} ({label}, {level})");
        }
    }
    if d.inputs.is_empty() {
        let _ = writeln!(out, "  inputs    none");
    }
    for (action, manifest) in &d.inputs {
        let _ = writeln!(out, "  input     {action}: outputs {}", manifest.to_hex());
    }
}

fn observations_text(out: &mut String, r: &Realisation) {
    let o = &r.observations;
    if o.untraced {
        out.push_str("\nobserved    (untraced: every visible file counts)\n");
    } else {
        out.push_str("\nobserved\n");
    }
    for (path, look, what) in o.iter() {
        let how = match look {
            cairn_store::Look::Read => "read",
            cairn_store::Look::List => "listed",
        };
        let path = if path.is_empty() { "." } else { path };
        let _ = writeln!(out, "  {how:<8}  {path}  {what}");
    }
}

fn realisation_text(out: &mut String, r: &Realisation, current: bool) {
    let key = r.key();
    let which = if current {
        ""
    } else {
        "  (last run; not current)"
    };
    let _ = writeln!(out, "\nrealisation {}{which}", key.short());
    let commit = match &r.commit {
        Some(c) if r.dirty => format!("{c} (work tree dirty)"),
        Some(c) => format!("{c} (clean)"),
        None => "none (not in a git repository)".into(),
    };
    let _ = writeln!(out, "  commit    {commit}");
    let _ = writeln!(out, "  executor  {}", r.executor);
    let _ = writeln!(out, "  host      {}", r.host);
    let _ = writeln!(out, "  cairn     {}", r.cairn_version);
    let _ = writeln!(out, "  started   {}", iso8601(r.started_at));
    let _ = writeln!(out, "  finished  {}", iso8601(r.finished_at));
    let _ = writeln!(
        out,
        "  runtime   {}",
        duration(r.finished_at - r.started_at)
    );
    let _ = writeln!(out, "  exit code {}", r.exit_code);
    if let Some(log) = r.log {
        let _ = writeln!(out, "  log       {}", log.to_hex());
    }
    let _ = writeln!(out, "  signed    none");
    let _ = writeln!(out, "  outputs");
    let width = r.outputs.files.keys().map(String::len).max().unwrap_or(0);
    for (path, e) in &r.outputs.files {
        let _ = writeln!(
            out,
            "    {path:<width$}  {:<20}  {:>10} B  {}",
            e.level,
            e.size,
            e.object.to_hex()
        );
    }
}
