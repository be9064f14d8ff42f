//! `cairn.toml`: optional per-project settings. Every key has a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// The parsed `cairn.toml` of a project.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub executor: ExecutorConfig,
    #[serde(default)]
    pub images: BTreeMap<String, ImageConfig>,
    #[serde(default)]
    pub actions: BTreeMap<String, ActionConfig>,
    #[serde(default)]
    pub remote: Option<RemoteConfig>,
    #[serde(default)]
    pub trust: TrustConfig,
    #[serde(default)]
    pub slurm: SlurmConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// `auto`, `local`, `docker` or `slurm`.
    pub kind: Option<String>,
}

/// How an image is run: by the local executor (`command`, `identity`) and by
/// the docker executor (`docker`).
#[derive(Debug, Default, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// Argv prefix for the local executor; the action's arguments follow.
    pub command: Option<Vec<String>>,
    /// A pinned identity, used instead of hashing the program.
    pub identity: Option<String>,
    /// The image reference for the docker executor: without a tag, the
    /// action's tag is appended; with a tag or digest, it is used as is.
    pub docker: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// Glob patterns narrowing the source files the action can see.
    pub inputs: Option<Vec<String>>,
    /// Resources of the action's Slurm job, over the `[slurm]` defaults.
    pub slurm: Option<SlurmResources>,
}

/// `[slurm]`: how the slurm executor submits jobs.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlurmConfig {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// The default time limit of a job, in Slurm's syntax (`1:00:00`).
    pub time: Option<String>,
    /// Extra arguments for every `sbatch`.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// The shared directory for job workspaces (default: the store's `tmp/`).
    pub workdir: Option<String>,
    /// The path of the `cairn` binary on the nodes (default: the running one).
    pub cairn: Option<String>,
    /// How the action runs on the node: `local` (default) or `docker`.
    pub node_executor: Option<String>,
}

/// `[actions.NAME] slurm = { … }`: one action's job resources.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlurmResources {
    /// Time limit (`4:00:00`).
    pub time: Option<String>,
    /// Memory (`32G`), for `--mem`.
    pub mem: Option<String>,
    /// CPUs, for `--cpus-per-task`.
    pub cpus: Option<u32>,
    pub partition: Option<String>,
    pub qos: Option<String>,
    /// Extra arguments for this action's `sbatch`.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
}

/// `[remote]`: the shared cache (in `cairn.toml` or the user's config).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RemoteConfig {
    /// The base URL; `$CAIRN_REMOTE` overrides it.
    pub url: Option<String>,
    /// The environment variable holding the bearer token (never the token).
    pub token_env: Option<String>,
    /// The secret key file that signs what is pushed or exported.
    pub sign_with: Option<String>,
}

/// `[trust]`: public keys (`NAME:BASE64`) whose signatures make a
/// realisation from elsewhere believed.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    #[serde(default)]
    pub keys: Vec<String>,
}

impl Config {
    /// Reads `cairn.toml` in `project_dir`, or the defaults if there is none.
    pub fn load(project_dir: &Path) -> Result<Config> {
        let path = project_dir.join("cairn.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("cairn.toml: {e}"))
    }

    /// The store directory: `--store`, else `$CAIRN_STORE`, else `cairn.toml`,
    /// else `$XDG_CACHE_HOME/cairn`, else `~/.cache/cairn`.
    pub fn store_path(&self, flag: Option<&Path>) -> Result<PathBuf> {
        if let Some(p) = flag {
            return Ok(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os("CAIRN_STORE").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        if let Some(p) = &self.store.path {
            return Ok(expand_home(p));
        }
        default_store_path()
    }
}

/// `$XDG_CACHE_HOME/cairn`, else `~/.cache/cairn`.
pub fn default_store_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p).join("cairn"));
    }
    let home = std::env::var_os("HOME").filter(|p| !p.is_empty()).context(
        "cannot find the store: set $HOME, $XDG_CACHE_HOME or $CAIRN_STORE, or pass --store",
    )?;
    Ok(PathBuf::from(home).join(".cache").join("cairn"))
}

pub(crate) fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let c: Config = toml::from_str(
            r#"
[store]
path = "~/.cache/cairn"
[executor]
kind = "auto"
[images.stata-mp]
command = ["stata-mp", "-b", "do"]
identity = "stata-18.5"
[images.python]
docker = "ghcr.io/opensafely-core/python"
[actions.anCASE]
inputs = ["analysis/an_*.do", "lib/*.ado"]
[remote]
url = "https://cache.example.org/cairn"
token-env = "CAIRN_TOKEN"
sign-with = "~/.config/cairn/keys/team.secret"
[trust]
keys = ["team:AAAA"]
[slurm]
partition = "short"
time = "1:00:00"
workdir = "/shared/scratch/cairn"
sbatch-args = ["--constraint=avx2"]
node-executor = "local"
[actions.big]
slurm = { time = "4:00:00", mem = "32G", cpus = 8 }
"#,
        )
        .unwrap();
        assert_eq!(c.images["stata-mp"].identity.as_deref(), Some("stata-18.5"));
        assert_eq!(c.actions["anCASE"].inputs.as_ref().unwrap().len(), 2);
        let remote = c.remote.unwrap();
        assert_eq!(remote.token_env.as_deref(), Some("CAIRN_TOKEN"));
        assert!(remote.sign_with.is_some());
        assert_eq!(c.trust.keys, ["team:AAAA"]);
        assert_eq!(c.slurm.partition.as_deref(), Some("short"));
        let big = c.actions["big"].slurm.as_ref().unwrap();
        assert_eq!((big.mem.as_deref(), big.cpus), (Some("32G"), Some(8)));
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("[images.python]\ncomand = []\n").is_err());
    }
}
