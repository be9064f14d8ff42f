//! Key files: `cairn key generate NAME` writes `NAME.secret` (mode 0600,
//! never overwritten) and `NAME.public` in the user's keys directory.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::settings::config_dir;
use super::trust::{SecretKey, check_key_name};

/// `$XDG_CONFIG_HOME/cairn/keys`, else `~/.config/cairn/keys`.
pub fn keys_dir() -> Result<PathBuf> {
    config_dir()
        .map(|d| d.join("keys"))
        .context("cannot find the keys directory: set $HOME or $XDG_CONFIG_HOME")
}

/// Generates key pair `name` in `dir`; returns the paths of the secret and
/// public files. Refuses if either exists: a secret key is never replaced.
pub fn generate_in(dir: &Path, name: &str) -> Result<(SecretKey, PathBuf, PathBuf)> {
    check_key_name(name)?;
    let secret_path = dir.join(format!("{name}.secret"));
    let public_path = dir.join(format!("{name}.public"));
    for p in [&secret_path, &public_path] {
        if p.symlink_metadata().is_ok() {
            bail!(
                "{} already exists: cairn never overwrites a key; choose another name, \
                 or remove the old key yourself if it is no longer used",
                p.display()
            );
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let key = SecretKey::generate(name)?;
    // create_new: two generators racing for one name cannot both win.
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret_path)
        .with_context(|| format!("creating {}", secret_path.display()))?;
    writeln!(f, "{}", key.to_file_text())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", secret_path.display()))?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&public_path)
        .with_context(|| format!("creating {}", public_path.display()))?;
    writeln!(f, "{}", key.public())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", public_path.display()))?;
    Ok((key, secret_path, public_path))
}

/// `cairn key generate NAME`: prints the public key as `NAME:BASE64`.
pub fn generate(name: &str) -> Result<ExitCode> {
    let dir = keys_dir()?;
    let (key, secret, public) = generate_in(&dir, name)?;
    println!("{}", key.public());
    eprintln!(
        "wrote {} (keep it secret) and {}\n\
         to sign what you push, set `sign-with = {:?}` under [remote];\n\
         to trust it, add the line above to `keys` under [trust] in cairn.toml",
        secret.display(),
        public.display(),
        secret.display().to_string(),
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a secret key file (`NAME:BASE64`). Like ssh, refuses one that
/// other users can read: whoever read it could sign as its owner.
pub fn read_secret(path: &Path) -> Result<SecretKey> {
    let meta = fs::metadata(path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the signing key {} can be read by other users (mode {mode:o}); \
             run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let text = fs::read_to_string(path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    SecretKey::parse(&text).with_context(|| format!("{}", path.display()))
}
