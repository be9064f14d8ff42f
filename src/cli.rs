//! Command-line flags, as parsed by clap. `main` turns them into calls.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "cairn",
    version,
    about = "Run OpenSAFELY project.yaml pipelines, rerunning only what changed"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after its name.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// The project directory (holding project.yaml) [default: the nearest one
    /// upwards from the current directory]
    #[arg(long, value_name = "DIR", global = true)]
    pub project_dir: Option<PathBuf>,
    /// The store directory [default: $CAIRN_STORE, cairn.toml, $XDG_CACHE_HOME/cairn]
    #[arg(long, value_name = "DIR", global = true)]
    pub store: Option<PathBuf>,
    /// Output format: human or json; for `graph`, dot or mermaid
    #[arg(long, value_enum, value_name = "FORMAT", global = true)]
    pub format: Option<AnyFormat>,
}

impl GlobalArgs {
    /// `--project-dir`, else the nearest directory upwards from the current
    /// one that holds `project.yaml` (as git and cargo search), else `.`
    /// (where the missing file is then reported).
    pub fn project_dir(&self) -> PathBuf {
        if let Some(dir) = &self.project_dir {
            return dir.clone();
        }
        // Relative to here (`..`, `../..`), so messages name files as the
        // user would.
        let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        match here
            .ancestors()
            .position(|d| d.join("project.yaml").is_file())
        {
            None | Some(0) => PathBuf::from("."),
            Some(up) => std::iter::repeat_n("..", up).collect(),
        }
    }

    pub fn store_args(&self) -> StoreArgs {
        StoreArgs {
            store: self.store.clone(),
        }
    }

    /// The format of a command that speaks `human` or `json`.
    pub fn format(&self, command: &str) -> Format {
        match self.format {
            None | Some(AnyFormat::Human) => Format::Human,
            Some(AnyFormat::Json) => Format::Json,
            Some(other) => usage_error(&format!(
                "`cairn {command}` prints human or json, not {}",
                other.name()
            )),
        }
    }

    /// The format of `cairn graph`.
    pub fn graph_format(&self) -> GraphFormat {
        match self.format {
            None | Some(AnyFormat::Dot) => GraphFormat::Dot,
            Some(AnyFormat::Mermaid) => GraphFormat::Mermaid,
            Some(other) => usage_error(&format!(
                "`cairn graph` prints dot or mermaid, not {}",
                other.name()
            )),
        }
    }

    /// Refuses `--format` for a command that has one way of printing.
    pub fn no_format(&self, command: &str) {
        if let Some(f) = self.format {
            usage_error(&format!(
                "`cairn {command}` has no --format (got {})",
                f.name()
            ));
        }
    }
}

/// Exits with clap's usage error (status 2).
fn usage_error(message: &str) -> ! {
    use clap::CommandFactory;
    Cli::command()
        .error(clap::error::ErrorKind::ArgumentConflict, message)
        .exit()
}

/// The store directory as commands take it.
#[derive(Debug, Clone, Default)]
pub struct StoreArgs {
    pub store: Option<PathBuf>,
}

/// Which executor's identities a command that inspects compares with.
#[derive(Args, Debug, Default)]
pub struct ExecutorArgs {
    /// The executor whose image identities to use [default: cairn.toml, else auto]
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,
}

/// Every value `--format` takes; each command accepts its own.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyFormat {
    /// For people (the default)
    Human,
    /// One JSON document, or JSON lines for `run`
    Json,
    /// Graphviz (`graph`'s default)
    Dot,
    /// Mermaid flowchart (`graph`)
    Mermaid,
}

