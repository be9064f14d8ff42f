//! The `cairn` program: parses the command line, turns flags into the
//! engine's options (the one place that does), calls the command, and maps
//! the result to an exit code (0 ok, 1 failure, 2 usage, 130 interrupted).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command, Format, GlobalArgs, RunArgs};
use crate::{check, explain, graph, project, run, session, show, status, store_cmd, trace, ui};

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
        Command::Internal {
            command: crate::cli::InternalCommand::TraceInstall { dir },
        } => {
            let path = trace::install(&dir)
                .with_context(|| format!("installing the tracer in {}", dir.display()))?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
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
        Command::Status { executor } => {
            status::status(&open(g, executor.executor)?, g.format("status"))
        }
        Command::Explain { action, executor } => {
            g.no_format("explain");
            explain::explain(&open(g, executor.executor)?, &action)
        }
        Command::Show { action, executor } => {
            g.no_format("show");
            show::show(&open(g, executor.executor)?, &action)
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
