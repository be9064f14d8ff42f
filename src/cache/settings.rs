//! `Sharing`: the remote, token, signing key and trusted keys in force, from
//! the project's `cairn.toml`, the user's `config.toml` and the environment.
//!
//! Precedence: `--remote`, then `$CAIRN_REMOTE`, then `cairn.toml`, then the
//! user's file for the URL; `cairn.toml` before the user's file for
//! `token-env` and `sign-with`; trusted keys are the union of both files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use super::remote::{Remote, Timeouts};
use super::remote_error::RemoteError;
use super::trust::{PublicKey, SecretKey};
use crate::config::{Config, RemoteConfig, TrustConfig, expand_home};

/// The user's own settings: `$XDG_CONFIG_HOME/cairn/config.toml`, else
/// `~/.config/cairn/config.toml`. Only the sharing tables belong there.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    #[serde(default)]
    pub remote: Option<RemoteConfig>,
    #[serde(default)]
    pub trust: TrustConfig,
}

/// `$XDG_CONFIG_HOME/cairn`, else `~/.config/cairn`; `None` without either.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p).join("cairn"));
    }
    let home = std::env::var_os("HOME").filter(|p| !p.is_empty())?;
    Some(PathBuf::from(home).join(".config").join("cairn"))
}

impl UserConfig {
    /// Reads the user's config file; the defaults if there is none.
    pub fn load() -> Result<(UserConfig, Option<PathBuf>)> {
        let Some(dir) = config_dir() else {
            return Ok((UserConfig::default(), None));
        };
        let path = dir.join("config.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((UserConfig::default(), None));
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let config =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok((config, Some(path)))
    }
}

/// The remote to talk to, with its token.
#[derive(Clone)]
pub struct RemoteSettings {
    pub url: String,
    /// The token read from the variable `token_env` names, if it is set.
    pub token: Option<String>,
    pub token_env: Option<String>,
}

impl std::fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("token_env", &self.token_env)
            .finish()
    }
}

impl RemoteSettings {
    /// A client for this remote.
    pub fn connect(&self, timeouts: Timeouts) -> Result<Remote, RemoteError> {
        Remote::new(&self.url, self.token.clone(), timeouts)
    }
}

/// Everything about sharing that is in force for one project.
#[derive(Debug, Default)]
pub struct Sharing {
    pub remote: Option<RemoteSettings>,
    /// The secret key file that signs what is pushed or exported.
    pub sign_with: Option<PathBuf>,
    /// Public keys whose signatures are believed.
    pub trusted: Vec<PublicKey>,
    /// Things the user should hear about (a token variable that is unset).
    pub warnings: Vec<String>,
}

impl Sharing {
    /// Resolves the settings for the project in `project_dir` (whose
    /// `cairn.toml` is `project`), with `--remote URL` as `url_flag`.
    pub fn resolve(
        project: &Config,
        project_dir: &Path,
        url_flag: Option<&str>,
    ) -> Result<Sharing> {
        let (user, user_path) = UserConfig::load()?;
        let user_dir = user_path.as_deref().and_then(Path::parent);
        // The flag, then the environment, win over both files.
        let url = url_flag
            .map(str::to_string)
            .or(std::env::var("CAIRN_REMOTE")
                .ok()
                .filter(|u| !u.trim().is_empty()));
        Sharing::merge(project, project_dir, &user, user_dir, url)
    }

