//! The conformance corpus (`tests/conformance/`, a copy of `shared/conformance/`): every
//! case through `cairn check --format json`, compared with the expected results. All
//! failures are collected and reported together, each with its case name.

use serde_json::Value;

use crate::support;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance");

#[test]
fn conformance_all_cases() {
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/expected.json")).unwrap())
            .unwrap();
    assert_eq!(expected.len(), 123, "the corpus has 123 cases");
    let mut failures = Vec::new();
    for (case, want) in &expected {
        let yaml = std::fs::read(format!("{DIR}/cases/{case}")).unwrap();
        let out = support::check_json(yaml);
        let problems = compare(&out, want);
        if !problems.is_empty() {
            failures.push(format!("{case}:\n  {}", problems.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );
}

/// What differs between a run and a case's expectations.
fn compare(out: &support::Output, want: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Ok(got) = serde_json::from_str::<Value>(&out.stdout) else {
        return vec![format!(
            "stdout is not JSON (exit {}): {}",
            out.code, out.stderr
        )];
    };
    let joined = |key: &str, field: Option<&str>| -> String {
        got[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| match field {
                Some(f) => v[f].as_str().unwrap_or_default().to_string(),
                None => v.as_str().unwrap_or_default().to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let errors = joined("errors", Some("message"));
    match want["status"].as_str() {
        Some("ok") => {
            if out.code != 0 || got["valid"] != true {
                problems.push(format!("expected valid, got exit {}: {errors}", out.code));
                return problems;
            }
            if got["actions"] != want["actions"] {
                problems.push(format!("actions {} != {}", got["actions"], want["actions"]));
            }
            for field in ["argv", "needs", "outputs"] {
                for (action, value) in want[field].as_object().into_iter().flatten() {
                    let actual = &got["plan"][action][field];
                    if actual != value {
                        problems.push(format!("{action}.{field}: {actual} != {value}"));
                    }
                }
            }
            let warnings = joined("warnings", None);
            for needle in want["warnings_contain"].as_array().into_iter().flatten() {
                let needle = needle.as_str().unwrap();
                if !warnings.contains(needle) {
                    problems.push(format!("no warning contains {needle:?}: {warnings:?}"));
                }
            }
        }
        _ => {
            if out.code != 1 || got["valid"] != false {
                problems.push(format!("expected invalid (exit 1), got exit {}", out.code));
            }
            for needle in want["contains"].as_array().into_iter().flatten() {
                let needle = needle.as_str().unwrap();
                if !errors.contains(needle) {
                    problems.push(format!("errors lack {needle:?}: {errors:?}"));
                }
            }
            if got["errors"].as_array().is_none_or(|e| e.is_empty()) {
                problems.push("no errors listed".into());
            }
        }
    }
    problems
}
