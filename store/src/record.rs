//! Derivation and realisation records, and their canonical TOML encoding.
//!
//! A record is encoded by converting it to a TOML value (whose tables are
//! sorted maps) and printing that, so the bytes depend only on the content,
//! never on field declaration order or map insertion order.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, Kind};

/// The format version written into every derivation.
pub const DERIVATION_FORMAT: u32 = 1;
/// The format version written into every realisation.
pub const REALISATION_FORMAT: u32 = 1;

/// Privacy levels of outputs, as named in `project.yaml`.
pub const PRIVACY_LEVELS: [&str; 3] = [
    "highly_sensitive",
    "moderately_sensitive",
    "minimally_sensitive",
];

/// Everything that can change an action's outputs, and nothing that cannot.
/// Its id is the BLAKE3 (context `cairn derivation v1`) of its canonical TOML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    pub format: u32,
    pub action: ActionSpec,
    /// The expanded command, as the runner would execute it.
    pub argv: Vec<String>,
    pub image: ImageSpec,
    /// The environment the action sees, fixed by the executor.
    pub env: BTreeMap<String, String>,
    /// Merkle hash of the source files the action can see.
    pub sources: Digest,
    /// For each action in `needs`: the digest of its output manifest.
    pub inputs: BTreeMap<String, Digest>,
}

/// The action's name and output patterns by privacy level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionSpec {
    pub name: String,
    /// level -> (output label -> pattern)
    pub outputs: BTreeMap<String, BTreeMap<String, String>>,
}

/// The image an action runs in and the identity of what actually runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSpec {
    /// As written in `run:`, e.g. `python:v2`.
    pub reference: String,
    /// A Docker image id (`sha256:…`), `blake3:<hex>` of a local program, or a pin.
    pub identity: String,
}

impl Derivation {
    /// Canonical TOML bytes of this derivation.
    pub fn to_canonical(&self) -> String {
        to_canonical(self)
    }

    /// The derivation id.
    pub fn id(&self) -> Digest {
        Kind::Derivation.digest(self.to_canonical().as_bytes())
    }
}

/// One output file of a realisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputEntry {
    /// Digest of the file content (the store object).
    pub object: Digest,
    pub size: u64,
    /// Unix permission bits (only `0o644` or `0o755` are recorded).
    pub mode: u32,
    /// The privacy level of the pattern that matched this file.
    pub level: String,
}

/// The outputs of a realisation, by project-relative path (`/`-separated).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputManifest {
    pub files: BTreeMap<String, OutputEntry>,
}

impl OutputManifest {
    /// The digest of the outputs' content: what a dependant's derivation records.
    pub fn digest(&self) -> Digest {
        Kind::Manifest.digest(to_canonical(self).as_bytes())
    }
}

/// What building a derivation produced, and provenance about how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Realisation {
    pub format: u32,
    /// The derivation this realises.
    pub derivation: Digest,
    pub outputs: OutputManifest,
    pub exit_code: i32,
    /// Unix seconds.
    pub started_at: i64,
    pub finished_at: i64,
    /// The store object holding the action's log, if kept.
    pub log: Option<Digest>,
    /// `local` or `docker`.
    pub executor: String,
    pub host: String,
    /// The git commit the sources came from, if any.
    pub commit: Option<String>,
    /// Whether the work tree differed from `commit`.
    pub dirty: bool,
    pub cairn_version: String,
}

/// The privacy level whose objects never leave the machine unless asked.
pub const HIGHLY_SENSITIVE: &str = "highly_sensitive";

impl OutputEntry {
    /// Whether this output's content may be withheld (absent from a store).
    pub fn is_highly_sensitive(&self) -> bool {
        self.level == HIGHLY_SENSITIVE
    }
}

impl Realisation {
    /// Canonical TOML bytes of this realisation.
    pub fn to_canonical(&self) -> String {
        to_canonical(self)
    }

    /// Checks what a record read from disk or from an archive must satisfy
    /// before anything acts on it: a known format, safe relative paths,
    /// recorded modes and privacy levels only.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != REALISATION_FORMAT {
            return Err(format!(
                "realisation format {} (this cairn reads {REALISATION_FORMAT})",
                self.format
            ));
        }
        for (path, entry) in &self.outputs.files {
            check_relative_path(path).map_err(|why| format!("output {path:?}: {why}"))?;
            if entry.mode != 0o644 && entry.mode != 0o755 {
                return Err(format!(
                    "output {path:?}: mode {:o} is not 644 or 755",
                    entry.mode
                ));
            }
            if !PRIVACY_LEVELS.contains(&entry.level.as_str()) {
                return Err(format!(
                    "output {path:?}: unknown privacy level {:?}",
                    entry.level
                ));
            }
        }
        Ok(())
    }
}

impl Derivation {
    /// Checks the format version of a derivation read from disk or an archive.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != DERIVATION_FORMAT {
            return Err(format!(
                "derivation format {} (this cairn reads {DERIVATION_FORMAT})",
                self.format
            ));
        }
        Ok(())
    }
}

/// Checks that `path` is a normal, relative, `/`-separated path that stays
/// inside the directory it is joined to: no leading `/`, no `.` or `..`
/// components, no empty components, no NUL or backslash.
pub fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.starts_with('/') {
        return Err("absolute path");
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("backslash or NUL in path");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("empty path component"),
            "." => return Err("'.' component"),
            ".." => return Err("'..' component"),
            _ => {}
        }
    }
    Ok(())
}

/// Canonical TOML: tables sorted by key, no extra whitespace choices.
pub fn to_canonical<T: Serialize>(value: &T) -> String {
    let v = toml::Value::try_from(value).expect("records always serialize to TOML");
    toml::to_string(&v).expect("TOML values always print")
}

/// Parses a record written by [`to_canonical`].
pub fn from_toml<T: DeserializeOwned>(text: &str) -> Result<T, toml::de::Error> {
    toml::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drv() -> Derivation {
        Derivation {
            format: DERIVATION_FORMAT,
            action: ActionSpec {
                name: "a".into(),
                outputs: BTreeMap::from([(
                    "highly_sensitive".into(),
                    BTreeMap::from([("cohort".into(), "output/input.csv".into())]),
                )]),
            },
            argv: vec!["python:v2".into(), "analysis/x.py".into()],
            image: ImageSpec {
                reference: "python:v2".into(),
                identity: "sha256:00".into(),
            },
            env: BTreeMap::from([("TZ".into(), "UTC".into())]),
            sources: Kind::SourceTree.digest(b""),
            inputs: BTreeMap::new(),
        }
    }

    #[test]
    fn derivation_round_trips_canonically() {
        let d = drv();
        let text = d.to_canonical();
        let back: Derivation = from_toml(&text).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.to_canonical(), text);
        assert_eq!(back.id(), d.id());
    }

    #[test]
    fn any_field_changes_the_id() {
        let d = drv();
        let mut e = d.clone();
        e.argv.push("--x".into());
        assert_ne!(d.id(), e.id());
    }
}
