//! The run engine driven through the library, without the CLI: a sink that
//! records events sees every action start and finish, and a second run
//! restores everything.

use std::sync::Mutex;

use cairn::exec::ExecutorChoice;
use cairn::run::{self, Event, EventSink, RunOptions, Status};

use crate::study::pipeline;

/// Remembers each event as a line.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl EventSink for Recorder {
    fn event(&self, event: &Event) {
        let line = match event {
            Event::Started { action, .. } => format!("started {action}"),
            Event::Finished {
                action,
                status,
                outputs,
                ..
            } => {
                let files: Vec<&str> = outputs.iter().map(|o| o.path.as_str()).collect();
                format!("{action} {} [{}]", status.as_str(), files.join(" "))
            }
            Event::Done(t) => format!("done ran={} cached={} ok={}", t.ran, t.cached, t.ok),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Recorder {
    fn sorted(&self) -> Vec<String> {
        let mut v = self.0.lock().unwrap().clone();
        v.sort();
        v
    }
}

#[test]
fn a_build_runs_through_the_library_with_a_recording_sink() {
    let s = pipeline();
    let mut opts = RunOptions::new(s.path(), &["report"]);
    opts.store = Some(s.store.path().to_path_buf());
    opts.executor = Some(ExecutorChoice::Local);

    let first = Recorder::default();
    let report = run::run(&opts, &first).unwrap();
    assert!(report.totals.ok);
    assert_eq!(report.order, ["prepare", "analyse", "report"]);
    assert_eq!(report.outcomes["report"].status, Status::Ran);
    assert_eq!(
        first.sorted(),
        [
            "analyse ran [output/table.csv]",
            "done ran=3 cached=0 ok=true",
            "prepare ran [output/data.csv]",
            "report ran [output/report.txt]",
            "started analyse",
            "started prepare",
            "started report",
        ]
    );
    assert_eq!(s.read("output/report.txt"), "The total is 60.\n");

    let second = Recorder::default();
    run::run(&opts, &second).unwrap();
    assert_eq!(
        second.sorted(),
        [
            "analyse cached [output/table.csv]",
            "done ran=0 cached=3 ok=true",
            "prepare cached [output/data.csv]",
            "report cached [output/report.txt]",
        ]
    );
}

#[test]
fn the_engine_imports_no_cli() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join("session.rs"), src.join("cache").join("sync.rs")];
    let mut dirs = vec![src.join("run"), src.join("exec")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for forbidden in ["crate::cli", "crate::ui", "crate::app", "clap::"] {
            assert!(
                !text.contains(forbidden),
                "{} uses {forbidden}: the run engine must not know the CLI",
                f.display()
            );
        }
    }
}
