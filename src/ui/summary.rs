//! The end of a run on a terminal: a block per action that ran or failed
//! (in the shape of `opensafely run`'s), then one line of counts and the wall
//! time, then the failed actions with their log and kept workspace.

use std::path::Path;
use std::time::Duration;

use crate::metalog;
use crate::run::{RunReport, Status};

/// Prints the summary of `report` on stdout.
pub fn print_summary(report: &RunReport) {
    print!("{}", render(report));
}

fn render(report: &RunReport) -> String {
    let mut blocks: Vec<(bool, String)> = Vec::new();
    for a in &report.order {
        let Some(o) = report.outcomes.get(a) else {
            continue;
        };
        if !matches!(o.status, Status::Ran | Status::Failed) {
            continue;
        }
        let mut b = format!("=> {a}\n");
        for line in o.message.lines() {
            b.push_str(&format!("   {line}\n"));
        }
        let log = metalog::log_path(Path::new(""), a);
        b.push_str(&format!("\n   log file: {}\n", log.display()));
        if let Some(r) = &o.realisation {
            b.push_str("   outputs:\n");
            let rows: Vec<(String, String)> = r
                .outputs
                .files
                .iter()
                .map(|(p, e)| (p.clone(), e.level.clone()))
                .collect();
            for line in metalog::table(&rows, "(no outputs)").lines() {
                b.push_str(&format!("   {line}\n"));
            }
        }
        if !o.level4.is_empty() {
            b.push_str("   invalid moderately_sensitive outputs:\n");
            for line in metalog::table(&o.level4, "").lines() {
                b.push_str(&format!("   {line}\n"));
            }
        }
        if o.status == Status::Failed
            && let Some(log) = &o.log
            && !log.is_empty()
        {
            b.push_str("   logs (truncated):\n");
            let text = String::from_utf8_lossy(log);
            let lines: Vec<&str> = text.lines().collect();
            for line in &lines[lines.len().saturating_sub(32)..] {
                b.push_str(&format!("     {line}\n"));
            }
        }
        blocks.push((o.status == Status::Failed, b));
    }
    blocks.sort_by_key(|(failed, _)| *failed);
    let mut out = String::new();
    for (_, b) in &blocks {
        out.push_str(b);
        out.push('\n');
    }
    out.push_str(&counts_line(report));
    let failed: Vec<&str> = report
        .order
        .iter()
        .filter(|a| {
            report
                .outcomes
                .get(*a)
                .is_some_and(|o| o.status == Status::Failed)
        })
        .map(String::as_str)
        .collect();
    if !failed.is_empty() {
        out.push_str("=> failed:\n");
        for a in failed {
            let o = &report.outcomes[a];
            let first = o.message.lines().next().unwrap_or("");
            out.push_str(&format!("   {a}: {first}\n"));
            out.push_str(&format!(
                "      log: {}\n",
                metalog::log_path(Path::new(""), a).display()
            ));
            if let Some(ws) = o.failure.as_ref().and_then(|f| f.workspace.as_ref()) {
                out.push_str(&format!("      workspace: {}\n", ws.display()));
            }
        }
    }
    let skipped: Vec<&str> = report
        .order
        .iter()
        .filter(|a| {
            report
                .outcomes
                .get(*a)
                .is_some_and(|o| o.status == Status::DependencyFailed)
        })
        .map(String::as_str)
        .collect();
    if !skipped.is_empty() {
        out.push_str(&format!("=> not run: {}\n", skipped.join(", ")));
    }
    out
}

/// `=> 1 ran, 2 restored, 1 failed, 1 not run (dependency failed) in 1.2s`.
fn counts_line(report: &RunReport) -> String {
    let t = &report.totals;
    let mut parts = vec![format!("{} ran", t.ran), format!("{} restored", t.cached)];
    if t.failed > 0 {
        parts.push(format!("{} failed", t.failed));
    }
    if t.dependency_failed > 0 {
        // Not run because a need failed, or never started because the run
        // stopped at the first failure (or was cancelled).
        let (because, stopped) = report
            .outcomes
            .values()
            .filter(|o| o.status == Status::DependencyFailed)
            .fold((0, 0), |(b, s), o| {
                if o.message.starts_with("Not starting as dependency failed") {
                    (b + 1, s)
                } else {
                    (b, s + 1)
                }
            });
        if because > 0 {
            parts.push(format!("{because} not run (dependency failed)"));
        }
        if stopped > 0 {
            let why = if report.cancelled {
                "cancelled"
            } else {
                "stopped at the first failure"
            };
            parts.push(format!("{stopped} not started ({why})"));
        }
    }
    if t.withheld > 0 {
        parts.push(format!(
            "{} withheld (highly_sensitive content not in this store)",
            t.withheld
        ));
    }
    format!("=> {} in {}\n", parts.join(", "), seconds(t.elapsed))
}

/// A duration as people read it: `0.3s`.
pub fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
