//! The source files an action can see.
//!
//! Visible means what the OpenSAFELY runner copies into `/workspace`: every file
//! of the project (in git: tracked plus untracked-but-not-ignored) except
//! `.git/`, `metadata/`, `.cairn/`, cairn's own `project.yaml` and `cairn.toml`
//! (their meaning enters derivations through other fields), and every path
//! matching any action's output pattern.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cairn_store::Digest;
use globset::{GlobSet, GlobSetBuilder};

use crate::git::Git;
use crate::outputs::AllPatterns;
use crate::statcache::StatCache;

/// Top-level entries that are never sources.
const HIDDEN_DIRS: &[&str] = &[".git", "metadata", ".cairn"];
const HIDDEN_FILES: &[&str] = &["project.yaml", "cairn.toml"];

/// One visible file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// `/`-separated, relative to the project directory.
    pub path: String,
    pub digest: Digest,
    pub executable: bool,
}

/// A set of visible files, sorted by path.
#[derive(Clone, Debug, Default)]
pub struct SourceTree {
    /// Where the files are read from (the project, or an exported commit).
    pub root: PathBuf,
    pub files: Vec<SourceFile>,
}

impl SourceTree {
    /// Scans `root`: lists the visible files (from git when `git` is given) and
    /// hashes them through `cache`.
    pub fn scan(
        root: &Path,
        git: Option<&Git>,
        outputs: &AllPatterns,
        cache: &mut StatCache,
    ) -> Result<SourceTree> {
        let listed = match git {
            Some(g) => g.visible_files()?,
            None => list_visible(root)?,
        };
        let paths: Vec<String> = listed
            .into_iter()
            .filter(|p| is_visible(p) && !outputs.is_match(p))
            .collect();
        let hashed = cache.digests(root, &paths)?;
        cache.retain(&paths.iter().map(String::as_str).collect());
        let files = paths
            .into_iter()
            .zip(hashed)
            .map(|(path, h)| SourceFile {
                path,
                digest: h.digest,
                executable: h.stamp.executable(),
            })
            .collect();
        Ok(SourceTree {
            root: root.to_path_buf(),
            files,
        })
    }

    /// The subset of files matching any of `globs` (OpenSAFELY-style patterns,
    /// `*` not crossing `/`).
    pub fn narrow(&self, globs: &[String]) -> Result<SourceTree> {
        let set = glob_set(globs)?;
        Ok(SourceTree {
            root: self.root.clone(),
            files: self
                .files
                .iter()
                .filter(|f| set.is_match(&f.path))
                .cloned()
                .collect(),
        })
    }

    /// Copies every file into `dest` (reflink where the filesystem can).
    pub fn copy_into(&self, dest: &Path) -> Result<()> {
        self.copy_files(self.files.iter(), dest)
    }

    /// Copies every file into `dest` in reverse order, so that directory
    /// entries are created in another order (`cairn verify --vary`).
    pub fn copy_into_reversed(&self, dest: &Path) -> Result<()> {
        self.copy_files(self.files.iter().rev(), dest)
    }

    fn copy_files<'a>(
        &'a self,
        files: impl Iterator<Item = &'a SourceFile>,
        dest: &Path,
    ) -> Result<()> {
        for f in files {
            let to = dest.join(&f.path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let from = self.root.join(&f.path);
            reflink_copy::reflink_or_copy(&from, &to)
                .with_context(|| format!("copying {} into the workspace", from.display()))?;
        }
        Ok(())
    }
}

/// Every file under `root` except below the hidden top-level directories.
fn list_visible(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            e.depth() != 1
                || !e.file_type().is_dir()
                || !HIDDEN_DIRS.contains(&e.file_name().to_string_lossy().as_ref())
        });
    for entry in walk {
        let entry = entry.with_context(|| format!("listing {}", root.display()))?;
        if entry.file_type().is_file() || entry.file_type().is_symlink() {
            let rel = entry
                .path()
                .strip_prefix(root)
                .expect("walk stays below root");
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

fn is_visible(path: &str) -> bool {
    let first = path.split('/').next().unwrap_or(path);
    !(HIDDEN_DIRS.contains(&first) && path.len() > first.len() || HIDDEN_FILES.contains(&path))
}

fn glob_set(globs: &[String]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(crate::outputs::compile(g)?);
    }
    Ok(b.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_entries_are_not_visible() {
        assert!(!is_visible(".git/config"));
        assert!(!is_visible("metadata/a.log"));
        assert!(!is_visible(".cairn/statcache"));
        assert!(!is_visible("project.yaml"));
        assert!(is_visible("analysis/project.yaml"));
        assert!(is_visible("metadata.csv"));
        assert!(is_visible("analysis/x.py"));
    }
}
