//! An action's `outputs:` — privacy levels, labels and path patterns
//! (`Outputs.build` and `validate_glob_pattern` in the reference).

use indexmap::IndexMap;

use super::unexpected;
use crate::project::yaml::Node;
use crate::project::{Diagnostic, Location, PrivacyLevel, paths};

/// File types a moderately_sensitive output may have (`LEVEL4_FILE_TYPES`).
const LEVEL4_FILE_TYPES: [&str; 11] = [
    ".csv", ".jpg", ".jpeg", ".png", ".svg", ".svgz", ".html", ".txt", ".log", ".json", ".md",
];

/// One declared output.
#[derive(Clone, Debug)]
pub struct Output {
    pub label: String,
    pub pattern: String,
    pub location: Location,
}

/// Valid outputs: levels in file order, each with its outputs in file order.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    pub levels: IndexMap<PrivacyLevel, Vec<Output>>,
}

impl Outputs {
    /// Every pattern in the reference's order (highly, moderately, minimally), which is
    /// what decides the reported duplicate and the cohortextractor output directory.
    pub fn patterns_by_level(&self) -> impl Iterator<Item = (PrivacyLevel, &Output)> {
        PrivacyLevel::ALL.into_iter().flat_map(move |level| {
            self.levels
                .get(&level)
                .into_iter()
                .flatten()
                .map(move |o| (level, o))
        })
    }

    /// Levels present and not null, as the reference counts them (`highly_sensitive: {}`
    /// counts).
    pub fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// Whether `level` has at least one output (Python truthiness of the mapping).
    pub fn has_outputs(&self, level: PrivacyLevel) -> bool {
        self.levels.get(&level).is_some_and(|o| !o.is_empty())
    }
}

/// Checks an `outputs` mapping; `None` if anything in it is wrong.
pub fn check(action: &str, node: &Node, errors: &mut Vec<Diagnostic>) -> Option<Outputs> {
    let entries = node
        .as_map()
        .expect("the caller checked `outputs` is a mapping");
    let given: Vec<_> = entries
        .iter()
        .filter(|e| !e.value.is_null())
        .filter_map(|e| Some((PrivacyLevel::parse(e.key.as_str()?)?, e)))
        .collect();
    if given.is_empty() {
        errors.push(Diagnostic::at(
            "must specify at least one output of: highly_sensitive, moderately_sensitive, \
             minimally_sensitive",
            node.location,
        ));
        return None;
    }
    let before = errors.len();
    let known = |key: &Node| key.as_str().and_then(PrivacyLevel::parse).is_some();
    if let Some(d) = unexpected(entries, known, || {
        format!("`outputs` section for action {action}")
    }) {
        errors.push(d);
    }
    let mut outputs = Outputs::default();
    for (level, entry) in given {
        let Some(items) = entry.value.as_map() else {
            errors.push(Diagnostic::at(
                format!(
                    "`{}` section for action {action} must be a dictionary of key/value pairs",
                    level.as_str()
                ),
                entry.value.location,
            ));
            continue;
        };
        let mut level_outputs = Vec::new();
        for item in items {
            let label = item.key.key_text();
            let Some(pattern) = item.value.as_str() else {
                errors.push(Diagnostic::at(
                    format!("`{label}` output for action {action} must be a string"),
                    item.value.location,
                ));
                continue;
            };
            if let Some(reason) = pattern_problem(pattern, level) {
                errors.push(Diagnostic::at(
                    format!("Output path {pattern} is invalid: {reason}"),
                    item.value.location,
                ));
                continue;
            }
            level_outputs.push(Output {
                label: label.to_string(),
                pattern: pattern.to_string(),
                location: item.value.location,
            });
        }
        outputs.levels.insert(level, level_outputs);
    }
    (errors.len() == before).then_some(outputs)
}

/// Why `pattern` is not a valid output pattern at `level`, in the reference's order.
pub fn pattern_problem(pattern: &str, level: PrivacyLevel) -> Option<String> {
    if pattern.contains('\\') {
        return Some("contains back slashes (use forward slashes only)".into());
    }
    for expr in ["**", "?", "["] {
        if pattern.contains(expr) {
            return Some(format!(
                "contains '{expr}' (only the * wildcard character is supported)"
            ));
        }
    }
    let suffix = paths::suffix(pattern);
    if suffix.is_empty() || suffix.ends_with('*') {
        return Some("output paths must have a file type extension at the end".into());
    }
    if level == PrivacyLevel::ModeratelySensitive && !LEVEL4_FILE_TYPES.contains(&suffix) {
        return Some(format!(
            "{} is not an allowed file type for moderately_sensitive outputs",
            paths::pure_str(pattern)
        ));
    }
    if !paths::is_normal(pattern) {
        return Some("is not in standard form (contains double slashes or '..' elements)".into());
    }
    if pattern == "metadata" || pattern.starts_with("metadata/") {
        return Some("should not include the metadata directory".into());
    }
    if paths::is_absolute(pattern) {
        return Some("is an absolute path".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use PrivacyLevel::*;

    fn check(pattern: &str, level: PrivacyLevel, expected: Option<&str>) {
        assert_eq!(
            pattern_problem(pattern, level).as_deref(),
            expected,
            "{pattern} at {level:?}"
        );
    }

    #[test]
    fn pattern_rules_in_reference_order() {
        let ext = Some("output paths must have a file type extension at the end");
        let form = Some("is not in standard form (contains double slashes or '..' elements)");
        check("output/a.csv", HighlySensitive, None);
        check("foo/bar/*.txt", ModeratelySensitive, None);
        check("out/a*/b.csv", ModeratelySensitive, None);
        check("out/ x.csv", HighlySensitive, None);
        check("~/x.csv", HighlySensitive, None);
        check("out/x.dta", MinimallySensitive, None);
        check("out/x.csv.gz", HighlySensitive, None);
        check(
            "a\\b.csv",
            HighlySensitive,
            Some("contains back slashes (use forward slashes only)"),
        );
        check(
            "a/**/b.csv",
            HighlySensitive,
            Some("contains '**' (only the * wildcard character is supported)"),
        );
        check(
            "a?.csv",
            HighlySensitive,
            Some("contains '?' (only the * wildcard character is supported)"),
        );
        check(
            "[a].csv",
            HighlySensitive,
            Some("contains '[' (only the * wildcard character is supported)"),
        );
        check("out/", HighlySensitive, ext);
        check("out/x", HighlySensitive, ext);
        check("out/*", HighlySensitive, ext);
        check("out/x.*", HighlySensitive, ext);
        check("", HighlySensitive, ext);
        check("metadata", HighlySensitive, ext);
        check(
            "out/x.CSV",
            ModeratelySensitive,
            Some("out/x.CSV is not an allowed file type for moderately_sensitive outputs"),
        );
        check(
            "out//x.pdf",
            ModeratelySensitive,
            Some("out/x.pdf is not an allowed file type for moderately_sensitive outputs"),
        );
        check("a//b.csv", HighlySensitive, form);
        check("a/../b.csv", HighlySensitive, form);
        check("./a.csv", HighlySensitive, form);
        check(
            "metadata/x.csv",
            HighlySensitive,
            Some("should not include the metadata directory"),
        );
        check("/abs.csv", HighlySensitive, Some("is an absolute path"));
        check("c:/x.csv", HighlySensitive, Some("is an absolute path"));
    }
}
