//! `version:` and the feature flags it turns on (`pipeline/features.py`): each rule of
//! the format applies from the version that introduced it, some only up to a last one.

use crate::project::pynum;
use crate::project::yaml::{Node, Resolved, Value};
use crate::project::{Diagnostic, Location};

/// The newest project.yaml format version.
pub const LATEST: f64 = 5.0;

/// Which version-dependent rules apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// v2+: an output path may appear only once in the project.
    pub unique_output_paths: bool,
    /// v3 exactly: `expectations.population_size` is required.
    pub expectations_population: bool,
    /// v4+: no cohortextractor actions, no `expectations`.
    pub cohortextractor_removed: bool,
    /// v5+: a user-defined `run_all` is an error (before: ignored with a warning).
    pub run_all_removed: bool,
    /// v5+: images must name a version, not `:latest`.
    pub latest_tag_removed: bool,
}

impl Features {
    /// A flag is on when `introduced <= version (<= last)`; comparisons are on floats,
    /// so 3.5 is past `expectations` and NaN turns every flag off, as in Python.
    pub fn for_version(v: f64) -> Features {
        Features {
            unique_output_paths: 2.0 <= v,
            expectations_population: 3.0 <= v && v <= 3.0,
            cohortextractor_removed: 4.0 <= v,
            run_all_removed: 5.0 <= v,
            latest_tag_removed: 5.0 <= v,
        }
    }
}

/// Reads `version` like `float(version)` in the reference, within 1..=5 (no lower bound
/// is enforced, as in the reference; above 5 is cairn's clear error for its crash).
pub fn read(node: Option<&Node>, top: Location) -> Result<f64, Diagnostic> {
    let node = match node {
        Some(node) if !node.is_null() => node,
        other => {
            return Err(Diagnostic::new(
                format!(
                    "Project file must have a `version` attribute specifying which version \
                     of the project configuration format it uses (current latest version is {})",
                    LATEST as u32
                ),
                Some(other.map_or(top, |n| n.location)),
            ));
        }
    };
    let not_a_number = || {
        Diagnostic::at(
            format!("`version` must be a number between 1 and {}", LATEST as u32),
            node.location,
        )
    };
    let version = match &node.value {
        Value::Scalar(s) => match &s.resolved {
            Resolved::Bool(b) => f64::from(u8::from(*b)),
            Resolved::Float(f) => *f,
            Resolved::Int(i) => pynum::py_float(i).ok_or_else(not_a_number)?,
            Resolved::Str => pynum::py_float(&s.text).ok_or_else(not_a_number)?,
            Resolved::Null | Resolved::Timestamp { .. } | Resolved::Binary(_) => {
                return Err(not_a_number());
            }
        },
        _ => return Err(not_a_number()),
    };
    if version > LATEST {
        return Err(Diagnostic::at(
            format!(
                "The latest version is v{}, but got v{}",
                LATEST as u32,
                pynum::float_repr(version)
            ),
            node.location,
        ));
    }
    Ok(version)
}

/// The reference's `ProjectWarning` for any version but the latest.
pub fn old_version_warning(version: f64, at: Location) -> Option<Diagnostic> {
    (version != LATEST).then(|| {
        Diagnostic::at(
            format!(
                "Your project file is using an old version ({}); consider updating to version {}",
                pynum::float_repr(version),
                LATEST as u32
            ),
            at,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::yaml;

    fn check(src: &str, expected: Result<f64, &str>) {
        let root = yaml::parse(src).unwrap().unwrap();
        let got = read(root.get("version"), Location::default()).map_err(|d| d.message);
        match (&got, &expected) {
            (Ok(a), Ok(b)) if a.is_nan() && b.is_nan() => {}
            (Err(a), Err(b)) => assert!(a.contains(b), "{src}: {a:?} lacks {b:?}"),
            _ => assert_eq!(got, expected.map_err(String::from), "{src}"),
        }
    }

    #[test]
    fn version_is_read_like_python_float() {
        check("version: 3", Ok(3.0));
        check("version: '3.0'", Ok(3.0));
        check("version: \" 3 \"", Ok(3.0));
        check("version: 3.5", Ok(3.5));
        check("version: true", Ok(1.0));
        check("version: false", Ok(0.0));
        check("version: -1", Ok(-1.0));
        check("version: 0x3", Ok(3.0));
        check("version: '1e0'", Ok(1.0));
        check("version: .nan", Ok(f64::NAN));
        check("version: 'nan'", Ok(f64::NAN));
        check(
            "foo: 1",
            Err("Project file must have a `version` attribute"),
        );
        check(
            "version:",
            Err("Project file must have a `version` attribute"),
        );
        check(
            "version: three",
            Err("`version` must be a number between 1 and 5"),
        );
        check(
            "version: [5]",
            Err("`version` must be a number between 1 and 5"),
        );
        check(
            "version: yes",
            Err("`version` must be a number between 1 and 5"),
        );
        check("version: 6", Err("The latest version is v5, but got v6.0"));
        check(
            "version: .inf",
            Err("The latest version is v5, but got vinf"),
        );
        check("version: 5.5", Err("but got v5.5"));
    }

    #[test]
    fn feature_table() {
        let f = |v| Features::for_version(v);
        assert!(!f(1.0).unique_output_paths && f(2.0).unique_output_paths);
        assert!(f(2.5).unique_output_paths);
        assert!(f(3.0).expectations_population && !f(3.5).expectations_population);
        assert!(!f(2.9).expectations_population && !f(4.0).expectations_population);
        assert!(f(4.0).cohortextractor_removed && !f(3.9).cohortextractor_removed);
        assert!(f(5.0).run_all_removed && f(5.0).latest_tag_removed);
        assert!(!f(4.5).run_all_removed);
        assert_eq!(f(f64::NAN), Features::default());
    }

    #[test]
    fn old_version_warning_text() {
        let w = old_version_warning(3.0, Location::default()).unwrap();
        assert_eq!(
            w.message,
            "Your project file is using an old version (3.0); consider updating to version 5"
        );
        assert!(old_version_warning(5.0, Location::default()).is_none());
    }
}