    fn merge(
        project: &Config,
        project_dir: &Path,
        user: &UserConfig,
        user_dir: Option<&Path>,
        url_override: Option<String>,
    ) -> Result<Sharing> {
        let ours = project.remote.clone().unwrap_or_default();
        let theirs = user.remote.clone().unwrap_or_default();
        let url = url_override.or(ours.url).or(theirs.url);
        let token_env = ours.token_env.or(theirs.token_env);
        let mut warnings = Vec::new();
        let remote = url.map(|url| {
            let token = token_env.as_ref().and_then(|var| {
                let token = std::env::var(var).ok().filter(|t| !t.is_empty());
                if token.is_none() {
                    warnings.push(format!(
                        "[remote] token-env names ${var}, which is not set: \
                         talking to {url} without a token"
                    ));
                }
                token
            });
            RemoteSettings {
                url,
                token,
                token_env: token_env.clone(),
            }
        });
        let sign_with = match (ours.sign_with, theirs.sign_with) {
            (Some(p), _) => Some(resolve_path(&p, Some(project_dir))),
            (None, Some(p)) => Some(resolve_path(&p, user_dir)),
            (None, None) => None,
        };
        let mut trusted: Vec<PublicKey> = Vec::new();
        for (keys, whence) in [
            (&project.trust.keys, "cairn.toml"),
            (&user.trust.keys, "the user's config.toml"),
        ] {
            for text in keys {
                let key: PublicKey = text
                    .parse()
                    .with_context(|| format!("{whence}: [trust] keys"))?;
                if !trusted.contains(&key) {
                    trusted.push(key);
                }
            }
        }
        Ok(Sharing {
            remote,
            sign_with,
            trusted,
            warnings,
        })
    }

    /// Reads the signing key that `sign-with` names, if any.
    pub fn signer(&self) -> Result<Option<SecretKey>> {
        let Some(path) = &self.sign_with else {
            return Ok(None);
        };
        super::keys::read_secret(path).map(Some)
    }
}

/// `~/` is the home directory; a relative path is relative to the directory
/// of the file that names it.
fn resolve_path(p: &str, base: Option<&Path>) -> PathBuf {
    let path = expand_home(p);
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn project_settings_win_and_keys_merge() {
        let a = super::super::trust::SecretKey::generate("a")
            .unwrap()
            .public();
        let b = super::super::trust::SecretKey::generate("b")
            .unwrap()
            .public();
        let project = config(&format!(
            "[remote]\nurl = \"http://127.0.0.1:1/p\"\nsign-with = \"keys/p.secret\"\n[trust]\nkeys = [\"{a}\"]\n"
        ));
        let user: UserConfig = toml::from_str(&format!(
            "[remote]\nurl = \"http://127.0.0.1:1/u\"\nsign-with = \"u.secret\"\n[trust]\nkeys = [\"{b}\", \"{a}\"]\n"
        ))
        .unwrap();
        let s = Sharing::merge(
            &project,
            Path::new("/proj"),
            &user,
            Some(Path::new("/home/u/.config/cairn")),
            None,
        )
        .unwrap();
        assert_eq!(s.trusted, vec![a.clone(), b.clone()]);
        assert_eq!(
            s.sign_with.as_deref(),
            Some(Path::new("/proj/keys/p.secret"))
        );
        // The flag beats every file.
        let s = Sharing::merge(
            &project,
            Path::new("/proj"),
            &user,
            None,
            Some("http://127.0.0.1:1/f".into()),
        )
        .unwrap();
        assert_eq!(s.remote.unwrap().url, "http://127.0.0.1:1/f");
        // The user's file fills what the project leaves out.
        let s = Sharing::merge(
            &Config::default(),
            Path::new("/proj"),
            &user,
            Some(Path::new("/cfg")),
            None,
        )
        .unwrap();
        assert_eq!(s.sign_with.as_deref(), Some(Path::new("/cfg/u.secret")));
        assert_eq!(s.trusted, vec![b, a]);
    }

    #[test]
    fn a_bad_trusted_key_names_its_file() {
        let project = config("[trust]\nkeys = [\"team:notbase64!\"]\n");
        let err = Sharing::merge(
            &project,
            Path::new("/p"),
            &UserConfig::default(),
            None,
            Some("http://x".into()),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("cairn.toml: [trust] keys") && msg.contains("not base64"),
            "{msg}"
        );
    }
}
