//! How the CLI shows a run: three [`EventSink`]s (progress bars on a
//! terminal, plain lines otherwise, JSON lines with `--format json`) and the
//! closing summary.

mod summary;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cli::Format;
use crate::run::{Event, EventSink};

pub use summary::{print_summary, seconds};

/// The sink for `format`: JSON lines, bars on a terminal, plain lines otherwise.
pub fn sink(format: Format) -> Box<dyn EventSink> {
    match format {
        Format::Json => Box::new(JsonLines),
        Format::Human if std::io::stderr().is_terminal() => Box::new(Terminal::default()),
        Format::Human => Box::new(PlainLines),
    }
}

/// One JSON object per event on stdout (the contract of DESIGN §5).
pub struct JsonLines;

impl EventSink for JsonLines {
    fn event(&self, event: &Event) {
        let v = match event {
            Event::Note(msg) => json!({"event": "note", "message": msg}),
            Event::Plan {
                actions,
                executor,
                round,
            } => {
                if *round > 1 {
                    return;
                }
                json!({"event": "plan", "actions": actions, "executor": executor})
            }
            Event::Started { action, id } => {
                json!({"event": "started", "action": action, "id": id.short()})
            }
            Event::Finished {
                action,
                id,
                status,
                message,
                elapsed,
                outputs,
            } => {
                let outputs: Vec<_> = outputs
                    .iter()
                    .map(|o| json!({"path": o.path, "size": o.size, "level": o.level}))
                    .collect();
                json!({
                    "event": "action",
                    "action": action,
                    "id": id.map(|d| d.short()),
                    "status": status.as_str(),
                    "message": message,
                    "duration_s": elapsed.map(|d| d.as_secs_f64()),
                    "outputs": outputs,
                })
            }
            Event::RoundEnded => return,
            Event::DryRun {
                action,
                id,
                verdict,
            } => json!({
                "event": "dry_run",
                "action": action,
                "id": id.map(|d| d.short()),
                "verdict": verdict,
            }),
            Event::Done(t) => json!({
                "event": "done",
                "ok": t.ok,
                "files_hashed": t.files_hashed,
                "ran": t.ran,
                "cached": t.cached,
                "failed": t.failed,
                "dependency_failed": t.dependency_failed,
                "withheld": t.withheld,
                "duration_s": t.elapsed.as_secs_f64(),
            }),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    }
}

/// Plain lines on stderr, for logs and pipes.
pub struct PlainLines;

impl EventSink for PlainLines {
    fn event(&self, event: &Event) {
        match event {
            Event::Note(msg) => eprintln!("{msg}"),
            Event::Plan {
                actions,
                executor,
                round: 1,
            } => eprintln!(
                "Running actions: {} (executor: {executor})",
                actions.join(", ")
            ),
            Event::Started { action, id } => eprintln!("{action}: Executing job ({})", id.short()),
            Event::Finished {
                action, message, ..
            } => eprintln!("{action}: {message}"),
            Event::DryRun { .. } => print_dry_run(event),
            Event::Plan { .. } | Event::RoundEnded | Event::Done(_) => {}
        }
    }
}

fn print_dry_run(event: &Event) {
    if let Event::DryRun {
        action,
        id,
        verdict,
    } = event
    {
        println!(
            "{action} ({}): {verdict}",
            id.map(|d| d.short())
                .unwrap_or_else(|| "id not yet known".into())
        );
    }
}

/// Progress bars on stderr: one line per running action and an overall bar.
#[derive(Default)]
pub struct Terminal {
    bars: Mutex<Option<Bars>>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: HashMap<String, ProgressBar>,
}

impl EventSink for Terminal {
    fn event(&self, event: &Event) {
        let mut bars = self.bars.lock().unwrap();
        match event {
            Event::Note(msg) => match bars.as_ref() {
                Some(b) => {
                    let _ = b.multi.println(msg);
                }
                None => eprintln!("{msg}"),
            },
            Event::Plan {
                actions,
                executor,
                round,
            } => {
                if *round == 1 {
                    eprintln!(
                        "Running actions: {} (executor: {executor})",
                        actions.join(", ")
                    );
                }
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let overall = multi.add(ProgressBar::new(actions.len() as u64));
                overall.set_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise:.dim} [{bar:30.cyan/blue}] {pos}/{len} actions {msg}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                overall.enable_steady_tick(Duration::from_millis(200));
                *bars = Some(Bars {
                    multi,
                    overall,
                    running: HashMap::new(),
                });
            }
            Event::Started { action, id } => {
                let Some(b) = bars.as_mut() else { return };
                let bar = b
                    .multi
                    .insert_before(&b.overall, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.green} {prefix:.bold} {elapsed:>4} {msg}",
                    )
                    .expect("valid template"),
                );
                bar.set_prefix(action.to_string());
                bar.set_message(format!("running ({})", id.short()));
                bar.enable_steady_tick(Duration::from_millis(120));
                b.running.insert(action.to_string(), bar);
            }
            Event::Finished {
                action, message, ..
            } => {
                let first = message.lines().next().unwrap_or("");
                match bars.as_mut() {
                    Some(b) => {
                        if let Some(bar) = b.running.remove(*action) {
                            bar.finish_and_clear();
                            b.multi.remove(&bar);
                        }
                        let _ = b.multi.println(format!("{action}: {first}"));
                        b.overall.inc(1);
                    }
                    None => eprintln!("{action}: {first}"),
                }
            }
            Event::RoundEnded => {
                if let Some(b) = bars.take() {
                    b.overall.finish_and_clear();
                }
            }
            Event::DryRun { .. } => print_dry_run(event),
            Event::Done(_) => {}
        }
    }
}
