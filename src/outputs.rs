//! Output patterns: which files an action produced, by OpenSAFELY's rules.
//!
//! A pattern's `*` matches any run of characters except `/`; every other
//! character is literal. A file matched by several patterns takes the level of
//! the last one. Files matching no pattern are not outputs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::project::{Action, PrivacyLevel, Project};

/// Compiles an OpenSAFELY output pattern (only `*` is special).
pub fn compile(pattern: &str) -> Result<Glob> {
    let escaped = pattern
        .split('*')
        .map(globset::escape)
        .collect::<Vec<_>>()
        .join("*");
    GlobBuilder::new(&escaped)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .with_context(|| format!("output pattern {pattern:?}"))
}

/// The patterns of one action, in file order, with their levels.
pub struct ActionPatterns {
    patterns: Vec<(PrivacyLevel, String)>,
    set: GlobSet,
}

impl ActionPatterns {
    pub fn new(action: &Action) -> Result<ActionPatterns> {
        let patterns: Vec<(PrivacyLevel, String)> =
            action.patterns().map(|(l, p)| (l, p.to_string())).collect();
        let mut b = GlobSetBuilder::new();
        for (_, p) in &patterns {
            b.add(compile(p)?);
        }
        Ok(ActionPatterns {
            patterns,
            set: b.build()?,
        })
    }

    /// The level of the last pattern matching `path`, if any.
    pub fn level_of(&self, path: &str) -> Option<PrivacyLevel> {
        self.set
            .matches(path)
            .into_iter()
            .max()
            .map(|i| self.patterns[i].0)
    }

    /// Patterns that match none of `files`.
    pub fn unmatched<'a>(&'a self, files: &[String]) -> Vec<&'a str> {
        let mut hit = vec![false; self.patterns.len()];
        for f in files {
            for i in self.set.matches(f) {
                hit[i] = true;
            }
        }
        self.patterns
            .iter()
            .zip(hit)
            .filter(|(_, h)| !h)
            .map(|((_, p), _)| p.as_str())
            .collect()
    }
}

/// Every output pattern of every action: the files no action can see as sources.
///
/// Real projects have thousands of patterns, so they are indexed by what is
/// literal in them: exact paths in a hash set, patterns whose `*` is only in
/// the file name grouped by their directory, and only patterns with a `*` in a
/// directory component in one general set. A path is then tested against the
/// few patterns that could match it.
pub struct AllPatterns {
    exact: HashSet<String>,
    /// Compiled on first use: most directories that hold outputs hold no
    /// sources, and compiling thousands of patterns costs more than a no-op
    /// run may spend.
    by_dir: HashMap<String, LazySet>,
    general: GlobSet,
}

/// Globs compiled into a set the first time a path is tested against them.
struct LazySet {
    globs: Vec<globset::Glob>,
    set: std::sync::OnceLock<GlobSet>,
}

impl LazySet {
    fn is_match(&self, path: &str) -> bool {
        self.set
            .get_or_init(|| {
                let mut b = GlobSetBuilder::new();
                for g in &self.globs {
                    b.add(g.clone());
                }
                // Each glob compiled on its own already; a set of them builds.
                b.build().expect("a set of valid globs builds")
            })
            .is_match(path)
    }
}

impl AllPatterns {
    pub fn new(project: &Project) -> Result<AllPatterns> {
        let mut exact = HashSet::new();
        let mut by_dir: HashMap<String, Vec<globset::Glob>> = HashMap::new();
        let mut general = GlobSetBuilder::new();
        for a in project.actions.values() {
            for (_, p) in a.patterns() {
                let (dir, name) = split_parent(p);
                if !p.contains('*') {
                    exact.insert(p.to_string());
                } else if !dir.contains('*') && name.contains('*') {
                    by_dir.entry(dir.to_string()).or_default().push(compile(p)?);
                } else {
                    general.add(compile(p)?);
                }
            }
        }
        Ok(AllPatterns {
            exact,
            by_dir: by_dir
                .into_iter()
                .map(|(d, globs)| {
                    (
                        d,
                        LazySet {
                            globs,
                            set: std::sync::OnceLock::new(),
                        },
                    )
                })
                .collect(),
            general: general.build()?,
        })
    }

    pub fn is_match(&self, path: &str) -> bool {
        self.exact.contains(path)
            || self
                .by_dir
                .get(split_parent(path).0)
                .is_some_and(|s| s.is_match(path))
            || (!self.general.is_empty() && self.general.is_match(path))
    }
}

