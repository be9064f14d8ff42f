//! The `cairn` program: parses the command line, turns flags into the
//! engine's options (the one place that does), calls the command, and maps
//! the result to an exit code (0 ok, 1 failure, 2 usage, 130 interrupted).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command, Format, GlobalArgs, KeyCommand, RunArgs};
use crate::{
    cache, check, exec, explain, graph, project, report, run, session, show, status, store_cmd,
    trace, ui, verify, yaml_json,
};

/// Runs `cairn` with the process's arguments.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            match e.downcast_ref::<project::InvalidProject>() {
                Some(invalid) => eprintln!("{invalid}"),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    let dir = g.project_dir();
    match cli.command {
        Command::Check => check::run(&dir, g.format("check")),
        Command::YamlJson => yaml_json::run(),
        Command::Graph { executor } => graph::run(
            &dir,
            &g.store_args(),
            executor.executor.map(Into::into),
            g.graph_format(),
        ),
        Command::Store { command } => {
            g.no_format("store");
            store_cmd::run(command, &dir, &g.store_args())
        }
        Command::Key {
            command: KeyCommand::Generate { name },
        } => {
            g.no_format("key");
            cache::keys::generate(&name)
        }
        Command::Cache { command } => {
            g.no_format("cache");
            cache_command(command, &dir, g.store.as_deref())
        }
        Command::Internal { command } => match command {
            crate::cli::InternalCommand::TraceInstall { dir } => {
                let path = trace::install(&dir)
                    .with_context(|| format!("installing the tracer in {}", dir.display()))?;
                println!("{}", path.display());
                Ok(ExitCode::SUCCESS)
            }
            crate::cli::InternalCommand::Cache(command) => {
                cache::internal::run(command, &dir, g.store.as_deref())
            }
        },
        Command::Clean { actions } => {
            g.no_format("clean");
            crate::clean::clean(&dir, &actions)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            g.no_format("completions");
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "cairn", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run_command(&args, g),
        Command::Verify(args) => verify::verify(args, &dir, g.store.as_deref(), g.format("verify")),
        Command::Report(args) => {
            g.no_format("report");
            report::report(args, &dir, g.store.as_deref())
        }
        Command::SlurmJob { job } => exec::slurm::node::run(&job),
        Command::Status { executor } => {
            status::status(&open(g, executor.executor)?, g.format("status"))
        }
        Command::Explain { action, executor } => {
            g.no_format("explain");
            explain::explain(&open(g, executor.executor)?, &action)
        }
        Command::Show { action, executor } => {
            show::show(&open(g, executor.executor)?, &action, g.format("show"))
        }
        Command::Log { action } => {
            g.no_format("log");
            show::log(&open(g, None)?, &action)
        }
    }
}

/// `cairn run`: the engine reports through the sink `--format` chooses; the
/// summary is printed from what it returns.
fn run_command(args: &RunArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let format = global.format("run");
    let opts = args.options(global);
    install_ctrlc(opts.cancelled.clone());
    let sink = ui::sink(format);
    let report = run::run(&opts, sink.as_ref())?;
    if opts.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    if format == Format::Human {
        ui::print_summary(&report);
    }
    Ok(if report.cancelled {
        ExitCode::from(130)
    } else if report.totals.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn install_ctrlc(flag: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: stop waiting for cleanup.
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping running actions…");
    });
}

/// A session for commands that inspect but do not run.
fn open(
    global: &GlobalArgs,
    executor: Option<crate::cli::ExecutorKind>,
) -> anyhow::Result<session::Session> {
    session::Session::open_read_only(
        &global.project_dir(),
        global.store.as_deref(),
        executor.map(Into::into),
    )
}

/// `cairn cache export|import|push|pull`.
fn cache_command(
    command: crate::cli::ShareCommand,
    project_dir: &std::path::Path,
    store: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use crate::cache::sync;
    use crate::cli::ShareCommand;
    let mut session = session::Session::open(session::SessionOptions {
        project_dir,
        store,
        executor: None,
        actions: &[],
        commit: None,
        docker: exec::DockerOptions::default(),
        read_only: false,
        slurm: exec::SlurmOptions::default(),
    })?;
    for w in std::mem::take(&mut session.warnings) {
        eprintln!("{w}");
    }
    let session = session;
    let url = match &command {
        ShareCommand::Push { remote, .. } | ShareCommand::Pull { remote, .. } => remote.as_deref(),
        _ => None,
    };
    let sharing = cache::settings::Sharing::resolve(&session.config, &session.project_dir, url)?;
    let targets = |a: &[String]| -> Vec<String> {
        if a.is_empty() {
            vec!["run_all".to_string()]
        } else {
            a.to_vec()
        }
    };
    match command {
        ShareCommand::Export {
            actions,
            output,
            include_highly_sensitive,
        } => sync::export(
            &session,
            &sharing,
            &targets(&actions),
            &output,
            include_highly_sensitive,
        )?,
        ShareCommand::Import {
            files,
            trust_unsigned,
        } => sync::import(&session, &sharing, &files, trust_unsigned)?,
        ShareCommand::Push {
            actions,
            include_highly_sensitive,
            ..
        } => {
            let remote = sync::connect(&sharing)?;
            let mut current = sync::closure(&session, &targets(&actions))?;
            let p = sync::push_realisations(
                &session,
                &remote,
                &sharing,
                &mut current,
                include_highly_sensitive,
            )?;
            println!(
                "pushed {} realisation(s) and {} object(s) ({}) to {}; {} object(s) already there; {} object(s) ({}) withheld (highly_sensitive)",
                p.realisations,
                p.objects,
                sync::human(p.bytes),
                remote.url(""),
                p.present,
                p.withheld,
                sync::human(p.withheld_bytes)
            );
        }
        ShareCommand::Pull {
            actions,
            trust_unsigned,
            ..
        } => {
            let remote = sync::connect(&sharing)?;
            let n = sync::pull(
                &session,
                &remote,
                &sharing,
                trust_unsigned,
                &targets(&actions),
            )?;
            println!("pulled {n} realisation(s) from {}", remote.url(""));
        }
    }
    Ok(ExitCode::SUCCESS)
}
