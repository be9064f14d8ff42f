//! `cairn verify`: rebuild actions in fresh workspaces from their recorded
//! inputs, ignoring the cache, and compare every output with the recorded
//! realisation (or, when nothing is recorded, builds with each other).
//! Nothing is recorded and the project's files are not touched.

mod compare;
mod diff;
mod history;
mod rebuild;
mod render;
pub mod vary;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use serde::Serialize;

pub use diff::FirstDifference;
pub use history::{History, Verified};
use rebuild::{Files, Rebuilt, Side, Target};
use vary::Variation;

use crate::cli::{Format, VerifyArgs};
use crate::plan::Plan;
use crate::session::{Session, SessionOptions};
use crate::status::Evaluated;

/// The verdict on one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Reproducible,
    Differs,
    CouldNotRun,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Reproducible => "reproducible",
            Verdict::Differs => "differs",
            Verdict::CouldNotRun => "could not run",
        }
    }
}

/// How one output compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Same,
    Differs,
    /// In the reference only: a rebuild did not produce it.
    OnlyReference,
    /// Produced by a rebuild, absent from the reference.
    OnlyRebuilt,
    /// The stored copy of a recorded output no longer hashes to its name.
    Corrupt,
}

/// One build of an action and the variation in force.
#[derive(Clone, Debug, Serialize)]
pub struct Build {
    pub build: usize,
    pub variation: Variation,
    pub description: String,
}

