//! `project.yaml`: parsing, validation, and the expanded command of each action.
//!
//! The rules and their error texts are those of the OpenSAFELY `pipeline` library
//! (versions 1 to 5), so users can search for them. Deliberate differences:
//! - every independent problem is reported in one pass, in file order, each with its
//!   line and column, where the reference stops at the first;
//! - a user-defined `run_all` in a project before version 5 is ignored with the
//!   reference's warning and its body is not validated (the reference validates it and so
//!   rejects the seed job request); a need on it is dropped with a warning;
//! - a cycle in `needs` is an error naming the actions on it;
//! - where the reference crashes (empty file, top-level list, tabs, an unclosed quote or
//!   only whitespace in `run`, a number in `needs`, `version: 6`) there is a clear error;
//! - duplicate keys at any level are errors with the line of the duplicate;
//! - action names are the keys' text as written, so `1:` and `"1":` clash.
//!
//! Choices where the reference is silent:
//! - YAML is read by the reference's own parser (libyaml) and typed as its loader types
//!   it (YAML 1.2: `yes` is a string, `1_000` an integer); merge keys (`<<`) work as in
//!   ruamel; tags other than the core ones are errors, and so are list keys;
//! - a rule that needs an action's `run` and `outputs` together (the extraction rules)
//!   runs only when both are valid, and rules across actions (duplicate commands,
//!   unique outputs, unknown needs, cycles) see only actions that are valid themselves;
//! - when `version` is invalid, only the rules that do not depend on it are applied;
//! - the ehrQL `--output` mismatch lists the first pattern that does not fit, or all of
//!   them when one exact path was expected; tags' `\d` is ASCII digits.
//!
//! Flow: [`yaml`] builds a located tree, `validate` applies the rules, [`command`]
//! expands each action's argv; [`check_source`] is the whole of it and never panics.

pub mod command;
mod config_json;
mod diagnostic;
mod model;
mod paths;
mod pynum;
#[cfg(test)]
mod robustness;
mod validate;
mod yaml;

use std::path::Path;

use anyhow::Context as _;

pub use diagnostic::{Diagnostic, Renderer, Severity};
pub use model::{Action, Location, PrivacyLevel, Project};
pub use yaml::data_as_json as yaml_data_as_json;

/// The outcome of checking a `project.yaml`.
#[derive(Debug)]
pub struct Checked {
    /// The valid project; `None` if there is any error.
    pub project: Option<Project>,
    /// `version` as read, if it could be.
    pub version: Option<f64>,
    /// In file order.
    pub errors: Vec<Diagnostic>,
    /// In file order.
    pub warnings: Vec<Diagnostic>,
}

/// Parses and validates the text of a `project.yaml`.
pub fn check_source(src: &str) -> Checked {
    let parsed =
        yaml::parse(src).and_then(|root| match root.as_ref().and_then(yaml::complex_key) {
            Some(error) => Err(vec![error]),
            None => Ok(root),
        });
    match parsed {
        Ok(root) => validate::validate(root.as_ref()),
        Err(errors) => Checked {
            project: None,
            version: None,
            errors,
            warnings: Vec::new(),
        },
    }
}

/// Checks raw bytes: the file must be UTF-8 (an optional byte-order mark is allowed).
pub fn check_bytes(bytes: &[u8]) -> Checked {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(src) => check_source(src),
        Err(e) => {
            let before = &bytes[..e.valid_up_to()];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = before.len()
                - before
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1);
            let location = Location {
                line,
                column: column + 1,
            };
            Checked {
                project: None,
                version: None,
                errors: vec![Diagnostic::at(
                    format!(
                        "project.yaml is not valid UTF-8 text (line {line}, byte {}); \
                         is it a binary file?",
                        e.valid_up_to()
                    ),
                    location,
                )],
                warnings: Vec::new(),
            }
        }
    }
}

/// A version as the reference prints it (Python's `repr(float)`: `3.0`, `2.5`).
pub fn format_version(version: f64) -> String {
    pynum::float_repr(version)
}

/// The `project.yaml` of a project directory, as read for checking.
pub struct Source {
    /// How to name the file in messages.
    pub display: String,
    pub bytes: Vec<u8>,
}

impl Source {
    /// Reads `project_dir/project.yaml`.
    pub fn read(project_dir: &Path) -> anyhow::Result<Source> {
        let path = project_dir.join("project.yaml");
        let bytes = match fs_err::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!("No project.yaml file found in {}", project_dir.display())
            }
            Err(e) => return Err(e).context("reading project.yaml"),
        };
        let display = if project_dir == Path::new(".") {
            "project.yaml".to_string()
        } else {
            path.display().to_string()
        };
        Ok(Source { display, bytes })
    }

    /// The text for snippets (lossy: invalid UTF-8 only ever yields an error anyway).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// `project.yaml` is invalid; the text is the rendered diagnostics, each
/// already saying `file:line:col: error:`.
#[derive(Debug)]
pub struct InvalidProject(pub String);

impl std::fmt::Display for InvalidProject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidProject {}

/// Loads the valid project of `project_dir`, with its warnings. An invalid project is
/// an [`InvalidProject`] error whose text is every problem rendered as
/// `file:line:col: error: …`.
pub fn load(project_dir: &Path) -> anyhow::Result<(Project, Vec<Diagnostic>)> {
    let source = Source::read(project_dir)?;
    let checked = check_bytes(&source.bytes);
    match checked.project {
        Some(project) => Ok((project, checked.warnings)),
        None => {
            let text = source.text();
            let renderer = Renderer {
                file: &source.display,
                source: &text,
                colour: false,
            };
            let rendered = renderer.render_all(&checked.errors, Severity::Error);
            Err(InvalidProject(rendered.trim_end().to_string()).into())
        }
    }
}
