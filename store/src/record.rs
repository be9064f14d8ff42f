//! Derivation and realisation records, and their canonical TOML encoding.
//!
//! A record is encoded by converting it to a TOML value (whose tables are
//! sorted maps) and printing that, so the bytes depend only on the content,
//! never on field declaration order or map insertion order.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, Kind};

/// The format version written into every derivation.
pub const DERIVATION_FORMAT: u32 = 2;
/// The format version written into every realisation.
pub const REALISATION_FORMAT: u32 = 2;
/// The format version of a derivation's path-set record.
pub const PATH_SETS_FORMAT: u32 = 1;
/// How many path sets a derivation keeps, most recent first.
pub const MAX_PATH_SETS: usize = 8;

/// Privacy levels of outputs, as named in `project.yaml`.
pub const PRIVACY_LEVELS: [&str; 3] = [
    "highly_sensitive",
    "moderately_sensitive",
    "minimally_sensitive",
];

/// Everything known before an action runs that can change its outputs, and
/// nothing that cannot. Its id is the BLAKE3 (context `cairn derivation v2`)
/// of its canonical TOML. What the action then looks at among its sources is
/// its [`ObservationSet`], the second level of the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    pub format: u32,
    pub action: ActionSpec,
    /// The expanded command, as the runner would execute it.
    pub argv: Vec<String>,
    pub image: ImageSpec,
    /// The environment the action sees, fixed by the executor.
    pub env: BTreeMap<String, String>,
    /// Which sources are placed in the workspace.
    pub visible: Visible,
    /// For each action in `needs`: the digest of its output manifest.
    pub inputs: BTreeMap<String, Digest>,
}

/// Which of the project's source files an action's workspace holds: every
/// visible file (`visible = "all"`), or those matching the patterns declared
/// in `cairn.toml` (`visible = ["analysis/*.do"]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Visible {
    All(AllSources),
    Declared(Vec<String>),
}

/// The one value of [`Visible::All`], written `"all"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllSources {
    All,
}

/// What a path of the workspace held when the action started, as far as the
/// action looked at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Observed {
    /// A regular file with this content (it was opened, read, executed,
    /// stat'ed or probed).
    File(Digest),
    /// The same, executable.
    Executable(Digest),
    /// A directory (stat'ed or looked up, not listed).
    Dir,
    /// A directory whose sorted entry names hash to this (it was listed).
    Listing(Digest),
    /// Nothing (the action looked for it and found nothing).
    Absent,
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::File(d) => write!(f, "file {d}"),
            Observed::Executable(d) => write!(f, "file+x {d}"),
            Observed::Dir => f.write_str("dir"),
            Observed::Listing(d) => write!(f, "dir {d}"),
            Observed::Absent => f.write_str("absent"),
        }
    }
}

impl FromStr for Observed {
    type Err = String;
    fn from_str(s: &str) -> Result<Observed, String> {
        let digest = |d: &str| {
            d.parse::<Digest>()
                .map_err(|e| format!("{s:?}: bad digest: {e}"))
        };
        match s.split_once(' ') {
            None if s == "dir" => Ok(Observed::Dir),
            None if s == "absent" => Ok(Observed::Absent),
            Some(("file", d)) => Ok(Observed::File(digest(d)?)),
            Some(("file+x", d)) => Ok(Observed::Executable(digest(d)?)),
            Some(("dir", d)) => Ok(Observed::Listing(digest(d)?)),
            _ => Err(format!(
                "{s:?} is not an observation (file <digest>, file+x <digest>, dir, dir <digest>, absent)"
            )),
        }
    }
}

impl Serialize for Observed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Observed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Observed, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How an action looked at a path: at what it held (`Read`), or at the
/// names in it (`List`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Look {
    Read,
    List,
}

/// What an action saw of its workspace's sources, path by path: the second
/// level of its cache key. Paths are `/`-separated and relative to the
/// workspace (`""` is the workspace itself).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservationSet {
    /// Paths opened, executed, stat'ed or probed.
    pub read: BTreeMap<String, Observed>,
    /// Directories listed.
    pub listed: BTreeMap<String, Observed>,
    /// Set when the action could not be traced: the set then holds every
    /// visible file and directory instead of what it looked at.
    #[serde(default, skip_serializing_if = "is_false")]
    pub untraced: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ObservationSet {
    /// The paths, without their values.
    pub fn path_set(&self) -> PathSet {
        PathSet {
            read: self.read.keys().cloned().collect(),
            listed: self.listed.keys().cloned().collect(),
            untraced: self.untraced,
        }
    }

    /// Every observation, as `(path, how, what)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Look, Observed)> {
        self.read
            .iter()
            .map(|(p, o)| (p.as_str(), Look::Read, *o))
            .chain(
                self.listed
                    .iter()
                    .map(|(p, o)| (p.as_str(), Look::List, *o)),
            )
    }
}

/// An observation set without its values: which paths an action looked at,
/// and how. Stored per derivation, so that the values can be read off the
/// current sources before anything runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PathSet {
    pub read: Vec<String>,
    pub listed: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub untraced: bool,
}

/// The path sets seen for one derivation, most recent first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathSets {
    pub format: u32,
    pub derivation: Digest,
    pub sets: Vec<PathSet>,
}

impl PathSets {
    /// Puts `set` first (moving it if it is there) and drops the oldest
    /// beyond [`MAX_PATH_SETS`]. Returns whether anything changed.
    pub fn promote(&mut self, set: PathSet) -> bool {
        if self.sets.first() == Some(&set) {
            return false;
        }
        self.sets.retain(|s| *s != set);
        self.sets.insert(0, set);
        self.sets.truncate(MAX_PATH_SETS);
        true
    }

