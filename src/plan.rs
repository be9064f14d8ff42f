//! Which actions a request covers, and the order they can run in.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Result, bail};

use crate::project::Project;

/// The name that means "every action".
pub const RUN_ALL: &str = "run_all";

/// The requested actions and everything they need, in dependency order
/// (ties broken by file order).
#[derive(Debug, Clone)]
pub struct Plan {
    /// Actions named on the command line (all of them for `run_all`).
    pub targets: Vec<String>,
    /// Targets plus their transitive needs, dependencies first.
    pub order: Vec<String>,
}

impl Plan {
    pub fn new(project: &Project, requested: &[String]) -> Result<Plan> {
        if requested.is_empty() {
            bail!(
                "At least one action must be supplied\n{}",
                valid_names(project)
            );
        }
        for name in requested {
            if name != RUN_ALL && !project.actions.contains_key(name) {
                let hint =
                    crate::suggest::closest(name, project.actions.keys().map(String::as_str))
                        .map(|c| format!("Did you mean '{c}'?\n"))
                        .unwrap_or_default();
                bail!(
                    "Action '{name}' not found in project.yaml\n{hint}{}",
                    valid_names(project)
                );
            }
        }
        let targets: Vec<String> = if requested.iter().any(|r| r == RUN_ALL) {
            project.actions.keys().cloned().collect()
        } else {
            let mut seen = BTreeSet::new();
            requested
                .iter()
                .filter(|r| seen.insert(r.as_str()))
                .cloned()
                .collect()
        };
        let mut wanted = BTreeSet::new();
        let mut stack: Vec<&str> = targets.iter().map(String::as_str).collect();
        while let Some(a) = stack.pop() {
            if wanted.insert(a) {
                stack.extend(project.actions[a].needs.iter().map(String::as_str));
            }
        }
        let order = topological(project, &wanted);
        Ok(Plan { targets, order })
    }
}

/// Kahn's algorithm over `wanted`, always taking the ready action that comes
/// first in the file. The project is acyclic (validation rejects cycles).
pub fn topological(project: &Project, wanted: &BTreeSet<&str>) -> Vec<String> {
    let index: HashMap<&str, usize> = project
        .actions
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut pending: HashMap<&str, usize> = HashMap::new();
    let mut dependants: HashMap<&str, Vec<&str>> = HashMap::new();
    for &a in wanted {
        let needs: BTreeSet<&str> = project.actions[a]
            .needs
            .iter()
            .map(String::as_str)
            .collect();
        pending.insert(a, needs.len());
        for n in needs {
            dependants.entry(n).or_default().push(a);
        }
    }
    let mut ready: BTreeSet<(usize, &str)> = pending
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(a, _)| (index[a], *a))
        .collect();
    let mut order = Vec::with_capacity(wanted.len());
    while let Some(first) = ready.pop_first() {
        let a = first.1;
        order.push(a.to_string());
        for d in dependants.get(a).map(Vec::as_slice).unwrap_or(&[]) {
            let n = pending.get_mut(d).expect("dependant is wanted");
            *n -= 1;
            if *n == 0 {
                ready.insert((index[d], d));
            }
        }
    }
    order
}

fn valid_names(project: &Project) -> String {
    let mut s = String::from("Valid action names are:\n  run_all (runs all actions in project)");
    for name in project.actions.keys() {
        s.push_str("\n  ");
        s.push_str(name);
    }
    s
}
