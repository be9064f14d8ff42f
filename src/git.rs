//! The git repository a project lives in, through the `git` command.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A git work tree containing the project directory.
#[derive(Debug, Clone)]
pub struct Git {
    /// The project directory (may be below the repository's top level).
    dir: PathBuf,
}

impl Git {
    /// The repository containing `dir`, if it is in one (and git is
    /// installed). A project that its enclosing repository ignores (say, one
    /// generated under a build directory) is not managed by it: `None`.
    pub fn discover(dir: &Path) -> Option<Git> {
        let out = git_cmd(dir)
            .args(["rev-parse", "--is-inside-work-tree"])
            .output()
            .ok()?;
        if !(out.status.success() && out.stdout.starts_with(b"true")) {
            return None;
        }
        let ignored = git_cmd(dir)
            .args(["check-ignore", "-q", "project.yaml"])
            .status()
            .ok()?;
        (!ignored.success()).then(|| Git {
            dir: dir.to_path_buf(),
        })
    }

    fn run<I, S>(&self, args: I) -> Result<Vec<u8>>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = git_cmd(&self.dir)
            .args(&args)
            .output()
            .context("running git (is it installed?)")?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why = match stderr.trim() {
                "" => out.status.to_string(),
                text => text.to_string(),
            };
            bail!(
                "git {} failed: {why}",
                args.iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        Ok(out.stdout)
    }

    /// Files under the project directory that git would show: tracked, plus
    /// untracked but not ignored. Paths are relative to the project directory.
    pub fn visible_files(&self) -> Result<Vec<String>> {
        let out = self.run([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--deduplicate",
        ])?;
        let mut files: Vec<String> = split_z(&out)
            // Deleted-but-tracked files are still listed by --cached.
            .filter(|p| self.dir.join(p).symlink_metadata().is_ok())
            .collect();
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// The commit id of HEAD, if there is one.
    pub fn head(&self) -> Option<String> {
        self.resolve("HEAD").ok()
    }

    /// The branch HEAD is on (`None` when detached or unborn).
    pub fn branch(&self) -> Option<String> {
        let out = self
            .run(["symbolic-ref", "--quiet", "--short", "HEAD"])
            .ok()?;
        let name = String::from_utf8(out).ok()?.trim().to_string();
        (!name.is_empty()).then_some(name)
    }

    /// The full commit id of a revision.
    pub fn resolve(&self, rev: &str) -> Result<String> {
        let spec = format!("{rev}^{{commit}}");
        let out = git_cmd(&self.dir)
            .args(["rev-parse", "--verify", "--quiet", &spec])
            .output()
            .context("running git (is it installed?)")?;
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || id.is_empty() {
            bail!(
                "revision {rev:?} does not exist in the repository at {}: `git log --oneline` lists the commits",
                self.dir.display()
            );
        }
        Ok(id)
    }

    /// Whether the work tree differs from HEAD (untracked, not ignored files count).
    pub fn is_dirty(&self) -> Result<bool> {
        let out = self.run([
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=normal",
            ".",
        ])?;
        Ok(!out.is_empty())
    }

    /// Writes the tree of `commit` below the project directory into `dest`,
    /// without touching the user's index or work tree.
    pub fn export(&self, commit: &str, dest: &Path) -> Result<()> {
        let prefix = String::from_utf8(self.run(["rev-parse", "--show-prefix"])?)?
            .trim()
            .to_string();
        let index = tempfile::NamedTempFile::new().context("creating a temporary git index")?;
        let status = git_cmd(&self.dir)
            .env("GIT_INDEX_FILE", index.path())
            .args(["read-tree", commit])
            .status()?;
        if !status.success() {
            bail!("git read-tree {commit} failed");
        }
        let full = tempfile::tempdir_in(dest.parent().unwrap_or(dest))?;
        let mut target = full.path().as_os_str().to_owned();
        target.push("/");
        let status = git_cmd(&self.dir)
            .env("GIT_INDEX_FILE", index.path())
            .args(["checkout-index", "-a", "-f"])
            .arg(format!("--prefix={}", target.to_string_lossy()))
            .status()?;
        if !status.success() {
            bail!("git checkout-index for {commit} failed");
        }
        let sub = full.path().join(&prefix);
        if dest.exists() {
            std::fs::remove_dir_all(dest)?;
        }
        if sub.exists() {
            std::fs::rename(&sub, dest)?;
        } else {
            std::fs::create_dir_all(dest)?;
        }
        Ok(())
    }
}

fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(["-c", "core.quotepath=off"])
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    cmd
}

fn split_z(out: &[u8]) -> impl Iterator<Item = String> + '_ {
    out.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
}
