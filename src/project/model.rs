//! The validated pipeline: what `project.yaml` means once every rule has passed.

use indexmap::IndexMap;

/// A position in `project.yaml` (1-based line and column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// A privacy level of outputs.
#[allow(
    clippy::enum_variant_names,
    reason = "OpenSAFELY's names for the levels"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrivacyLevel {
    HighlySensitive,
    ModeratelySensitive,
    MinimallySensitive,
}

impl PrivacyLevel {
    pub const ALL: [PrivacyLevel; 3] = [
        PrivacyLevel::HighlySensitive,
        PrivacyLevel::ModeratelySensitive,
        PrivacyLevel::MinimallySensitive,
    ];

    /// The name used in `project.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyLevel::HighlySensitive => "highly_sensitive",
            PrivacyLevel::ModeratelySensitive => "moderately_sensitive",
            PrivacyLevel::MinimallySensitive => "minimally_sensitive",
        }
    }

    pub fn parse(s: &str) -> Option<PrivacyLevel> {
        PrivacyLevel::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// A valid pipeline.
#[derive(Clone, Debug)]
pub struct Project {
    /// `version` as Python's `float()` reads it.
    pub version: f64,
    /// Actions in file order, without a legacy user-defined `run_all`.
    pub actions: IndexMap<String, Action>,
}

/// One action of the pipeline.
#[allow(dead_code, reason = "read by the run engine")]
#[derive(Clone, Debug)]
pub struct Action {
    pub name: String,
    /// The raw `run:` string.
    pub run: String,
    /// Image name, e.g. `python` (the part of the first word before `:`).
    pub image: String,
    /// Image tag, e.g. `v2` or `latest`.
    pub tag: String,
    /// The expanded command: argv[0] is `image:tag`, then the arguments,
    /// `--config '<json>'` and the cohortextractor extras.
    pub argv: Vec<String>,
    /// Direct dependencies, as written (duplicates kept).
    pub needs: Vec<String>,
    /// Output patterns by privacy level, levels and labels in file order.
    pub outputs: IndexMap<PrivacyLevel, IndexMap<String, String>>,
    /// Where the action's name is in `project.yaml`.
    pub location: Location,
}

#[allow(dead_code, reason = "read by the run engine")]
impl Action {
    /// Every output pattern with its level, in file order.
    pub fn patterns(&self) -> impl Iterator<Item = (PrivacyLevel, &str)> {
        self.outputs
            .iter()
            .flat_map(|(level, m)| m.values().map(move |p| (*level, p.as_str())))
    }
}
