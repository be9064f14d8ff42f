//! What a run tells the user as it goes: progress bars on a terminal, plain
//! lines otherwise, or JSON lines (one event each) with `--format json`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use cairn_store::Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cli::Format;

/// The final status of an action in a run (the JSON contract's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ran,
    Cached,
    Failed,
    DependencyFailed,
    Withheld,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ran => "ran",
            Status::Cached => "cached",
            Status::Failed => "failed",
            Status::DependencyFailed => "dependency_failed",
            Status::Withheld => "withheld",
        }
    }
}

enum Mode {
    Json,
    Plain,
    Bars {
        multi: MultiProgress,
        overall: ProgressBar,
        running: Mutex<HashMap<String, ProgressBar>>,
    },
}

pub struct Reporter {
    mode: Mode,
}

impl Reporter {
    pub fn new(format: Format, total: usize) -> Reporter {
        let mode = match format {
            Format::Json => Mode::Json,
            Format::Human if std::io::stderr().is_terminal() => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let overall = multi.add(ProgressBar::new(total as u64));
                overall.set_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise:.dim} [{bar:30.cyan/blue}] {pos}/{len} actions {msg}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                overall.enable_steady_tick(Duration::from_millis(200));
                Mode::Bars {
                    multi,
                    overall,
                    running: Mutex::new(HashMap::new()),
                }
            }
            Format::Human => Mode::Plain,
        };
        Reporter { mode }
    }

    pub fn is_json(&self) -> bool {
        matches!(self.mode, Mode::Json)
    }

    /// A line for the user, outside the event stream.
    pub fn note(&self, msg: &str) {
        match &self.mode {
            Mode::Json => emit(json!({"event": "note", "message": msg})),
            Mode::Plain => eprintln!("{msg}"),
            Mode::Bars { multi, .. } => {
                let _ = multi.println(msg);
            }
        }
    }

    pub fn plan(&self, order: &[String], executor: &str) {
        match &self.mode {
            Mode::Json => emit(json!({"event": "plan", "actions": order, "executor": executor})),
            _ => self.note(&format!(
                "Running actions: {} (executor: {executor})",
                order.join(", ")
            )),
        }
    }

    pub fn started(&self, action: &str, id: &Digest) {
        match &self.mode {
            Mode::Json => emit(json!({"event": "started", "action": action, "id": id.short()})),
            Mode::Plain => eprintln!("{action}: Executing job ({})", id.short()),
            Mode::Bars {
                multi,
                overall,
                running,
            } => {
                let bar = multi.insert_before(overall, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.green} {prefix:.bold} {elapsed:>4} {msg}",
                    )
                    .expect("valid template"),
                );
                bar.set_prefix(action.to_string());
                bar.set_message(format!("running ({})", id.short()));
                bar.enable_steady_tick(Duration::from_millis(120));
                running.lock().unwrap().insert(action.to_string(), bar);
            }
        }
    }

    pub fn finished(&self, action: &str, id: Option<&Digest>, status: Status, detail: &str) {
        match &self.mode {
            Mode::Json => emit(json!({
                "event": "action",
                "action": action,
                "id": id.map(Digest::short),
                "status": status.as_str(),
                "message": detail,
            })),
            Mode::Plain => eprintln!("{action}: {detail}"),
            Mode::Bars {
                multi,
                overall,
                running,
            } => {
                if let Some(bar) = running.lock().unwrap().remove(action) {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                let first = detail.lines().next().unwrap_or("");
                let _ = multi.println(format!("{action}: {first}"));
                overall.inc(1);
            }
        }
    }

    /// Ends the progress display.
    pub fn finish(&self) {
        if let Mode::Bars { overall, .. } = &self.mode {
            overall.finish_and_clear();
        }
    }

    /// The closing event of a run.
    /// `files_hashed` counts the files whose content had to be read to know
    /// it: 0 for an up-to-date project whose files are settled.
    pub fn done(&self, ok: bool, files_hashed: usize) {
        if let Mode::Json = self.mode {
            emit(json!({"event": "done", "ok": ok, "files_hashed": files_hashed}));
        }
    }
}

fn emit(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}
