//! The rules of `project.yaml`, as the OpenSAFELY `pipeline` library applies them
//! (its 2022–2026 generation, versions 1 to 5), with cairn's deliberate differences
//! (see the parent module). Every independent problem is reported, in file order.

mod action;
mod cycles;
mod expectations;
mod extractors;
mod outputs;
mod pipeline;
mod run;
mod version;

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;

use super::command::{self, Extraction};
use super::yaml::{Entry, Node};
use super::{Action, Checked, Diagnostic, Location, Project, config_json};
use action::Draft;
use version::Features;

/// The start of the file, for problems that have no better place.
const TOP: Location = Location { line: 1, column: 1 };

/// Validates a parsed document (`None`: the file holds no document).
pub fn validate(root: Option<&Node>) -> Checked {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let (version, project) = check(root, &mut errors, &mut warnings);
    // Stable: problems at one place keep the order the rules found them in.
    errors.sort_by_key(|d| d.location);
    warnings.sort_by_key(|d| d.location);
    Checked {
        project: project.filter(|_| errors.is_empty()),
        version,
        errors,
        warnings,
    }
}

fn check(
    root: Option<&Node>,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> (Option<f64>, Option<Project>) {
    let root = match root {
        Some(root) if !root.is_null() => root,
        _ => {
            errors.push(Diagnostic::at(
                "project.yaml is empty: it must be a mapping with at least `version` and \
                 `actions`",
                TOP,
            ));
            return (None, None);
        }
    };
    let Some(entries) = root.as_map() else {
        errors.push(Diagnostic::at(
            format!(
                "project.yaml must be a mapping with `version` and `actions` at the top \
                 level, but it is {}",
                root.describe()
            ),
            root.location,
        ));
        return (None, None);
    };
    let top_keys = ["version", "actions", "expectations"];
    errors.extend(unexpected(
        entries,
        |k| k.as_str().is_some_and(|k| top_keys.contains(&k)),
        || "project".into(),
    ));
    let version = version::read(root.get("version"), TOP)
        .map_err(|d| errors.push(d))
        .ok();
    if let (Some(v), Some(node)) = (version, root.get("version")) {
        warnings.extend(version::old_version_warning(v, node.location));
    }
    let features = version.map(Features::for_version);

    let actions = root.get("actions");
    let Some(action_entries) = actions.and_then(Node::as_map) else {
        errors.push(Diagnostic::at(
            "Project `actions` section must be a dictionary of key/value pairs",
            actions.map_or(TOP, |n| n.location),
        ));
        return (version, None);
    };
    let mut names: HashSet<&str> = HashSet::new();
    let mut first_seen: HashMap<&str, Location> = HashMap::new();
    let mut legacy_run_all = false;
    let mut drafts: Vec<Draft> = Vec::new();
    for entry in action_entries {
        let name = entry.key.key_text();
        let at = entry.key.location;
        // Keys like `1` and `"1"` differ in YAML but not as action names.
        if let Some(first) = first_seen.insert(name, at) {
            errors.push(Diagnostic::at(
                format!(
                    "found duplicate action name \"{name}\" on line {} (first defined on \
                     line {})",
                    at.line, first.line
                ),
                at,
            ));
            continue;
        }
        if name == "run_all" {
            match features {
                Some(f) if f.run_all_removed => {
                    names.insert(name);
                    errors.push(Diagnostic::at(
                        "`run_all` is a reserved action name and is not allowed for \
                         user-defined actions.",
                        at,
                    ));
                }
                // Ignored, body and all: the seed job request's `run_all` has
                // `project.yaml` as an output, which later rules would reject.
                Some(_) => {
                    legacy_run_all = true;
                    warnings.push(Diagnostic::at(
                        "`run_all` is a reserved action name; user-defined actions with this \
                         name are ignored and will raise an error in later versions.",
                        at,
                    ));
                }
                None => legacy_run_all = true,
            }
            continue;
        }
        names.insert(name);
        drafts.extend(action::check(name, at, &entry.value, errors));
    }
    let cx = pipeline::Context {
        features,
        names: &names,
        legacy_run_all,
    };
    pipeline::check(&mut drafts, &cx, errors, warnings);
    errors.extend(cycles::find(&drafts));
    let population =
        features.and_then(|f| expectations::check(f, root.get("expectations"), TOP, errors));
    let project = match (version, population) {
        (Some(version), Some(population)) if errors.is_empty() => Some(Project {
            version,
            actions: drafts
                .into_iter()
                .map(|d| (d.name.clone(), build(d, &population)))
                .collect(),
        }),
        _ => None,
    };
    (version, project)
}

/// The validated action, with its expanded command.
fn build(d: Draft, population: &str) -> Action {
    let config = d
        .config
        .filter(|c| c.as_map().is_some_and(|m| !m.is_empty()))
        .map(config_json::dumps);
    let extraction = Extraction {
        dummy_data_file: d.dummy_data_file.as_deref(),
        population_size: population,
        patterns: d
            .outputs
            .patterns_by_level()
            .map(|(_, o)| o.pattern.as_str())
            .collect(),
    };
    let argv = command::expand(&d.run.parts, config, &extraction);
    let outputs = d
        .outputs
        .levels
        .iter()
        .map(|(level, outs)| {
            let patterns: IndexMap<String, String> = outs
                .iter()
                .map(|o| (o.label.clone(), o.pattern.clone()))
                .collect();
            (*level, patterns)
        })
        .collect();
    Action {
        name: d.name,
        run: d.run.raw,
        image: d.run.image,
        tag: d.run.tag,
        argv,
        needs: d.needs.into_iter().map(|(n, _)| n).collect(),
        outputs,
        location: d.location,
    }
}

/// `validate_no_kwargs`: keys the reference's constructor has no parameter for.
fn unexpected(
    entries: &[Entry],
    known: impl Fn(&Node) -> bool,
    place: impl FnOnce() -> String,
) -> Option<Diagnostic> {
    let unknown: Vec<&Node> = entries
        .iter()
        .map(|e| &e.key)
        .filter(|k| !known(k))
        .collect();
    let first = unknown.first()?;
    let list: Vec<&str> = unknown.iter().map(|k| k.key_text()).collect();
    Some(Diagnostic::at(
        format!("Unexpected parameters ({}) in {}", list.join(", "), place()),
        first.location,
    ))
}

#[cfg(test)]
mod tests;
