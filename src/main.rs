//! The `cairn` command line.

mod check;
mod cli;
mod graph;
mod project;
mod store_cmd;

use std::process::ExitCode;

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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { project, format } => check::run(&project.project_dir, format),
        Command::Graph {
            project, format, ..
        } => graph::run(&project.project_dir, format),
        Command::Store { command, store } => store_cmd::run(command, &store),
        other => anyhow::bail!("{other:?} is not available yet"),
    }
}
