//! `cairn report -o report.html`: one self-contained page about the
//! project's last run, modelled on an OpenSAFELY job request page.

mod html;
mod request;
mod svg;

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_store::Realisation;

pub use request::Request;

use crate::cli::ReportArgs;
use crate::session::Session;
use crate::status::State;
use crate::verify::{History, Verified};

/// Everything the page shows.
pub struct Page {
    pub project_name: String,
    pub generated_at: String,
    pub requested: Vec<String>,
    /// From the last run's request, if known.
    pub request: Option<Request>,
    pub backend: String,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub project_yaml: String,
    pub actions: Vec<ActionView>,
}

/// One action (a "job" on an OpenSAFELY page).
pub struct ActionView {
    pub name: String,
    pub needs: Vec<String>,
    pub state: State,
    pub id: Option<String>,
    /// The realisation shown and whether it is the current one.
    pub realisation: Option<(Realisation, bool)>,
    /// The last verify result, and whether it was of the current derivation.
    pub verified: Option<(Verified, bool)>,
}

impl ActionView {
    /// The job status, as the page words it.
    pub fn status(&self) -> &'static str {
        match self.state {
            State::Fresh => "succeeded",
            State::Stale => "outdated",
            State::NeverRun => "not run",
            State::Failed => "failed",
        }
    }

    pub fn status_class(&self) -> &'static str {
        match self.state {
            State::Fresh => "fresh",
            State::Stale => "stale",
            State::NeverRun => "never_run",
            State::Failed => "failed",
        }
    }
}

pub fn report(
    args: ReportArgs,
    dir: &std::path::Path,
    store: Option<&std::path::Path>,
) -> Result<ExitCode> {
    let session = Session::open_read_only(dir, store, args.executor.executor.map(Into::into))?;
    let request = Request::load(dir);
    let requested = match (&request, args.actions.is_empty()) {
        (_, false) => args.actions.clone(),
        (Some(r), true) if !r.actions.is_empty() => r.actions.clone(),
        _ => vec![crate::plan::RUN_ALL.to_string()],
    };
    let plan = crate::plan::Plan::new(&session.project, &requested)?;
    let shown: HashSet<&String> = plan.order.iter().collect();
    let history = History::load(dir);
    let mut actions = Vec::new();
    for e in crate::status::evaluate(&session)? {
        if !shown.contains(&e.name) {
            continue;
        }
        let id = e.id.map(|d| d.short());
        let realisation = crate::provenance::realisation_of(&session, &e)?;
        let shown_key = realisation.as_ref().map(|(r, _)| r.key().short());
        // A result is about the outputs shown when it compared with their
        // realisation (or, with nothing recorded, built the same derivation).
        let verified = history.actions.get(&e.name).map(|v| {
            let current = match (&v.realisation, &shown_key) {
                (Some(verified), Some(shown)) => verified == shown,
                (None, None) => v.id.is_some() && v.id == id,
                _ => false,
            };
            (v.clone(), current)
        });
        actions.push(ActionView {
            needs: session.action(&e.name).needs.clone(),
            realisation,
            state: e.state,
            id,
            verified,
            name: e.name,
        });
    }
    let page = Page {
        project_name: project_name(dir),
        generated_at: crate::timestamp::iso8601(crate::run::build::unix_now()),
        requested,
        request,
        backend: session.executor.kind().to_string(),
        branch: session.git.as_ref().and_then(|g| g.branch()),
        commit: session.commit.clone(),
        project_yaml: std::fs::read_to_string(dir.join("project.yaml")).unwrap_or_default(),
        actions,
    };
    let text = html::render(&page);
    let out = &args.output;
    let tmp = out.with_extension("html.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn project_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "project".into())
}