/// `("a/b", "c.csv")` for `a/b/c.csv`; `("", "c.csv")` for `c.csv`.
fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Lists every regular file under `root`, as sorted `/`-separated relative paths.
pub fn list_files(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.with_context(|| format!("listing {}", root.display()))?;
        if entry.file_type().is_file() {
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

/// What an action produced in its workspace, once its patterns are applied.
pub struct Collected {
    /// Output path -> level.
    pub files: BTreeMap<String, PrivacyLevel>,
    /// Patterns that matched nothing (the action fails).
    pub unmatched: Vec<String>,
    /// Files that matched no pattern and were not placed by cairn: the
    /// "did you mean" list.
    pub strays: Vec<String>,
}

/// Applies `patterns` to the files of `workspace`. `placed` is the set of files
/// cairn put there before the run (sources and inputs), unchanged since.
pub fn collect(
    workspace: &Path,
    patterns: &ActionPatterns,
    is_unchanged_placed: &dyn Fn(&str) -> bool,
) -> Result<Collected> {
    let all = list_files(workspace)?;
    let mut files = BTreeMap::new();
    let mut strays = Vec::new();
    for f in &all {
        match patterns.level_of(f) {
            Some(level) => {
                files.insert(f.clone(), level);
            }
            None if !is_unchanged_placed(f) => strays.push(f.clone()),
            None => {}
        }
    }
    let unmatched = patterns
        .unmatched(&all)
        .into_iter()
        .map(str::to_string)
        .collect();
    Ok(Collected {
        files,
        unmatched,
        strays,
    })
}

/// File types allowed for moderately_sensitive outputs.
pub const LEVEL4_FILE_TYPES: &[&str] = &[
    "csv", "jpg", "jpeg", "png", "svg", "svgz", "html", "txt", "log", "json", "md",
];
pub const LEVEL4_MAX_FILESIZE: u64 = 16 * 1024 * 1024;
pub const LEVEL4_MAX_CSV_ROWS: usize = 5000;

/// The level-4 checks of a moderately_sensitive file: `None` if it passes,
/// else the reason (OpenSAFELY's wording). Reported, never fatal.
pub fn level4_problem(path: &Path) -> Result<Option<String>> {
    let size = std::fs::metadata(path)?.len();
    if size > LEVEL4_MAX_FILESIZE {
        return Ok(Some(format!(
            "File size of {:.2}Mb is larger that limit of {:.2}Mb.",
            size as f64 / (1024.0 * 1024.0),
            LEVEL4_MAX_FILESIZE as f64 / (1024.0 * 1024.0)
        )));
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !LEVEL4_FILE_TYPES.contains(&ext) {
        return Ok(Some(format!(
            "File type of .{ext} is not valid level 4 file"
        )));
    }
    if ext != "csv" {
        return Ok(None);
    }
    let text = std::fs::read(path)?;
    let mut lines = text.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let mut problems = Vec::new();
    if let Some(header) = lines.next()
        && String::from_utf8_lossy(header)
            .split(',')
            .any(|c| c.trim().trim_matches('"') == "patient_id")
    {
        problems.push("File has patient_id column".to_string());
    }
    let rows = lines.count();
    if rows > LEVEL4_MAX_CSV_ROWS {
        problems.push(format!(
            "File row count ({rows}) exceeds maximum allowed rows ({LEVEL4_MAX_CSV_ROWS})"
        ));
    }
    Ok((!problems.is_empty()).then(|| problems.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        compile(pattern).unwrap().compile_matcher().is_match(path)
    }

    #[test]
    fn star_never_crosses_a_slash() {
        assert!(m("output/*.csv", "output/a.csv"));
        assert!(!m("output/*.csv", "output/sub/a.csv"));
        assert!(m("out/a*/b.csv", "out/abc/b.csv"));
        assert!(!m("output/*.csv", "output/a.csvx"));
    }

    #[test]
    fn the_pattern_index_agrees_with_plain_matching() {
        let patterns = [
            "output/input.csv",
            "output/*.png",
            "out/a*/b.csv",
            "top*.txt",
            "logs/x_*_y.log",
        ];
        let yaml = format!(
            "version: '4'\nactions:\n  a:\n    run: python:v2 a.py\n    outputs:\n      highly_sensitive:\n{}",
            patterns
                .iter()
                .enumerate()
                .map(|(i, p)| format!("        o{i}: {p}\n"))
                .collect::<String>()
        );
        let project = crate::project::check_source(&yaml).project.expect("valid");
        let all = AllPatterns::new(&project).unwrap();
        for path in [
            "output/input.csv",
            "output/input.csvx",
            "output/a.png",
            "output/sub/a.png",
            "out/abc/b.csv",
            "out/abc/d/b.csv",
            "top1.txt",
            "x/top1.txt",
            "logs/x_1_y.log",
            "logs/x_1_z.log",
            "analysis/a.py",
        ] {
            let plain = patterns.iter().any(|p| m(p, path));
            assert_eq!(all.is_match(path), plain, "{path}");
        }
    }

    #[test]
    fn other_characters_are_literal() {
        assert!(m("out/{a,b}.csv", "out/{a,b}.csv"));
        assert!(!m("out/{a,b}.csv", "out/a.csv"));
        assert!(m("out/ x.csv", "out/ x.csv"));
    }

    #[test]
    fn level4_checks_use_the_reference_wording() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("a.csv");
        std::fs::write(&csv, "patient_id,x\n1,2\n").unwrap();
        assert_eq!(
            level4_problem(&csv).unwrap().as_deref(),
            Some("File has patient_id column")
        );
        let rds = dir.path().join("a.rds");
        std::fs::write(&rds, "x").unwrap();
        assert_eq!(
            level4_problem(&rds).unwrap().as_deref(),
            Some("File type of .rds is not valid level 4 file")
        );
        let ok = dir.path().join("ok.csv");
        std::fs::write(&ok, "a,b\n1,2\n").unwrap();
        assert_eq!(level4_problem(&ok).unwrap(), None);
    }
}
