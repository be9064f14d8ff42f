//! Everything a command that plans or runs needs, opened once: the project,
//! its config, the store, the executor and the visible sources.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cairn_store::{AllSources, Derivation, Digest, Realisation, Store, Visible, realisation_key};

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
    /// Warnings for the user from opening (project.yaml, cairn.toml, the
    /// hash cache), left to the command to show: `run` shows them, commands
    /// that only look do not.
    pub warnings: Vec<String>,
    /// Keeps an exported commit tree alive while the session lasts.
    _export: Option<tempfile::TempDir>,
    /// An empty stand-in store for a read-only session where none exists yet.
    _empty_store: Option<tempfile::TempDir>,
    /// The remote cache a run pulls from and pushes to, if one is set.
    pub remote: Option<crate::cache::sync::RunRemote>,
    /// The tracer, installed on first use (`Err`: why it could not be).
    tracer: std::sync::OnceLock<std::result::Result<PathBuf, String>>,
}

/// How a session is opened.
pub struct SessionOptions<'a> {
    pub project_dir: &'a Path,
    pub store: Option<&'a Path>,
    pub executor: Option<exec::ExecutorChoice>,
    /// The actions the command is about (chooses which images must be present).
    pub actions: &'a [String],
    pub commit: Option<&'a str>,
    pub docker: exec::DockerOptions,
    pub slurm: exec::SlurmOptions,
    /// For commands that only look (`status`, `explain`, `show`, `log`,
    /// `graph`): no store and no `.cairn/` are created, nothing is saved,
    /// and the project's warnings are left to `check` and `run`.
    pub read_only: bool,
}

impl Session {
    pub fn open(opts: SessionOptions) -> Result<Session> {
        let mut notes = Vec::new();
        let project_dir = opts.project_dir.to_path_buf();
        // `--commit REV`: project.yaml, cairn.toml and the sources all come
        // from REV's tree; the work tree's cairn.toml only says where this
        // machine keeps its store.
        let commit_git = match opts.commit {
            Some(rev) => {
                let g = Git::discover(&project_dir)
                    .context("--commit needs the project to be in a git repository")?;
                let commit = g.resolve(rev)?;
                Some((g, commit))
            }
            None => None,
        };
        let work_config = Config::load(&project_dir)?;
        let store_path = work_config.store_path(opts.store)?;
        let opening = || format!("opening the store at {}", store_path.display());
        let (store, empty_store) = if opts.read_only {
            match Store::open_existing(&store_path).with_context(opening)? {
                Some(store) => (store, None),
                None => {
                    // Nothing was ever built here: an empty store answers
                    // every question the same way, and creates nothing.
                    let dir = tempfile::tempdir().context("creating a temporary directory")?;
                    (Store::open(dir.path())?, Some(dir))
                }
            }
        } else {
            (Store::open(&store_path).with_context(opening)?, None)
        };
        let export = match &commit_git {
            Some((g, commit)) => {
                let tmp = store.scratch_dir("commit-")?;
                g.export(commit, &tmp.path().join("tree"))?;
                Some(tmp)
            }
            None => None,
        };
        let tree = export.as_ref().map(|t| t.path().join("tree"));
        let (project, warnings) = match (&tree, &commit_git) {
            (Some(tree), Some((_, commit))) => crate::project::load(tree)
                .with_context(|| format!("reading project.yaml at commit {commit}"))?,
            _ => crate::project::load(&project_dir)?,
        };
        notes.extend(warnings.iter().map(|w| format!("warning: {}", w.message)));
        let config = match &tree {
            Some(tree) => Config::load(tree)?,
            None => work_config,
        };
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
                let outputs = AllPatterns::new(&project)?;
                match (&commit_git, &tree) {
                    (Some((g, commit)), Some(tree)) => {
                        let mut cache = StatCache::in_memory();
                        let sources = SourceTree::scan(tree, None, &outputs, &mut cache)?;
                        Ok((
                            Some(g.clone()),
                            Some(commit.clone()),
                            true,
                            sources,
                            cache.hashed,
                            None,
                        ))
                    }
                    _ => {
                        let git = Git::discover(&project_dir);
                        let mut cache =
                            StatCache::load(&project_dir.join(".cairn").join("statcache"));
                        let sources =
                            SourceTree::scan(&project_dir, git.as_ref(), &outputs, &mut cache)?;
                        let saved = if opts.read_only {
                            // Hashes learnt now are learnt again by `run`.
                            None
                        } else {
                            cache.save().err().map(|e| {
                                format!("warning: could not save the file hash cache: {e:#}")
                            })
                        };
                        let hashed = cache.hashed;
                        let head = git.as_ref().and_then(Git::head);
                        Ok((git, head, false, sources, hashed, saved))
                    }
                }
            })();
            let executor = executor.join().expect("choosing the executor panicked");
            (executor, scanned)
        });
        let executor = executor?;
        let (git, commit, from_commit, sources, sources_hashed, saved) = scanned?;
        notes.extend(saved);
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
            warnings: notes,
            _export: export,
            _empty_store: empty_store,
            remote: None,
            tracer: std::sync::OnceLock::new(),
        })
    }

    /// A session for a command that only looks (see [`SessionOptions::read_only`]).
    pub fn open_read_only(
        project_dir: &Path,
        store: Option<&Path>,
        executor: Option<exec::ExecutorChoice>,
    ) -> Result<Session> {
        Self::open(SessionOptions {
            project_dir,
            store,
            executor,
            actions: &[],
            commit: None,
            docker: exec::DockerOptions::default(),
            slurm: exec::SlurmOptions::default(),
            read_only: true,
        })
    }

    /// The tracer's path, installed in the store's tools directory on first
    /// use; `Err` says why it could not be installed (actions then run
    /// untraced).
    pub fn tracer(&self) -> std::result::Result<&Path, &str> {
        self.tracer
            .get_or_init(|| {
                crate::trace::install(&self.store.tools_dir())
                    .map_err(|e| format!("the tracer could not be installed: {e}"))
            })
            .as_ref()
            .map(PathBuf::as_path)
            .map_err(String::as_str)
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
    pub fn derivation(&self, action: &str, inputs: BTreeMap<String, Digest>) -> Result<Derivation> {
        let visible = match self
            .config
            .actions
            .get(action)
            .and_then(|a| a.inputs.as_ref())
        {
            Some(globs) => Visible::Declared(globs.clone()),
            None => Visible::All(AllSources::All),
        };
        crate::derivation::derive(
            self.action(action),
            self.executor.as_ref(),
            &self.env,
            visible,
            inputs,
        )
    }

    /// A realisation of derivation `drv` whose observations hold of
    /// `sources` now, with its key: each path set recorded for the
    /// derivation, most recent first, valued from the sources already
    /// scanned (no file is read).
    pub fn lookup(
        &self,
        drv: &Digest,
        sources: &SourceTree,
    ) -> Result<Option<(Digest, Realisation)>> {
        for set in self.store.path_sets(drv)? {
            let key = realisation_key(drv, &crate::observe::observe(sources, &set));
            if let Some(r) = self.store.realisation(&key)? {
                return Ok(Some((key, r)));
            }
        }
        Ok(None)
    }
}