    /// Adds the sets of `other` that are not here, after these (a merge of
    /// two stores' knowledge, the local order first).
    pub fn merge(&mut self, other: &PathSets) {
        for set in &other.sets {
            if !self.sets.contains(set) {
                self.sets.push(set.clone());
            }
        }
        self.sets.truncate(MAX_PATH_SETS);
    }

    /// Checks what a record from disk or an archive must satisfy.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != PATH_SETS_FORMAT {
            return Err(format!(
                "path-set format {} (this cairn reads {PATH_SETS_FORMAT})",
                self.format
            ));
        }
        if self.sets.len() > MAX_PATH_SETS {
            return Err(format!(
                "{} path sets (at most {MAX_PATH_SETS})",
                self.sets.len()
            ));
        }
        for set in &self.sets {
            for p in set.read.iter().chain(&set.listed) {
                if !p.is_empty() {
                    check_relative_path(p).map_err(|why| format!("path {p:?}: {why}"))?;
                }
            }
        }
        Ok(())
    }
}

/// The realisation key of derivation `drv` observed as `observations`.
///
/// The observation set is hashed in a canonical binary form rather than as
/// TOML: a no-op run computes one key per action, and this is on its path.
/// Entries come in path order (the maps are sorted), each tagged with how
/// the path was looked at, its length-prefixed bytes and its value.
pub fn realisation_key(drv: &Digest, observations: &ObservationSet) -> Digest {
    let mut h = Kind::Realisation.hasher();
    h.update(drv.as_bytes());
    for (look, map) in [(b'r', &observations.read), (b'l', &observations.listed)] {
        for (path, value) in map {
            h.update(&[look]);
            h.update(&(path.len() as u64).to_le_bytes());
            h.update(path.as_bytes());
            match value {
                Observed::File(d) => h.update(b"f").update(d.as_bytes()),
                Observed::Executable(d) => h.update(b"x").update(d.as_bytes()),
                Observed::Dir => h.update(b"d"),
                Observed::Listing(d) => h.update(b"L").update(d.as_bytes()),
                Observed::Absent => h.update(b"a"),
            };
        }
        h.update(b"\0");
    }
    h.update(&[u8::from(observations.untraced)]);
    h.finalize().into()
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
    /// What the action saw of its sources; with `derivation`, the key this
    /// realisation is filed under.
    pub observations: ObservationSet,
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
    /// `NAME:BASE64` ed25519 signatures of [`Realisation::signed_bytes`]:
    /// how a realisation from another machine earns trust. Not part of the
    /// key, nor of what is signed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
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

    /// What a signature signs: the canonical record without its signatures.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.signatures.clear();
        unsigned.to_canonical().into_bytes()
    }

    /// The key this realisation is filed under: its derivation and what
    /// the action observed.
    pub fn key(&self) -> Digest {
        realisation_key(&self.derivation, &self.observations)
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
        for (path, _, _) in self.observations.iter() {
            if !path.is_empty() {
                check_relative_path(path).map_err(|why| format!("observed {path:?}: {why}"))?;
            }
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
            visible: Visible::All(AllSources::All),
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

#[cfg(test)]
mod observation_tests {
    use super::*;

    #[test]
    fn observations_print_and_parse() {
        let d = Kind::Object.digest(b"x");
        for o in [
            Observed::File(d),
            Observed::Executable(d),
            Observed::Dir,
            Observed::Listing(d),
            Observed::Absent,
        ] {
            assert_eq!(o.to_string().parse::<Observed>().unwrap(), o);
        }
        assert!("file nothex".parse::<Observed>().is_err());
        assert!("symlink".parse::<Observed>().is_err());
    }

    #[test]
    fn the_key_depends_on_every_observation() {
        let drv = Kind::Derivation.digest(b"d");
        let mut o = ObservationSet::default();
        o.read
            .insert("a.py".into(), Observed::File(Kind::Object.digest(b"1")));
        let k1 = realisation_key(&drv, &o);
        o.read.insert("b.py".into(), Observed::Absent);
        let k2 = realisation_key(&drv, &o);
        o.listed
            .insert("".into(), Observed::Listing(Kind::Listing.digest(b"")));
        let k3 = realisation_key(&drv, &o);
        assert!(k1 != k2 && k2 != k3 && k1 != k3);
        let back: ObservationSet = from_toml(&to_canonical(&o)).unwrap();
        assert_eq!(realisation_key(&drv, &back), k3);
    }

    #[test]
    fn path_sets_keep_the_most_recent_first_and_are_bounded() {
        let mut sets = PathSets {
            format: PATH_SETS_FORMAT,
            derivation: Kind::Derivation.digest(b"d"),
            sets: Vec::new(),
        };
        let set = |n: usize| PathSet {
            read: vec![format!("f{n}")],
            ..PathSet::default()
        };
        for n in 0..MAX_PATH_SETS + 3 {
            assert!(sets.promote(set(n)));
        }
        assert_eq!(sets.sets.len(), MAX_PATH_SETS);
        assert_eq!(sets.sets[0], set(MAX_PATH_SETS + 2));
        assert!(!sets.promote(set(MAX_PATH_SETS + 2)));
        assert!(sets.promote(set(5)));
        assert_eq!(sets.sets[0], set(5));
        assert_eq!(sets.sets.len(), MAX_PATH_SETS);
    }
}
