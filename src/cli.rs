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
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct ProjectArgs {
    /// The project directory (holding project.yaml)
    #[arg(long, value_name = "DIR", default_value = ".", global = true)]
    pub project_dir: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The store directory [default: $CAIRN_STORE, cairn.toml, $XDG_CACHE_HOME/cairn]
    #[arg(long, value_name = "DIR", global = true)]
    pub store: Option<PathBuf>,
}

/// Which executor's identities a command that inspects compares with.
#[derive(Args, Debug, Default)]
pub struct ExecutorArgs {
    /// The executor whose image identities to use [default: cairn.toml, else auto]
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphFormat {
    #[default]
    Dot,
    Mermaid,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorKind {
    Auto,
    Local,
    Docker,
    Slurm,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate project.yaml and print the plan
    Check {
        #[command(flatten)]
        project: ProjectArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Read YAML documents (one JSON string per line on stdin) and print, per line,
    /// `{"ok": data}` or `{"error": message}`: for the differential YAML test
    #[command(hide = true)]
    YamlJson,
    /// Print the action graph
    Graph {
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        executor: ExecutorArgs,
        #[arg(long, value_enum, default_value_t)]
        format: GraphFormat,
    },
    /// Run actions (and what they need), reusing cached outputs
    Run(RunArgs),
    /// Show whether each action is fresh, stale or never run
    Status {
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        executor: ExecutorArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Explain why an action is stale
    Explain {
        action: String,
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        executor: ExecutorArgs,
    },
    /// Print an action's provenance: derivation, observations, realisation
    Show {
        action: String,
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        executor: ExecutorArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print an action's last log
    Log {
        action: String,
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        store: StoreArgs,
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
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        store: StoreArgs,
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
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Inspect and maintain the store
    Store {
        #[command(subcommand)]
        command: StoreCommand,
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        store: StoreArgs,
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
    /// Run up to N actions at once [default: 2; 100 with --executor slurm]
    #[arg(short = 'j', long, value_name = "N")]
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
    /// How to run actions
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
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub store: StoreArgs,
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
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub store: StoreArgs,
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
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub store: StoreArgs,
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
    TraceInstall { dir: PathBuf },
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
