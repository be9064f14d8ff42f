//! `cairn show ACTION` and `cairn log ACTION`.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::Format;
use crate::provenance;
use crate::session::Session;
use crate::status::evaluate;

pub fn show(session: &Session, action: &str, format: Format) -> Result<ExitCode> {
    let e = evaluated(session, action)?;
    let shown = provenance::Shown {
        realisation: provenance::realisation_of(session, &e)?,
        evaluated: &e,
    };
    let text = match format {
        Format::Json => format!("{}\n", provenance::json(&shown)),
        Format::Human => provenance::text(&shown),
    };
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

pub fn log(session: &Session, action: &str) -> Result<ExitCode> {
    let path = crate::metalog::log_path(&session.project_dir, action);
    if let Ok(text) = std::fs::read(&path) {
        use std::io::Write;
        std::io::stdout().write_all(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let e = evaluated(session, action)?;
    match e.realisation.as_ref().and_then(|r| r.log) {
        Some(d) => {
            use std::io::Write;
            std::io::stdout().write_all(&session.store.read_object(&d)?)?;
            Ok(ExitCode::SUCCESS)
        }
        None => bail!("{action} has no log yet: run it with `cairn run {action}`"),
    }
}

fn evaluated(session: &Session, action: &str) -> Result<crate::status::Evaluated> {
    if !session.project.actions.contains_key(action) {
        bail!("Action '{action}' not found in project.yaml");
    }
    Ok(evaluate(session)?
        .into_iter()
        .find(|e| e.name == action)
        .expect("every action is evaluated"))
}
