//! The `cairn` command line.

mod check;
mod cli;
mod config;
mod derivation;
mod exec;
mod explain;
mod git;
mod graph;
mod metalog;
mod observe;
mod outputs;
mod plan;
mod project;
mod run;
mod session;
mod show;
mod sources;
mod statcache;
mod state;
mod status;
mod store_cmd;
mod trace;
mod ui;
mod yaml_json;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
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
    match cli.command {
        Command::Check { project, format } => check::run(&project.project_dir, format),
        Command::YamlJson => yaml_json::run(),
        Command::Graph {
            project,
            store,
            executor,
            format,
        } => graph::run(&project.project_dir, &store, executor.executor, format),
        Command::Store {
            command,
            project,
            store,
        } => store_cmd::run(command, &project.project_dir, &store),
        Command::Internal {
            command: cli::InternalCommand::TraceInstall { dir },
        } => {
            let path = trace::install(&dir)
                .with_context(|| format!("installing the tracer in {}", dir.display()))?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run::run(args),
        Command::SlurmJob { job } => exec::slurm::node::run(&job),
        Command::Status {
            project,
            store,
            executor,
            format,
        } => status::status(&open(&project, &store, executor.executor)?, format),
        Command::Explain {
            action,
            project,
            store,
            executor,
        } => explain::explain(&open(&project, &store, executor.executor)?, &action),
        Command::Show {
            action,
            project,
            store,
            executor,
        } => show::show(&open(&project, &store, executor.executor)?, &action),
        Command::Log {
            action,
            project,
            store,
        } => show::log(&open(&project, &store, None)?, &action),
    }
}

/// A session for commands that inspect but do not run.
fn open(
    project: &cli::ProjectArgs,
    store: &cli::StoreArgs,
    executor: Option<cli::ExecutorKind>,
) -> anyhow::Result<session::Session> {
    session::Session::open_read_only(&project.project_dir, store.store.as_deref(), executor)
}