/// One output of an action, compared.
#[derive(Clone, Debug, Serialize)]
pub struct FileResult {
    pub path: String,
    pub level: String,
    pub status: FileStatus,
    pub reference: Option<Side>,
    /// The first build that differs (or, when all agree, the last one).
    pub rebuilt: Option<Side>,
    /// Which build differed first, and under which variation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_difference: Option<FirstDifference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The result for one action.
#[derive(Clone, Debug, Serialize)]
pub struct ActionResult {
    pub action: String,
    /// The derivation's short id.
    pub id: Option<String>,
    /// The short key of the recorded realisation compared with, if any.
    pub realisation: Option<String>,
    pub status: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `recorded` or `build 1` (`None`: it could not run).
    pub compared_with: Option<String>,
    pub builds: Vec<Build>,
    /// With `--vary`: the variations that alone make the outputs differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub caused_by: Vec<String>,
    pub files: Vec<FileResult>,
}

impl ActionResult {
    fn could_not_run(name: &str, id: Option<String>, reason: String) -> ActionResult {
        ActionResult {
            action: name.to_string(),
            id,
            realisation: None,
            status: Verdict::CouldNotRun,
            reason: Some(reason),
            compared_with: None,
            builds: Vec::new(),
            caused_by: Vec::new(),
            files: Vec::new(),
        }
    }
}

pub fn verify(
    args: VerifyArgs,
    project_dir: &std::path::Path,
    store: Option<&std::path::Path>,
    format: Format,
) -> Result<ExitCode> {
    let mut session = Session::open(SessionOptions {
        project_dir,
        store,
        executor: args.executor.map(Into::into),
        actions: &args.actions,
        commit: args.commit.as_deref(),
        docker: crate::exec::DockerOptions::default(),
        read_only: false,
        slurm: crate::exec::SlurmOptions::default(),
    })?;
    for w in std::mem::take(&mut session.warnings) {
        eprintln!("{w}");
    }
    let session = session;
    if args.rounds == Some(0) {
        anyhow::bail!("--rounds must be at least 1");
    }
    let plan = Plan::new(&session.project, &args.actions)?;
    let targets: Vec<&String> = plan
        .order
        .iter()
        .filter(|a| plan.targets.contains(a))
        .collect();
    let evaluated: HashMap<String, Evaluated> = crate::status::evaluate(&session)?
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();
    if let Some(note) = session.executor.note()
        && format == Format::Human
    {
        eprintln!("{note}");
    }

    let cancelled = Arc::new(AtomicBool::new(false));
    {
        let flag = cancelled.clone();
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: stopping running builds…");
        });
    }
    let queue = Mutex::new(targets.iter().enumerate());
    let results: Mutex<Vec<(usize, ActionResult)>> = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if cancelled.load(Ordering::SeqCst) {
                    session.executor.cancel_all();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        let workers: Vec<_> = (0..args.jobs.max(1))
            .map(|_| {
                s.spawn(|| {
                    loop {
                        let next = queue.lock().unwrap().next();
                        let Some((i, name)) = next else { break };
                        if cancelled.load(Ordering::SeqCst) {
                            break;
                        }
                        if format == Format::Human {
                            eprintln!("verifying {name}…");
                        }
                        let r = verify_action(&session, name, &evaluated, &args, &cancelled)
                            .unwrap_or_else(|e| {
                                ActionResult::could_not_run(name, None, format!("{e:#}"))
                            });
                        results.lock().unwrap().push((i, r));
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        done.store(true, Ordering::SeqCst);
    });
    crate::run::build::finish_discards();
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<ActionResult> = results.into_iter().map(|(_, r)| r).collect();

    if let Err(e) = History::record(&session, &results, args.vary) {
        eprintln!("warning: could not save the verify results: {e:#}");
    }
    match format {
        Format::Json => render::json(&results)?,
        Format::Human => render::table(&results),
    }
    if cancelled.load(Ordering::SeqCst) {
        return Ok(ExitCode::from(130));
    }
    Ok(
        if results.iter().all(|r| r.status == Verdict::Reproducible) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// Rebuilds and compares one action.
fn verify_action(
    session: &Session,
    name: &str,
    evaluated: &HashMap<String, Evaluated>,
    args: &VerifyArgs,
    cancelled: &AtomicBool,
) -> Result<ActionResult> {
    let e = &evaluated[name];
    let id = e.id.map(|d| d.short());
    let Some(drv) = &e.derivation else {
        let missing: Vec<&str> = session
            .action(name)
            .needs
            .iter()
            .filter(|n| evaluated[n.as_str()].realisation.is_none())
            .map(String::as_str)
            .collect();
        return Ok(ActionResult::could_not_run(
            name,
            id,
            format!(
                "no recorded outputs for what it needs ({}): run `cairn run {}` or import their cache first",
                missing.join(", "),
                missing.join(" ")
            ),
        ));
    };
    let upstream = session
        .action(name)
        .needs
        .iter()
        .map(|n| {
            Arc::new(
                evaluated[n]
                    .realisation
                    .clone()
                    .expect("a known derivation"),
            )
        })
        .collect();
    let target = Target {
        name,
        drv,
        upstream,
    };
    let recorded = e.realisation.as_ref();
    let min = if recorded.is_some() && !args.vary {
        1
    } else {
        2
    };
    let rounds = args.rounds.unwrap_or(min).max(min);
    let kind = session.executor.kind();
    let variation = |i: usize| {
        if args.vary && i >= 2 {
            Variation::all(i, kind)
        } else {
            Variation::default()
        }
    };

    let mut builds = Vec::new();
    let mut rebuilt: Vec<Rebuilt> = Vec::new();
    for i in 1..=rounds {
        let v = variation(i);
        match rebuild::rebuild(session, &target, &v, cancelled)? {
            Ok(r) => rebuilt.push(r),
            Err(reason) => {
                let mut r = ActionResult::could_not_run(name, id, format!("build {i}: {reason}"));
                r.realisation = recorded.map(|r| r.key().short());
                return Ok(r);
            }
        }
        builds.push(Build {
            build: i,
            description: v.describe(),
            variation: v,
        });
    }

    let (reference, compared_with, first) = match recorded {
        Some(r) => (rebuild::recorded(&session.store, r)?, "recorded", 0),
        None => (rebuilt[0].files.clone(), "build 1", 1),
    };
    let against: Vec<(usize, &Files)> = rebuilt
        .iter()
        .enumerate()
        .skip(first)
        .map(|(i, r)| (i + 1, &r.files))
        .collect();
    let mut files = compare::compare(&reference, &against, &builds)?;

    // A difference that only varied builds show: rebuild under each
    // variation alone to name the ones that matter.
    let mut caused_by = Vec::new();
    let differs_in = |f: &FileResult| f.build.map(|b| !builds[b - 1].variation.is_none());
    if args.vary && files.iter().all(|f| differs_in(f) != Some(false)) {
        let varied: Vec<&FileResult> = files
            .iter()
            .filter(|f| differs_in(f) == Some(true))
            .collect();
        if let Some(b) = varied.first().and_then(|f| f.build) {
            let paths: Vec<String> = varied.iter().map(|f| f.path.clone()).collect();
            for single in builds[b - 1].variation.singles() {
                let Ok(r) = rebuild::rebuild(session, &target, &single, cancelled)? else {
                    continue;
                };
                let differs = paths
                    .iter()
                    .any(|p| reference.get(p).map(|v| &v.side) != r.files.get(p).map(|v| &v.side));
                if differs {
                    caused_by.push(single.describe());
                }
            }
            if !caused_by.is_empty() {
                let named = caused_by.join(", ");
                for f in files.iter_mut().filter(|f| differs_in(f) == Some(true)) {
                    f.variation = Some(named.clone());
                }
            }
        }
    }

    let status = if files.iter().all(|f| f.status == FileStatus::Same) {
        Verdict::Reproducible
    } else {
        Verdict::Differs
    };
    Ok(ActionResult {
        action: name.to_string(),
        id,
        realisation: recorded.map(|r| r.key().short()),
        status,
        reason: None,
        compared_with: Some(compared_with.to_string()),
        builds,
        caused_by,
        files,
    })
}
