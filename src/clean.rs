//! `cairn clean [ACTION…]`: removes the project's outputs and
//! `metadata/<action>.log` of those actions (every action when none is
//! named), and their kept failed workspaces. The store keeps the outputs:
//! the next run restores them without running anything.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::state::ProjectState;

pub fn clean(project_dir: &Path, actions: &[String]) -> Result<ExitCode> {
    let (project, _warnings) = crate::project::load(project_dir)?;
    for a in actions {
        if !project.actions.contains_key(a) {
            let hint = crate::suggest::closest(a, project.actions.keys().map(String::as_str))
                .map(|c| format!("; did you mean '{c}'?"))
                .unwrap_or_default();
            bail!("Action '{a}' not found in project.yaml{hint}");
        }
    }
    let wanted: BTreeSet<&str> = if actions.is_empty() {
        project.actions.keys().map(String::as_str).collect()
    } else {
        actions.iter().map(String::as_str).collect()
    };
    let mut state = ProjectState::load(project_dir);
    let files: Vec<String> = state
        .files
        .iter()
        .filter(|(_, f)| wanted.contains(f.action.as_str()))
        .map(|(p, _)| p.clone())
        .collect();
    let mut removed = 0;
    for p in &files {
        let full = project_dir.join(p);
        match std::fs::remove_file(&full) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => bail!("removing {}: {e}", full.display()),
        }
        state.files.remove(p);
        remove_empty_parents(project_dir, &full);
    }
    let mut logs = 0;
    for a in &wanted {
        let log = crate::metalog::log_path(project_dir, a);
        if std::fs::remove_file(&log).is_ok() {
            logs += 1;
        }
        state.actions.remove(*a);
        if let Some(ws) = state.failures.remove(*a).and_then(|f| f.workspace) {
            let _ = std::fs::remove_dir_all(ws.parent().unwrap_or(&ws));
        }
    }
    remove_empty_parents(project_dir, &crate::metalog::log_path(project_dir, "x"));
    state.save(project_dir)?;
    println!(
        "removed {removed} output file(s) and {logs} log(s) of {} action(s); they stay in the store, and the next run restores them",
        wanted.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes the now empty directories above `file`, up to the project.
fn remove_empty_parents(project_dir: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == project_dir || !d.starts_with(project_dir) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}
