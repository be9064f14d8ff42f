//! `cairn check`: validates `project.yaml` and prints the plan — for people, or as the
//! JSON contract of DESIGN §1 (`valid`, `version`, `actions`, `warnings`, `errors`,
//! `plan`). Exit status 0 when valid, 1 when not.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::cli::Format;
use crate::project::{self, Action, Checked, Diagnostic, Project, Renderer, Severity, Source};

/// Runs `cairn check`.
pub fn run(project_dir: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let source = Source::read(project_dir);
    let (checked, display) = match &source {
        Ok(source) => (project::check_bytes(&source.bytes), source.display.clone()),
        // A missing or unreadable file is a problem with the project, not with usage.
        Err(e) => {
            let checked = Checked {
                project: None,
                version: None,
                errors: vec![Diagnostic::new(format!("{e:#}"), None)],
                warnings: Vec::new(),
            };
            (checked, "project.yaml".to_string())
        }
    };
    let valid = checked.project.is_some();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match format {
        Format::Json => serde_json::to_writer_pretty(&mut out, &json_report(&checked))
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n")),
        Format::Human => {
            // Snippets need the text; a valid project without warnings does not.
            let quiet = checked.errors.is_empty() && checked.warnings.is_empty();
            let text = match &source {
                Ok(source) if !quiet => source.text(),
                _ => String::new(),
            };
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
                Some(project) => out.write_all(human_plan(&display, project).as_bytes()),
                None => Ok(()),
            }
        }
    };
    match written.and_then(|()| out.flush()) {
        // `cairn check | head` is not a failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    // The process ends next: freeing thousands of actions one by one is wasted time.
    std::mem::forget(checked);
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The JSON contract, serialised straight from the checked project.
#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    version: Option<f64>,
    actions: Vec<&'a str>,
    warnings: Vec<&'a str>,
    errors: Vec<ErrorEntry<'a>>,
    plan: Plan<'a>,
}

#[derive(Serialize)]
struct ErrorEntry<'a> {
    message: &'a str,
    line: Option<usize>,
    column: Option<usize>,
}

/// Actions by name, in file order.
struct Plan<'a>(Option<&'a Project>);

#[derive(Serialize)]
struct PlanEntry<'a> {
    image: &'a str,
    tag: &'a str,
    argv: &'a [String],
    needs: &'a [String],
    outputs: Outputs<'a>,
}

struct Outputs<'a>(&'a Action);

impl Serialize for Plan<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let actions = self.0.map(|p| &p.actions);
        let mut map = s.serialize_map(actions.map(|a| a.len()))?;
        for a in actions.into_iter().flat_map(|a| a.values()) {
            let entry = PlanEntry {
                image: &a.image,
                tag: &a.tag,
                argv: &a.argv,
                needs: &a.needs,
                outputs: Outputs(a),
            };
            map.serialize_entry(&a.name, &entry)?;
        }
        map.end()
    }
}

impl Serialize for Outputs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.outputs.len()))?;
        for (level, patterns) in &self.0.outputs {
            map.serialize_entry(level.as_str(), patterns)?;
        }
        map.end()
    }
}

fn json_report(checked: &Checked) -> Report<'_> {
    let project = checked.project.as_ref();
    Report {
        valid: project.is_some(),
        // NaN and infinities have no JSON form: null.
        version: checked.version.filter(|v| v.is_finite()),
        actions: project
            .map(|p| p.actions.keys().map(String::as_str).collect())
            .unwrap_or_default(),
        warnings: checked
            .warnings
            .iter()
            .map(|d| d.message.as_str())
            .collect(),
        errors: checked
            .errors
            .iter()
            .map(|d| ErrorEntry {
                message: &d.message,
                line: d.location.map(|l| l.line),
                column: d.location.map(|l| l.column),
            })
            .collect(),
        plan: Plan(project),
    }
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