impl AnyFormat {
    fn name(self) -> &'static str {
        match self {
            AnyFormat::Human => "human",
            AnyFormat::Json => "json",
            AnyFormat::Dot => "dot",
            AnyFormat::Mermaid => "mermaid",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphFormat {
    #[default]
    Dot,
    Mermaid,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorKind {
    /// Docker when an engine answers and has every image, else local
    Auto,
    /// The image's program on this machine
    Local,
    /// Containers through the docker CLI
    Docker,
    /// One Slurm batch job per action (sbatch, squeue, sacct)
    Slurm,
}

impl From<ExecutorKind> for crate::exec::ExecutorChoice {
    fn from(k: ExecutorKind) -> Self {
        match k {
            ExecutorKind::Auto => crate::exec::ExecutorChoice::Auto,
            ExecutorKind::Local => crate::exec::ExecutorChoice::Local,
            ExecutorKind::Docker => crate::exec::ExecutorChoice::Docker,
            ExecutorKind::Slurm => crate::exec::ExecutorChoice::Slurm,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate project.yaml and print the plan
    Check,
    /// Read YAML documents (one JSON string per line on stdin) and print, per line,
    /// `{"ok": data}` or `{"error": message}`: for the differential YAML test
    #[command(hide = true)]
    YamlJson,
    /// Print the action graph
    Graph {
        #[command(flatten)]
        executor: ExecutorArgs,
    },
    /// Run actions (and what they need), reusing cached outputs
    Run(RunArgs),
    /// Show whether each action is fresh, stale, failed or never run
    Status {
        #[command(flatten)]
        executor: ExecutorArgs,
    },
    /// Explain why an action is stale, down to the first cause
    Explain {
        /// The action to explain
        #[arg(value_name = "ACTION")]
        action: String,
        #[command(flatten)]
        executor: ExecutorArgs,
    },
    /// Print an action's provenance: derivation, observations, realisation
    Show {
        /// The action to show
        #[arg(value_name = "ACTION")]
        action: String,
        #[command(flatten)]
        executor: ExecutorArgs,
    },
    /// Print an action's last log
    Log {
        /// The action whose log to print
        #[arg(value_name = "ACTION")]
        action: String,
    },
    /// Rebuild actions from their recorded inputs and compare the outputs
    Verify(VerifyArgs),
    /// Write one self-contained HTML page about the last run
    Report(ReportArgs),
    /// Manage the keys that sign shared cache entries
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Share the cache: archives for CI, a remote cache on an HTTP server
    Cache {
        #[command(subcommand)]
        command: ShareCommand,
    },
    /// Run one Slurm job's action on the node (started by the job's script)
    #[command(hide = true)]
    SlurmJob {
        /// The job description written by the submitting cairn
        job: PathBuf,
    },
    /// cairn's own plumbing, for its tests
    #[command(hide = true)]
    Internal {
        #[command(subcommand)]
        command: InternalCommand,
    },
    /// Inspect and maintain the store
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Remove actions' outputs and logs from the project
    ///
    /// The outputs stay in the store: the next run restores them without
    /// running anything. Kept failed workspaces go too.
    Clean {
        /// Actions to clean [default: every action]
        #[arg(value_name = "ACTION")]
        actions: Vec<String>,
    },
    /// Print a shell completion script
    ///
    /// e.g. `cairn completions bash > ~/.local/share/bash-completion/completions/cairn`
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Actions to run (`run_all` for every action)
    #[arg(value_name = "ACTION")]
    pub actions: Vec<String>,
    /// Rerun the requested actions and all their dependencies
    #[arg(short = 'f', long)]
    pub force_run_dependencies: bool,
    /// Rerun the requested actions even if their outputs are cached
    #[arg(long)]
    pub force: bool,
    /// Run up to N actions at once (at least 1) [default: 2; 100 with --executor slurm]
    #[arg(short = 'j', long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Don't stop on the first failed action
    #[arg(long)]
    pub continue_on_error: bool,
    /// Print what would run and why, and run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Build from the tree of this git commit instead of the work tree
    #[arg(long, value_name = "REV")]
    pub commit: Option<String>,
    /// How to run actions [default: cairn.toml's [executor] kind, else auto]
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,
    /// Pull missing images (docker executor)
    #[arg(long)]
    pub pull: bool,
    /// Use realisations from the remote cache that no trusted key signed
    #[arg(long)]
    pub trust_unsigned: bool,
    /// CPUs per action (docker: --cpus [default: 2]; slurm: --cpus-per-task)
    #[arg(long, alias = "cpu", value_name = "N")]
    pub cpus: Option<f64>,
    /// Memory limit per action (docker: --memory [default: 4G]; slurm: --mem)
    #[arg(short = 'm', long, value_name = "M")]
    pub memory: Option<String>,
}

/// `-j N`: a positive number of actions.
fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (it is how many actions run at once)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a number of actions")),
    }
}

impl RunArgs {
    /// The run engine's options for these flags.
    pub fn options(&self, global: &GlobalArgs) -> crate::run::RunOptions {
        use crate::run::Force;
        let docker = crate::exec::DockerOptions::default();
        crate::run::RunOptions {
            project_dir: global.project_dir(),
            store: global.store.clone(),
            actions: self.actions.clone(),
            force: if self.force_run_dependencies {
                Force::WithDependencies
            } else if self.force {
                Force::Targets
            } else {
                Force::Nothing
            },
            jobs: self.jobs,
            continue_on_error: self.continue_on_error,
            dry_run: self.dry_run,
            commit: self.commit.clone(),
            executor: self.executor.map(Into::into),
            docker: crate::exec::DockerOptions {
                pull: self.pull,
                cpus: self.cpus.unwrap_or(docker.cpus),
                memory: self.memory.clone().unwrap_or(docker.memory),
            },
            slurm: crate::exec::SlurmOptions {
                cpus: self.cpus,
                memory: self.memory.clone(),
            },
            trust_unsigned: self.trust_unsigned,
            cancelled: Default::default(),
        }
    }
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Actions to verify (`run_all` for every action)
    #[arg(value_name = "ACTION")]
    pub actions: Vec<String>,
    /// Build each action N times [default: 1 against a recorded realisation,
    /// else 2 compared with each other]
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
    /// Verify the tree of this git commit instead of the work tree
    #[arg(long, value_name = "REV")]
    pub commit: Option<String>,
    /// Vary the CPU count, hostname, umask, scratch path and entry order
    /// between builds
    #[arg(long)]
    pub vary: bool,
    /// Verify up to N actions at once
    #[arg(short = 'j', long, value_name = "N", default_value_t = 2)]
    pub jobs: usize,
    /// How to run actions
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Actions to report on [default: those the last run was asked for]
    #[arg(value_name = "ACTION")]
    pub actions: Vec<String>,
    /// Where to write the page
    #[arg(short = 'o', long, value_name = "FILE", default_value = "report.html")]
    pub output: PathBuf,
    #[command(flatten)]
    pub executor: ExecutorArgs,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Write a new ed25519 key pair NAME.secret and NAME.public to
    /// ~/.config/cairn/keys (never overwriting) and print the public key
    Generate {
        /// The key's name (letters, digits, '.', '_', '-'), e.g. team-ci-1
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Rehash every object and check every record's references
    Verify {
        /// Move corrupt objects and records aside
        #[arg(long)]
        repair: bool,
    },
    /// Remove what no project root reaches
    Gc {
        /// Print what would be removed
        #[arg(long)]
        dry_run: bool,
        /// Also keep what no root reaches but was used in the last N days
        #[arg(long, value_name = "N")]
        keep_days: Option<u64>,
        /// Keep unrooted results, most recently used first, only while the
        /// kept objects stay under SIZE (e.g. 500M, 20G)
        #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
        max_size: Option<u64>,
    },
    /// Print disk usage figures
    Du,
    /// List what the store holds per project and action
    Ls,
}

/// A size such as `500M`, `20G` or `1048576` (bytes).
fn parse_size_arg(s: &str) -> Result<u64, String> {
    if s.trim() == "0" {
        return Ok(0);
    }
    crate::exec::engine::parse_size(s)
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 500M, 20G, or a number of bytes)"))
}

#[derive(Subcommand, Debug)]
pub enum InternalCommand {
    /// Installs the tracer into DIR and prints its path
    TraceInstall {
        /// Where to install it
        dir: PathBuf,
    },
    /// The sharing layer's plumbing
    #[command(flatten)]
    Cache(crate::cache::internal::CacheCommand),
}

#[derive(Subcommand, Debug)]
pub enum ShareCommand {
    /// Write the current realisations of ACTIONs (and what they need) to an archive
    Export {
        /// Actions to export (`run_all`, the default, for every action)
        #[arg(value_name = "ACTION")]
        actions: Vec<String>,
        /// The archive to write (a .tar.zst)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Also export the content of highly_sensitive outputs
        #[arg(long)]
        include_highly_sensitive: bool,
    },
    /// Read archives into the store (only realisations signed by a trusted key)
    Import {
        /// Archives written by `cairn cache export`
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
        /// Also accept realisations no trusted key signed
        #[arg(long)]
        trust_unsigned: bool,
    },
    /// Send the current realisations of ACTIONs (and what they need) to the remote cache
    Push {
        /// Actions to push (`run_all`, the default, for every action)
        #[arg(value_name = "ACTION")]
        actions: Vec<String>,
        /// The remote cache's URL [default: $CAIRN_REMOTE, [remote] url]
        #[arg(long, value_name = "URL")]
        remote: Option<String>,
        /// Also send the content of highly_sensitive outputs
        #[arg(long)]
        include_highly_sensitive: bool,
    },
    /// Fetch from the remote cache what ACTIONs (and what they need) would restore
    Pull {
        /// Actions to pull (`run_all`, the default, for every action)
        #[arg(value_name = "ACTION")]
        actions: Vec<String>,
        /// The remote cache's URL [default: $CAIRN_REMOTE, [remote] url]
        #[arg(long, value_name = "URL")]
        remote: Option<String>,
        /// Also accept realisations no trusted key signed
        #[arg(long)]
        trust_unsigned: bool,
    },
}
