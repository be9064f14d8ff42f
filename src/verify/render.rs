//! How verify results are printed: a table and the differences for people,
//! one JSON document for programs.

use std::io::Write;

use anyhow::Result;

use super::{ActionResult, FileResult, FileStatus, Verdict};

/// `{"reproducible": bool, "actions": [...]}` on stdout.
pub fn json(results: &[ActionResult]) -> Result<()> {
    let doc = serde_json::json!({
        "reproducible": results.iter().all(|r| r.status == Verdict::Reproducible),
        "actions": results,
    });
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{doc}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The table, then each differing file.
pub fn table(results: &[ActionResult]) {
    print!("{}", text(results));
}

pub fn text(results: &[ActionResult]) -> String {
    let mut out = String::new();
    let width = results
        .iter()
        .map(|r| r.action.len())
        .chain([6])
        .max()
        .unwrap_or(6);
    out.push_str(&format!(
        "{:<width$}  {:<16}  {:<9}  {:<7}  result\n",
        "action", "id", "against", "outputs"
    ));
    for r in results {
        let id = r.id.clone().unwrap_or_else(|| "-".repeat(16));
        let result = match r.status {
            Verdict::Reproducible => "reproducible".to_string(),
            Verdict::Differs => {
                let n = r
                    .files
                    .iter()
                    .filter(|f| f.status != FileStatus::Same)
                    .count();
                format!("differs ({n} of {})", r.files.len())
            }
            Verdict::CouldNotRun => "could not run".to_string(),
        };
        let against = r.compared_with.as_deref().unwrap_or("-");
        out.push_str(&format!(
            "{:<width$}  {id:<16}  {against:<9}  {:<7}  {result}\n",
            r.action,
            r.files.len()
        ));
    }
    for r in results {
        if let Some(reason) = &r.reason {
            out.push_str(&format!("\n{}: could not run: {reason}\n", r.action));
        }
        let differing: Vec<&FileResult> = r
            .files
            .iter()
            .filter(|f| f.status != FileStatus::Same)
            .collect();
        if differing.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{}: differs\n", r.action));
        if !r.caused_by.is_empty() {
            out.push_str(&format!(
                "  caused by: {} (each alone makes it differ)\n",
                r.caused_by.join("; ")
            ));
        }
        for f in differing {
            out.push_str(&file(f, r.compared_with.as_deref().unwrap_or("reference")));
        }
    }
    let count = |v: Verdict| results.iter().filter(|r| r.status == v).count();
    out.push_str(&format!(
        "\n{} reproducible, {} differ, {} could not run\n",
        count(Verdict::Reproducible),
        count(Verdict::Differs),
        count(Verdict::CouldNotRun)
    ));
    out
}

fn file(f: &FileResult, reference: &str) -> String {
    let what = match f.status {
        FileStatus::Same => "same",
        FileStatus::Differs => "differs",
        FileStatus::OnlyReference => "missing from the rebuild",
        FileStatus::OnlyRebuilt => "only in the rebuild",
        FileStatus::Corrupt => "corrupt in the store",
    };
    let when = match (f.build, &f.variation) {
        (Some(b), Some(v)) => format!(" in build {b} ({v})"),
        (Some(b), None) => format!(" in build {b}"),
        _ => String::new(),
    };
    let mut out = format!("  {} [{}]: {what}{when}\n", f.path, f.level);
    let side = |label: &str, s: &Option<super::Side>| match s {
        Some(s) => format!("    {label:<9} {}  {} bytes\n", s.hash, s.size),
        None => format!("    {label:<9} (absent)\n"),
    };
    out.push_str(&side(reference, &f.reference));
    let label = f
        .build
        .map(|b| format!("build {b}"))
        .unwrap_or_else(|| "rebuilt".into());
    out.push_str(&side(&label, &f.rebuilt));
    if let Some(d) = &f.first_difference {
        out.push_str(&format!("    first difference: {d}\n"));
    }
    if let Some(n) = &f.note {
        out.push_str(&format!("    {n}\n"));
    }
    out
}
