//! The `cairn` command line.

mod cache;
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
mod provenance;
mod report;
mod run;
mod session;
mod show;
mod sources;
mod statcache;
mod state;
mod status;
mod store_cmd;
mod timestamp;
mod trace;
mod ui;
mod verify;
mod yaml_json;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command, KeyCommand};

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
        Command::Key {
            command: KeyCommand::Generate { name },
        } => cache::keys::generate(&name),
        Command::Cache {
            command,
            project,
            store,
        } => cache_command(command, &project, &store),
        Command::Internal {
            command,
            project,
            store,
        } => match command {
            cli::InternalCommand::TraceInstall { dir } => {
                let path = trace::install(&dir)
                    .with_context(|| format!("installing the tracer in {}", dir.display()))?;
                println!("{}", path.display());
                Ok(ExitCode::SUCCESS)
            }
            cli::InternalCommand::Cache(command) => {
                cache::internal::run(command, &project.project_dir, store.store.as_deref())
            }
        },
        Command::Run(args) => run::run(args),
        Command::Verify(args) => verify::verify(args),
        Command::Report(args) => report::report(args),
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
            format,
        } => show::show(&open(&project, &store, executor.executor)?, &action, format),
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

/// `cairn cache export|import|push|pull`.
fn cache_command(
    command: cli::ShareCommand,
    project: &cli::ProjectArgs,
    store: &cli::StoreArgs,
) -> anyhow::Result<ExitCode> {
    use cache::sync;
    let session = session::Session::open(session::SessionOptions {
        project_dir: &project.project_dir,
        store: store.store.as_deref(),
        executor: None,
        actions: &[],
        commit: None,
        docker: exec::DockerOptions::default(),
        read_only: false,
        slurm: crate::exec::SlurmOptions::default(),
    })?;
    let url = match &command {
        cli::ShareCommand::Push { remote, .. } | cli::ShareCommand::Pull { remote, .. } => {
            remote.as_deref()
        }
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
        cli::ShareCommand::Export {
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
        cli::ShareCommand::Import {
            files,
            trust_unsigned,
        } => sync::import(&session, &sharing, &files, trust_unsigned)?,
        cli::ShareCommand::Push {
            actions,
            include_highly_sensitive,
            ..
        } => {
            let remote = sync::connect(&sharing)?;
            let mut current = sync::closure(&session, &targets(&actions))?;
            sync::sign(&session, sharing.signer()?.as_ref(), &mut current)?;
            let p = sync::push_realisations(&session, &remote, &current, include_highly_sensitive)?;
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
        cli::ShareCommand::Pull {
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
