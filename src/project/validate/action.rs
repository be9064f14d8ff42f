//! One action's block (`validate_action_config` and `Action.build` in the reference):
//! its keys and their types, `outputs`, `run`, `needs`, and the extraction rules.
//! Unlike the reference it reports every independent problem, not just the first.

use super::outputs::{self, Outputs};
use super::run::{self, Run};
use super::{extractors, unexpected};
use crate::project::yaml::{Node, Value};
use crate::project::{Diagnostic, Location};

const KEYS: [&str; 5] = ["run", "outputs", "needs", "config", "dummy_data_file"];

/// An action whose own block is valid; rules across actions are still to come.
#[derive(Debug)]
pub struct Draft<'a> {
    pub name: String,
    pub location: Location,
    pub run: Run,
    /// Each need with where it is written.
    pub needs: Vec<(String, Location)>,
    pub outputs: Outputs,
    pub config: Option<&'a Node>,
    pub dummy_data_file: Option<String>,
}

/// Checks the action `name` (its key at `location`) with body `body`.
pub fn check<'a>(
    name: &str,
    location: Location,
    body: &'a Node,
    errors: &mut Vec<Diagnostic>,
) -> Option<Draft<'a>> {
    let Some(entries) = body.as_map() else {
        errors.push(Diagnostic::at(
            format!("Configuration for action {name} must be a dictionary of key/value pairs"),
            body.location,
        ));
        return None;
    };
    let before = errors.len();
    for key in ["run", "outputs"] {
        if body.get(key).is_none() {
            errors.push(Diagnostic::at(
                format!("Action {name} must contain a configuration for '{key}'"),
                location,
            ));
        }
    }
    let known = |key: &Node| key.as_str().is_some_and(|k| KEYS.contains(&k));
    errors.extend(unexpected(entries, known, || format!("action {name}")));

    let typed = |key: &str, ok: fn(&Node) -> bool, what: &str, errors: &mut Vec<Diagnostic>| {
        let node = body.get(key)?;
        if ok(node) {
            Some(node)
        } else {
            errors.push(Diagnostic::at(
                format!("`{key}` section for action {name} must be a {what}"),
                node.location,
            ));
            None
        }
    };
    let map = "dictionary of key/value pairs";
    let outputs_node = typed("outputs", |n| n.as_map().is_some(), map, errors);
    let run_node = typed("run", |n| n.as_str().is_some(), "string", errors);
    let needs_node = typed(
        "needs",
        |n| n.is_null() || n.as_seq().is_some(),
        "list",
        errors,
    );
    let config = typed(
        "config",
        |n| n.is_null() || n.as_map().is_some(),
        map,
        errors,
    );
    let dummy = typed(
        "dummy_data_file",
        |n| n.is_null() || n.as_str().is_some(),
        "string",
        errors,
    );

    let outputs = outputs_node.and_then(|node| outputs::check(name, node, errors));
    let run = run_node.and_then(|node| {
        let raw = node.as_str().expect("checked to be a string");
        run::parse(name, raw, node.location)
            .map_err(|d| errors.push(d))
            .ok()
    });
    let needs = needs_node.map_or_else(Vec::new, |node| check_needs(name, node, errors));

    if let (Some(run), Some(outputs)) = (&run, &outputs) {
        errors.extend(extractors::check(name, run, outputs));
    }
    if errors.len() != before {
        return None;
    }
    Some(Draft {
        name: name.to_string(),
        location,
        run: run?,
        needs,
        outputs: outputs?,
        config: config.filter(|c| !c.is_null()),
        dummy_data_file: dummy.and_then(|d| d.as_str()).map(String::from),
    })
}

/// Each entry of `needs` must name an action: a string without spaces.
fn check_needs(name: &str, node: &Node, errors: &mut Vec<Diagnostic>) -> Vec<(String, Location)> {
    let Value::Seq(items) = &node.value else {
        return Vec::new(); // null: no needs
    };
    let mut needs = Vec::new();
    for item in items {
        match item.as_str() {
            Some(need) if need.contains(' ') => errors.push(Diagnostic::at(
                format!(
                    "`needs` actions should be separated with commas, but {name} needs `{need}`"
                ),
                item.location,
            )),
            Some(need) => needs.push((need.to_string(), item.location)),
            // The reference crashes here (`argument of type 'int' is not iterable`).
            None => errors.push(Diagnostic::at(
                format!(
                    "`needs` section for action {name} must be a list of action names, \
                     but it contains {} ({}); quote it if it is a name",
                    item.describe(),
                    item.as_scalar().map_or("…", |s| s.text.as_str())
                ),
                item.location,
            )),
        }
    }
    needs
}
