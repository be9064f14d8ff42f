//! Rules across actions (`Pipeline.build` in the reference): version-dependent images,
//! duplicate commands, unique output paths, unknown needs. Hash maps throughout, so a
//! project of 10,000 actions costs no more than its size.

use std::collections::{HashMap, HashSet};

use super::action::Draft;
use super::version::Features;
use crate::project::Diagnostic;

/// What the rules need to know beyond the valid actions themselves.
pub struct Context<'a> {
    /// `None` when `version` itself is invalid: version-dependent rules are skipped.
    pub features: Option<Features>,
    /// Every action name in the file, valid or not, so a need on a broken action is
    /// not also reported as unknown.
    pub names: &'a HashSet<&'a str>,
    /// A legacy user-defined `run_all` was ignored (v < 5).
    pub legacy_run_all: bool,
}

/// Applies the rules; drops needs on an ignored legacy `run_all`.
pub fn check(
    drafts: &mut [Draft],
    cx: &Context,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) {
    let features = cx.features.unwrap_or_default();
    if cx.features.is_some() {
        for d in drafts.iter() {
            if features.cohortextractor_removed && d.run.parts[0].starts_with("cohortextractor") {
                errors.push(Diagnostic::at(
                    format!(
                        "Action {} uses cohortextractor actions, which are not supported in \
                         this version.",
                        d.name
                    ),
                    d.run.location,
                ));
            }
            if features.latest_tag_removed && d.run.tag == "latest" {
                errors.push(Diagnostic::at(
                    format!(
                        "Action {} uses `{}:latest`, which is not supported. Provide a version \
                         e.g. `:v2` instead",
                        d.name, d.run.image
                    ),
                    d.run.location,
                ));
            }
        }
    }
    duplicate_runs(drafts, errors);
    if features.unique_output_paths {
        unique_outputs(drafts, errors);
    }
    for d in drafts.iter_mut() {
        let name = d.name.clone();
        d.needs.retain(|(need, at)| {
            if need == "run_all" && cx.legacy_run_all {
                warnings.push(Diagnostic::at(
                    format!(
                        "Action `{name}` needs the user-defined `run_all` action, which is \
                         ignored; so is this need"
                    ),
                    *at,
                ));
                return false;
            }
            if !cx.names.contains(need.as_str()) {
                let hint = crate::suggest::closest(need, cx.names.iter().copied())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                errors.push(Diagnostic::at(
                    format!(
                        "Action `{name}` references an unknown action in its `needs` list: {need}{hint}"
                    ),
                    *at,
                ));
            }
            true
        });
    }
}

/// The reference compares `run` strings exactly, and joins earlier names with `' ,'`.
fn duplicate_runs(drafts: &[Draft], errors: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, Vec<&str>> = HashMap::new();
    for d in drafts {
        let earlier = seen.entry(d.run.raw.as_str()).or_default();
        if !earlier.is_empty() {
            errors.push(Diagnostic::at(
                format!(
                    "Action {} has the same 'run' command as other actions: {}",
                    d.name,
                    earlier.join(" ,")
                ),
                d.run.location,
            ));
        }
        earlier.push(&d.name);
    }
}

/// From v2 an output path (compared as text: overlapping globs are allowed) may be
/// declared only once in the whole project.
fn unique_outputs(drafts: &[Draft], errors: &mut Vec<Diagnostic>) {
    let mut seen: HashSet<&str> = HashSet::new();
    for d in drafts {
        for (_, output) in d.outputs.patterns_by_level() {
            if !seen.insert(&output.pattern) {
                errors.push(Diagnostic::at(
                    format!("Output path {} is not unique", output.pattern),
                    output.location,
                ));
            }
        }
    }
}
