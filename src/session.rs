//! Everything a command that plans or runs needs, opened once: the project,
//! its config, the store, the executor and the visible sources.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cairn_store::{Derivation, Digest, Realisation, Store};

use crate::config::Config;
use crate::exec::{self, Executor};
use crate::git::Git;
use crate::outputs::AllPatterns;
use crate::project::{Action, Project};
use crate::sources::SourceTree;
use crate::statcache::StatCache;
use crate::state::ProjectState;

pub struct Session {
    pub project_dir: PathBuf,
    pub project: Project,
    pub config: Config,
    pub store: Store,
    pub executor: Box<dyn Executor>,
    pub env: BTreeMap<String, String>,
    pub git: Option<Git>,
    /// The commit the sources come from (`--commit`), or HEAD.
    pub commit: Option<String>,
    /// Whether sources come from the tree of `commit` rather than the work tree.
    pub from_commit: bool,
    pub sources: SourceTree,
    /// How many source files had to be read to hash them (0 when the stat
    /// cache proved every file unchanged).
    pub sources_hashed: usize,
    pub state: ProjectState,
    /// Keeps an exported commit tree alive while the session lasts.
    _export: Option<tempfile::TempDir>,
}

/// How a session is opened.
pub struct SessionOptions<'a> {
    pub project_dir: &'a Path,
    pub store: Option<&'a Path>,
    pub executor: Option<crate::cli::ExecutorKind>,
    /// The actions the command is about (chooses which images must be present).
    pub actions: &'a [String],
    pub commit: Option<&'a str>,
    pub docker: exec::DockerOptions,
    pub slurm: exec::SlurmOptions,
}

impl Session {
    pub fn open(opts: SessionOptions) -> Result<Session> {
        Self::open_with(opts, true)
    }

    fn open_with(opts: SessionOptions, verbose: bool) -> Result<Session> {
        let project_dir = opts.project_dir.to_path_buf();
        let (project, warnings) = crate::project::load(&project_dir)?;
        if verbose {
            for w in &warnings {
                eprintln!("warning: {}", w.message);
            }
        }
        let config = Config::load(&project_dir)?;
        if verbose && let Some(remote) = &config.remote {
            eprintln!(
                "warning: cairn.toml: [remote] url = {:?} is ignored: this version of cairn has no remote cache",
                remote.url
            );
        }
        let store_path = config.store_path(opts.store)?;
        let store = Store::open(&store_path)
            .with_context(|| format!("opening the store at {}", store_path.display()))?;
        // Asking Docker which images it has takes tens of milliseconds of
        // waiting on other processes: it overlaps with scanning the sources.
        let (executor, scanned) = std::thread::scope(|s| {
            let executor = s.spawn(|| {
                exec::select(
                    opts.executor,
                    &config,
                    &project,
                    opts.actions,
                    &project_dir,
                    &store,
                    &opts.docker,
                    &opts.slurm,
                )
            });
            let scanned = (|| -> Result<_> {
                let git = Git::discover(&project_dir);
                let outputs = AllPatterns::new(&project)?;
                let (commit, from_commit, export, sources, sources_hashed) = match opts.commit {
                    Some(rev) => {
                        let g = git
                            .as_ref()
                            .context("--commit needs the project to be in a git repository")?;
                        let commit = g.resolve(rev)?;
                        let tmp = store.scratch_dir("commit-")?;
                        let tree = tmp.path().join("tree");
                        g.export(&commit, &tree)?;
                        let mut cache = StatCache::in_memory();
                        let sources = SourceTree::scan(&tree, None, &outputs, &mut cache)?;
                        (Some(commit), true, Some(tmp), sources, cache.hashed)
                    }
                    None => {
                        let mut cache =
                            StatCache::load(&project_dir.join(".cairn").join("statcache"));
                        let sources =
                            SourceTree::scan(&project_dir, git.as_ref(), &outputs, &mut cache)?;
                        if let Err(e) = cache.save() {
                            eprintln!("warning: could not save the file hash cache: {e:#}");
                        }
                        let hashed = cache.hashed;
                        (
                            git.as_ref().and_then(Git::head),
                            false,
                            None,
                            sources,
                            hashed,
                        )
                    }
                };
                Ok((git, commit, from_commit, export, sources, sources_hashed))
            })();
            let executor = executor.join().expect("choosing the executor panicked");
            (executor, scanned)
        });
        let executor = executor?;
        let (git, commit, from_commit, export, sources, sources_hashed) = scanned?;
        let state = ProjectState::load(&project_dir);
        Ok(Session {
            project_dir,
            project,
            config,
            store,
            executor,
            env: exec::fixed_env(),
            git,
            commit,
            from_commit,
            sources,
            sources_hashed,
            state,
            _export: export,
        })
    }

    /// A session for inspection that prints no warnings (the caller has
    /// already loaded the project and reported its problems).
    pub fn open_quiet(
        project_dir: &Path,
        store: &crate::cli::StoreArgs,
        executor: Option<crate::cli::ExecutorKind>,
    ) -> Result<Session> {
        Self::open_with(
            SessionOptions {
                project_dir,
                store: store.store.as_deref(),
                executor,
                actions: &[],
                commit: None,
                docker: exec::DockerOptions::default(),
                slurm: exec::SlurmOptions::default(),
            },
            false,
        )
    }

    pub fn action(&self, name: &str) -> &Action {
        &self.project.actions[name]
    }

    /// The sources `action` can see: all visible files, or those its
    /// `[actions.NAME] inputs` select.
    pub fn sources_for(&self, action: &str) -> Result<Cow<'_, SourceTree>> {
        match self
            .config
            .actions
            .get(action)
            .and_then(|a| a.inputs.as_ref())
        {
            Some(globs) => Ok(Cow::Owned(self.sources.narrow(globs)?)),
            None => Ok(Cow::Borrowed(&self.sources)),
        }
    }

    /// The input digests of `action` if every action it needs has known
    /// outputs in `manifests` (action -> output manifest digest).
    pub fn inputs_of(
        &self,
        action: &str,
        manifests: &HashMap<String, Digest>,
    ) -> Option<BTreeMap<String, Digest>> {
        self.action(action)
            .needs
            .iter()
            .map(|n| manifests.get(n).map(|d| (n.clone(), *d)))
            .collect()
    }

    /// The derivation of `action` given its inputs.
    pub fn derivation(
        &self,
        action: &str,
        sources: &SourceTree,
        inputs: BTreeMap<String, Digest>,
    ) -> Result<Derivation> {
        crate::derivation::derive(
            self.action(action),
            self.executor.as_ref(),
            &self.env,
            sources.digest(),
            inputs,
        )
    }

    /// The realisation of `id`, if the store has one.
    pub fn realisation(&self, id: &Digest) -> Result<Option<Realisation>> {
        Ok(self.store.realisation(id)?)
    }
}
