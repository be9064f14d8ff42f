//! `cairn check`: validates `project.yaml` and prints the plan — for people, or as the
//! JSON contract of DESIGN §1 (`valid`, `version`, `actions`, `warnings`, `errors`,
//! `plan`). Exit status 0 when valid, 1 when not.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::Format;
use crate::project::{self, Checked, Diagnostic, Project, Renderer, Severity, Source};

/// Runs `cairn check`.
pub fn run(project_dir: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let (checked, display, text) = match Source::read(project_dir) {
        Ok(source) => {
            let checked = project::check_bytes(&source.bytes);
            let text = source.text();
            (checked, source.display, text)
        }
        // A missing or unreadable file is a problem with the project, not with usage.
        Err(e) => {
            let checked = Checked {
                project: None,
                version: None,
                errors: vec![Diagnostic::new(format!("{e:#}"), None)],
                warnings: Vec::new(),
            };
            (checked, "project.yaml".to_string(), String::new())
        }
    };
    let valid = checked.project.is_some();
    let stdout = match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&json_report(&checked))?;
            s.push('\n');
            s
        }
        Format::Human => {
            let renderer = Renderer {
                file: &display,
                source: &text,
                colour: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            };
            let mut stderr = renderer.render_all(&checked.warnings, Severity::Warning);
            stderr.push_str(&renderer.render_all(&checked.errors, Severity::Error));
            if !checked.errors.is_empty() {
                let n = checked.errors.len();
                let _ = writeln!(
                    stderr,
                    "{display} is not valid: {n} error{}",
                    if n == 1 { "" } else { "s" }
                );
            }
            eprint!("{stderr}");
            match &checked.project {
                Some(project) => human_plan(&display, project),
                None => String::new(),
            }
        }
    };
    match std::io::stdout().lock().write_all(stdout.as_bytes()) {
        // `cairn check | head` is not a failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The JSON contract.
fn json_report(checked: &Checked) -> Value {
    let messages = |ds: &[Diagnostic]| -> Vec<Value> {
        ds.iter().map(|d| Value::from(d.message.as_str())).collect()
    };
    let errors: Vec<Value> = checked
        .errors
        .iter()
        .map(|d| {
            json!({
                "message": d.message,
                "line": d.location.map(|l| l.line),
                "column": d.location.map(|l| l.column),
            })
        })
        .collect();
    let (actions, plan) = match &checked.project {
        Some(p) => (
            p.actions.keys().map(|k| Value::from(k.as_str())).collect(),
            plan(p),
        ),
        None => (Vec::new(), serde_json::Map::new()),
    };
    json!({
        "valid": checked.project.is_some(),
        // NaN and infinities have no JSON form: null.
        "version": checked.version.filter(|v| v.is_finite()),
        "actions": actions,
        "warnings": messages(&checked.warnings),
        "errors": errors,
        "plan": plan,
    })
}

fn plan(project: &Project) -> serde_json::Map<String, Value> {
    project
        .actions
        .values()
        .map(|a| {
            let outputs: serde_json::Map<String, Value> = a
                .outputs
                .iter()
                .map(|(level, m)| (level.as_str().to_string(), json!(m)))
                .collect();
            let entry = json!({
                "image": a.image,
                "tag": a.tag,
                "argv": a.argv,
                "needs": a.needs,
                "outputs": outputs,
            });
            (a.name.clone(), entry)
        })
        .collect()
}

/// The plan for people: each action with its command, needs and outputs.
fn human_plan(display: &str, project: &Project) -> String {
    let mut out = String::new();
    let n = project.actions.len();
    let _ = writeln!(
        out,
        "{display} is valid (version {}): {n} action{}",
        project::format_version(project.version),
        if n == 1 { "" } else { "s" }
    );
    for a in project.actions.values() {
        let _ = writeln!(out, "\n{}", a.name);
        let _ = writeln!(out, "    command  {}", project::command::join(&a.argv));
        let needs = if a.needs.is_empty() {
            "-".to_string()
        } else {
            a.needs.join(", ")
        };
        let _ = writeln!(out, "    needs    {needs}");
        let mut first = true;
        for (level, outputs) in &a.outputs {
            for (label, pattern) in outputs {
                let head = if first { "outputs " } else { "        " };
                first = false;
                let _ = writeln!(
                    out,
                    "    {head} {:<21} {pattern}  ({label})",
                    level.as_str()
                );
            }
        }
        if first {
            let _ = writeln!(out, "    outputs  -");
        }
    }
    out
}
