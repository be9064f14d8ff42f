//! `expectations:` — required in version 3 exactly, forbidden from 4, ignored before;
//! its `population_size` becomes cohortextractor's `--expectations-population`.

use super::unexpected;
use super::version::Features;
use crate::project::yaml::{Node, Resolved, Value};
use crate::project::{Diagnostic, Location, pynum};

/// The population size used where the version ignores `expectations`.
const DEFAULT_POPULATION: &str = "1000";

/// Checks the section and returns the population size (a decimal integer).
pub fn check(
    features: Features,
    node: Option<&Node>,
    top: Location,
    errors: &mut Vec<Diagnostic>,
) -> Option<String> {
    let node = node.filter(|n| !n.is_null());
    if features.cohortextractor_removed {
        if let Some(node) = node {
            errors.push(Diagnostic::at(
                "Project includes `expectations` section, which is not supported in this \
                 version. This section is only applicable to deprecated cohortextractor \
                 actions; you can safely remove it.",
                node.location,
            ));
            return None;
        }
        return Some(DEFAULT_POPULATION.into());
    }
    if !features.expectations_population {
        return Some(DEFAULT_POPULATION.into());
    }
    let fail = |message: &str, at: Location, errors: &mut Vec<Diagnostic>| {
        errors.push(Diagnostic::at(message, at));
        None
    };
    let Some(node) = node else {
        return fail("Project must include `expectations` section", top, errors);
    };
    let Some(entries) = node.as_map() else {
        return fail(
            "Project `expectations` section must be a dictionary of key/value pairs",
            node.location,
            errors,
        );
    };
    let Some(size) = node.get("population_size") else {
        return fail(
            "Project `expectations` section must include `population_size` section",
            node.location,
            errors,
        );
    };
    if let Some(d) = unexpected(
        entries,
        |k| k.as_str() == Some("population_size"),
        || "project `expectations` section".into(),
    ) {
        errors.push(d);
        return None;
    }
    match python_int(size) {
        Some(n) => Some(n),
        None => fail(
            "Project expectations population size must be a number",
            size.location,
            errors,
        ),
    }
}

/// Python's `int(x)` on a YAML value: booleans, integers, floats (truncated) and
/// integer strings (`" 10_000 "`); `None` where Python raises.
fn python_int(node: &Node) -> Option<String> {
    let Value::Scalar(s) = &node.value else {
        return None;
    };
    match &s.resolved {
        Resolved::Bool(b) => Some(u8::from(*b).to_string()),
        Resolved::Int(i) => Some(i.clone()),
        Resolved::Float(f) => pynum::float_to_int(*f),
        Resolved::Str => pynum::py_int(&s.text),
        Resolved::Null | Resolved::Timestamp { .. } | Resolved::Binary(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::yaml;

    fn check_v(version: f64, src: &str, expected: Result<&str, &str>) {
        let root = yaml::parse(src).unwrap().unwrap();
        let mut errors = Vec::new();
        let got = check(
            Features::for_version(version),
            root.get("expectations"),
            Location::default(),
            &mut errors,
        );
        match expected {
            Ok(n) => assert_eq!((got.as_deref(), errors), (Some(n), vec![]), "{src}"),
            Err(m) => {
                assert_eq!(got, None, "{src}");
                assert_eq!(errors.len(), 1, "{src}");
                assert!(
                    errors[0].message.contains(m),
                    "{src}: {}",
                    errors[0].message
                );
            }
        }
    }

    #[test]
    fn version_3_requires_a_numeric_population() {
        check_v(3.0, "expectations: {population_size: 10000}", Ok("10000"));
        check_v(
            3.0,
            "expectations: {population_size: '10_000'}",
            Ok("10000"),
        );
        check_v(3.0, "expectations: {population_size: 1.5}", Ok("1"));
        check_v(3.0, "expectations: {population_size: true}", Ok("1"));
        check_v(
            3.0,
            "x: 1",
            Err("Project must include `expectations` section"),
        );
        check_v(
            3.0,
            "expectations:",
            Err("Project must include `expectations` section"),
        );
        check_v(
            3.0,
            "expectations: [1]",
            Err("must be a dictionary of key/value pairs"),
        );
        check_v(
            3.0,
            "expectations: {}",
            Err("must include `population_size` section"),
        );
        check_v(
            3.0,
            "expectations: {population_size: 1, extra: 2}",
            Err("Unexpected parameters (extra) in project `expectations` section"),
        );
        for bad in ["lots", "'1.5'", "null", ".inf", ".nan", "[1]"] {
            check_v(
                3.0,
                &format!("expectations: {{population_size: {bad}}}"),
                Err("Project expectations population size must be a number"),
            );
        }
    }

    #[test]
    fn other_versions() {
        check_v(2.0, "expectations: {population_size: 5}", Ok("1000"));
        check_v(3.5, "x: 1", Ok("1000"));
        check_v(4.0, "expectations:", Ok("1000"));
        check_v(
            4.0,
            "expectations: {population_size: 5}",
            Err("Project includes `expectations` section, which is not supported"),
        );
    }
}
